//! Exact binomial and sign tests, Wilson intervals, McNemar, and the sign test's power.

use statrs::distribution::{ContinuousCDF, Normal};
use statrs::function::gamma::ln_gamma;

/// Binomial probability mass `P(X = k)` for `X ~ Bin(n, p)`.
pub fn binom_pmf(k: u64, n: u64, p: f64) -> f64 {
    if k > n {
        return 0.0;
    }
    if p <= 0.0 {
        return if k == 0 { 1.0 } else { 0.0 };
    }
    if p >= 1.0 {
        return if k == n { 1.0 } else { 0.0 };
    }
    let (n_f, k_f) = (n as f64, k as f64);
    let ln_c = ln_gamma(n_f + 1.0) - ln_gamma(k_f + 1.0) - ln_gamma(n_f - k_f + 1.0);
    (ln_c + k_f * p.ln() + (n_f - k_f) * (1.0 - p).ln()).exp()
}

/// Exact two-sided binomial test of `k` successes in `n` trials against `p0`, as
/// `scipy.stats.binomtest` computes it: the total probability of outcomes no more likely than
/// the one observed (relative tolerance 1e-7). `n = 0` gives 1.
pub fn binom_test_two_sided(k: u64, n: u64, p0: f64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    if (k as f64 - p0 * n as f64).abs() < 1e-12 {
        return 1.0;
    }
    let d = binom_pmf(k, n, p0) * (1.0 + 1e-7);
    let total: f64 = (0..=n)
        .map(|i| binom_pmf(i, n, p0))
        .filter(|&q| q <= d)
        .sum();
    total.min(1.0)
}

/// Exact two-sided sign test on `wins` against `losses` (ties excluded).
pub fn sign_test(wins: u64, losses: u64) -> f64 {
    binom_test_two_sided(wins, wins + losses, 0.5)
}

/// Wilson score interval for `k` of `n` at level `1 − alpha` (statsmodels `method="wilson"`).
pub fn wilson(k: f64, n: f64, alpha: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (f64::NAN, f64::NAN);
    }
    let z = Normal::standard().inverse_cdf(1.0 - alpha / 2.0);
    let p = k / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    (centre - half, centre + half)
}

/// Exact McNemar test on the discordant counts `b`, `c` (statsmodels `mcnemar(exact=True)`).
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    let lo = b.min(c);
    let cdf: f64 = (0..=lo).map(|i| binom_pmf(i, n, 0.5)).sum();
    (2.0 * cdf).min(1.0)
}

/// Exact power of the two-sided sign test (scipy's `binomtest` p-value against ½) at `level`
/// with `n` decisive items when the true win rate is `w`.
pub fn sign_test_power(n: u64, w: f64, level: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    (0..=n)
        .filter(|&k| binom_test_two_sided(k, n, 0.5) <= level)
        .map(|k| binom_pmf(k, n, w))
        .sum::<f64>()
        .min(1.0)
}

/// Items (decisive, per strategy pair) needed to detect a true win rate `w` with the exact
/// sign test at power `target` when `m` pairs are Holm-corrected at `alpha`. Uses Holm's first
/// step (`alpha / m`), the level a pair must reach when it is the family's smallest p-value, so
/// the figure is conservative. The smallest such n up to `max_n`; None if not reached.
pub fn items_needed(w: f64, alpha: f64, m: usize, target: f64, max_n: u64) -> Option<u64> {
    let level = alpha / m.max(1) as f64;
    (1..=max_n).find(|&n| sign_test_power(n, w, level) >= target)
}
