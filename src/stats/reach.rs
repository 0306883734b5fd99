//! What a design can decide before anything is spent: the smallest p-value an exact test
//! can reach with n independent units, whether a Holm-corrected family can be rejected at
//! all, and the power of the exact tests for a stated effect.
//!
//! Both exact tests used for primary decisions (the Wilcoxon signed-rank test over seeds and
//! the sign test over trajectories) have the smallest two-sided p of 2 / 2ⁿ, reached when every
//! unit points the same way. Holm over m hypotheses that all reach it adjusts each to m · 2/2ⁿ,
//! so "every comparison significant" needs m · 2/2ⁿ < α.

use rand::RngExt;

/// The smallest two-sided p of an exact sign or signed-rank test with `n` units.
pub fn min_p(n: usize) -> f64 {
    if n == 0 {
        1.0
    } else {
        (2.0 * 0.5f64.powi(n as i32)).min(1.0)
    }
}

/// Whether `m` Holm-corrected hypotheses can all be rejected at `alpha` with `n` units each.
pub fn holm_reachable(n: usize, m: usize, alpha: f64) -> bool {
    m.max(1) as f64 * min_p(n) < alpha
}

/// The smallest n at which [`holm_reachable`] holds (at most 64).
pub fn units_needed(m: usize, alpha: f64) -> Option<usize> {
    (1..=64).find(|&n| holm_reachable(n, m, alpha))
}

/// Power of the exact two-sided Wilcoxon signed-rank test at `level` with `n` paired units
/// whose differences are normal with mean `effect` and SD 1 (a standardised effect), by
/// `sims` Monte Carlo draws from `rng`.
pub fn wilcoxon_power<R: rand::Rng>(
    n: usize,
    effect: f64,
    level: f64,
    sims: usize,
    rng: &mut R,
) -> f64 {
    if n == 0 || sims == 0 || min_p(n) > level {
        return 0.0;
    }
    let zeros = vec![0.0; n];
    let hits = (0..sims)
        .filter(|_| {
            let d: Vec<f64> = (0..n).map(|_| effect + normal(rng)).collect();
            crate::stats::wilcoxon_signed_rank(&d, &zeros).pvalue <= level
        })
        .count();
    hits as f64 / sims as f64
}

/// A standard normal draw (Box–Muller; two uniforms per draw, so the stream's use is fixed).
fn normal<R: rand::Rng>(rng: &mut R) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachability_matches_the_counts_in_the_issue() {
        // 4 strategies: 6 pairs; 6 strategies: 15 pairs (α = 0.05)
        assert_eq!(units_needed(6, 0.05), Some(8));
        assert_eq!(units_needed(15, 0.05), Some(10));
        assert!(!holm_reachable(5, 6, 0.05));
        assert_eq!(min_p(5), 0.0625);
    }

    #[test]
    fn power_grows_with_effect_and_is_zero_when_unreachable() {
        let mut rng = crate::numeric::seed::stream(0, "test/power");
        let lo = wilcoxon_power(10, 0.2, 0.05, 400, &mut rng);
        let hi = wilcoxon_power(10, 1.5, 0.05, 400, &mut rng);
        assert!(hi > 0.9 && lo < 0.3, "{lo} {hi}");
        assert_eq!(wilcoxon_power(4, 3.0, 0.05, 100, &mut rng), 0.0);
    }
}
