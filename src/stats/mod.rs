//! Statistics a reviewer can check: exact binomial / sign tests, Wilson intervals, multiplicity
//! corrections, clustered inference (design effects, two-stage cluster bootstrap), TOST
//! equivalence, agreement (Cohen's κ, Fleiss' κ, Krippendorff's α), McNemar, paired rank tests,
//! Bradley–Terry fits, one module per topic. Pure functions, no
//! I/O; each is checked against scipy / statsmodels / krippendorff reference values stored in
//! `tests/fixtures/stats/reference.json` (with the script and versions that produced them).

pub mod agreement;
pub mod binomial;
pub mod bradley_terry;
pub mod cluster;
pub mod contingency;
pub mod equivalence;
pub mod multiplicity;
pub mod paired;
pub mod reach;
pub mod regression;

pub use agreement::*;
pub use binomial::*;
pub use bradley_terry::*;
pub use cluster::*;
pub use contingency::*;
pub use equivalence::*;
pub use multiplicity::*;
pub use paired::*;
pub use reach::*;
pub use regression::*;

/// Percentile interval (1 − α) of bootstrap draws: non-finite draws dropped, the
/// order statistic nearest each tail quantile; NaNs when no draw is finite.
pub fn percentile_ci(mut v: Vec<f64>, alpha: f64) -> (f64, f64) {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((p * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
    (q(alpha / 2.0), q(1.0 - alpha / 2.0))
}

/// A significance level must lie strictly between 0 and 1 (0 would make every power search
/// loop forever, NaN every comparison false).
pub fn check_alpha(alpha: f64) -> Result<f64, String> {
    if alpha > 0.0 && alpha < 1.0 {
        Ok(alpha)
    } else {
        Err(format!("must be in (0, 1), got {alpha}"))
    }
}

/// Bootstrap resamples: at least 1, at most 10⁷.
pub fn check_resamples(n: usize) -> Result<usize, String> {
    if (1..=10_000_000).contains(&n) {
        Ok(n)
    } else {
        Err(format!("must be between 1 and 10000000, got {n}"))
    }
}

/// A cost cap is a finite number of USD ≥ 0.
pub fn check_cost_cap(usd: f64) -> Result<f64, String> {
    if usd >= 0.0 && usd.is_finite() {
        Ok(usd)
    } else {
        Err(format!("must be a finite number of USD ≥ 0, got {usd}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pmf_sums_to_one() {
        let s: f64 = (0..=30).map(|k| binom_pmf(k, 30, 0.3)).sum();
        assert!((s - 1.0).abs() < 1e-12);
    }

    #[test]
    fn identical_raters_have_kappa_one() {
        let a = [0, 1, 2, 1, 0, 2];
        assert!((cohen_kappa(&a, &a, 3) - 1.0).abs() < 1e-15);
    }
}
