//! Equivalence: two one-sided tests (TOST, Schuirmann 1987) on a mean, as statsmodels'
//! `DescrStatsW(x).ttost_mean(low, upp)` and `ttost_paired(x, y, low, upp)`, and the
//! three-way verdict a reviewer reads: *equivalent* (TOST rejects: the mean lies inside the
//! declared margins), *different* (the difference test rejects and TOST does not), or
//! *inconclusive* (neither). Non-significance alone is never read as equivalence.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// A TOST result: p = max of the two one-sided p-values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tost {
    pub low: f64,
    pub high: f64,
    pub mean: f64,
    pub df: f64,
    /// One-sided p for H0: mean ≤ low.
    pub p_low: f64,
    /// One-sided p for H0: mean ≥ high.
    pub p_high: f64,
    pub p: f64,
}

/// TOST of the mean of `x` against the margins (low, high), one-sample t (df = n − 1).
/// With n < 2 or zero variance the p-values are NaN: a handful of identical values (four tied
/// trajectories, say) is no evidence of equivalence, although the t statistic would be ±∞.
pub fn tost_mean(x: &[f64], low: f64, high: f64) -> Tost {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let nan = Tost {
        low,
        high,
        mean,
        df: n - 1.0,
        p_low: f64::NAN,
        p_high: f64::NAN,
        p: f64::NAN,
    };
    if x.len() < 2 {
        return nan;
    }
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let se = (var / n).sqrt();
    if se.is_nan() || se <= 0.0 {
        return nan;
    }
    let t = StudentsT::new(0.0, 1.0, n - 1.0).expect("df ≥ 1");
    let (p_low, p_high) = (
        t.sf((mean - low) / se),   // upper tail: reject mean ≤ low
        t.cdf((mean - high) / se), // lower tail: reject mean ≥ high
    );
    Tost {
        p_low,
        p_high,
        p: p_low.max(p_high),
        ..nan
    }
}

/// Paired TOST of the mean difference x − y (statsmodels `ttost_paired`).
pub fn tost_paired(x: &[f64], y: &[f64], low: f64, high: f64) -> Tost {
    let d: Vec<f64> = x.iter().zip(y).map(|(a, b)| a - b).collect();
    tost_mean(&d, low, high)
}

/// What an equivalence analysis concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EquivalenceVerdict {
    Equivalent,
    Different,
    Inconclusive,
}

impl EquivalenceVerdict {
    /// From the TOST p and the difference test's p at level α (NaN counts as not rejecting).
    pub fn decide(p_tost: f64, p_difference: f64, alpha: f64) -> EquivalenceVerdict {
        if p_tost < alpha {
            EquivalenceVerdict::Equivalent
        } else if p_difference < alpha {
            EquivalenceVerdict::Different
        } else {
            EquivalenceVerdict::Inconclusive
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EquivalenceVerdict::Equivalent => "equivalent",
            EquivalenceVerdict::Different => "different",
            EquivalenceVerdict::Inconclusive => "inconclusive",
        }
    }
}

/// A win-rate margin: 0 ≤ low < ½ < high ≤ 1.
pub fn check_win_margin(low: f64, high: f64) -> Result<(f64, f64), String> {
    if (0.0..0.5).contains(&low) && high > 0.5 && high <= 1.0 {
        Ok((low, high))
    } else {
        Err(format!(
            "a win-rate margin needs 0 ≤ low < 0.5 < high ≤ 1, got [{low}, {high}]"
        ))
    }
}

/// A difference margin δ: finite and > 0 (the equivalence region is (−δ, δ)).
pub fn check_delta(delta: f64) -> Result<f64, String> {
    if delta > 0.0 && delta.is_finite() {
        Ok(delta)
    } else {
        Err(format!("must be a finite number > 0, got {delta}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tight_data_inside_is_equivalent_and_outside_is_not() {
        let inside: Vec<f64> = (0..20)
            .map(|i| 0.5 + 0.01 * ((i % 5) as f64 - 2.0))
            .collect();
        let t = tost_mean(&inside, 0.4, 0.6);
        assert!(t.p < 1e-6, "{t:?}");
        let outside: Vec<f64> = inside.iter().map(|x| x + 0.2).collect();
        assert!(tost_mean(&outside, 0.4, 0.6).p > 0.99);
        assert_eq!(
            EquivalenceVerdict::decide(0.2, 0.01, 0.05),
            EquivalenceVerdict::Different
        );
        assert_eq!(
            EquivalenceVerdict::decide(f64::NAN, f64::NAN, 0.05),
            EquivalenceVerdict::Inconclusive
        );
        // identical values: no evidence either way
        assert!(tost_mean(&[0.5; 4], 0.4, 0.6).p.is_nan());
    }

    #[test]
    fn margins_are_checked() {
        assert!(check_win_margin(0.4, 0.6).is_ok());
        assert!(check_win_margin(0.5, 0.6).is_err());
        assert!(check_win_margin(-0.1, 0.6).is_err());
        assert!(check_win_margin(0.4, 1.2).is_err());
        assert!(check_delta(0.0).is_err());
        assert!(check_delta(f64::NAN).is_err());
    }
}
