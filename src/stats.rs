//! Statistics a reviewer can check: exact binomial / sign tests, Wilson intervals, multiplicity
//! corrections, agreement (Cohen's κ, Fleiss' κ, Krippendorff's α), McNemar. Pure functions, no
//! I/O; each is checked against scipy / statsmodels / krippendorff reference values stored in
//! `tests/fixtures/stats/reference.json` (with the script and versions that produced them).

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

fn ascending(p: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    idx
}

/// Holm–Bonferroni step-down adjusted p-values (in input order).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let idx = ascending(p);
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in idx.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// Benjamini–Hochberg step-up adjusted p-values (in input order).
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let idx = ascending(p);
    let mut out = vec![0.0; m];
    let mut running: f64 = 1.0;
    for (rank, &i) in idx.iter().enumerate().rev() {
        running = running.min(m as f64 / (rank + 1) as f64 * p[i]);
        out[i] = running.min(1.0);
    }
    out
}

/// Cohen's κ of two raters over `n_cat` categories (NaN when chance agreement is 1).
pub fn cohen_kappa(a: &[usize], b: &[usize], n_cat: usize) -> f64 {
    let n = a.len() as f64;
    if a.is_empty() {
        return f64::NAN;
    }
    let mut ra = vec![0.0; n_cat];
    let mut rb = vec![0.0; n_cat];
    let mut agree = 0.0;
    for (&x, &y) in a.iter().zip(b) {
        ra[x] += 1.0;
        rb[y] += 1.0;
        if x == y {
            agree += 1.0;
        }
    }
    let po = agree / n;
    let pe: f64 = ra.iter().zip(&rb).map(|(x, y)| x * y).sum::<f64>() / (n * n);
    if (1.0 - pe).abs() < 1e-15 {
        return f64::NAN;
    }
    (po - pe) / (1.0 - pe)
}

/// Fleiss' κ from an items × categories table of rating counts (equal raters per item).
pub fn fleiss_kappa(counts: &[Vec<f64>]) -> f64 {
    let n_items = counts.len() as f64;
    if counts.is_empty() {
        return f64::NAN;
    }
    let raters: f64 = counts[0].iter().sum();
    let n_cat = counts[0].len();
    let mut pj = vec![0.0; n_cat];
    let mut p_bar = 0.0;
    for row in counts {
        for (j, c) in row.iter().enumerate() {
            pj[j] += c / (n_items * raters);
        }
        p_bar +=
            (row.iter().map(|c| c * c).sum::<f64>() - raters) / (raters * (raters - 1.0)) / n_items;
    }
    let pe: f64 = pj.iter().map(|p| p * p).sum();
    if (1.0 - pe).abs() < 1e-15 {
        return f64::NAN;
    }
    (p_bar - pe) / (1.0 - pe)
}

/// Krippendorff's α for nominal data: `data[rater][unit]`, `None` for a missing rating. Units
/// with fewer than two ratings are ignored. NaN when there is no disagreement to expect.
pub fn krippendorff_alpha_nominal(data: &[Vec<Option<usize>>]) -> f64 {
    let n_units = data.first().map(|r| r.len()).unwrap_or(0);
    let n_cat = data
        .iter()
        .flatten()
        .flatten()
        .max()
        .map(|m| m + 1)
        .unwrap_or(0);
    let mut o = vec![vec![0.0; n_cat]; n_cat];
    for u in 0..n_units {
        let vals: Vec<usize> = data.iter().filter_map(|r| r[u]).collect();
        let m = vals.len();
        if m < 2 {
            continue;
        }
        for (i, &c) in vals.iter().enumerate() {
            for (j, &k) in vals.iter().enumerate() {
                if i != j {
                    o[c][k] += 1.0 / (m as f64 - 1.0);
                }
            }
        }
    }
    let nc: Vec<f64> = o.iter().map(|r| r.iter().sum()).collect();
    let n: f64 = nc.iter().sum();
    let mut d_o = 0.0;
    let mut d_e = 0.0;
    for c in 0..n_cat {
        for k in 0..n_cat {
            if c != k {
                d_o += o[c][k];
                d_e += nc[c] * nc[k];
            }
        }
    }
    if d_e == 0.0 {
        return f64::NAN;
    }
    1.0 - (n - 1.0) * d_o / d_e
}

/// Exact McNemar test on the discordant counts `b`, `c` (statsmodels `mcnemar(exact=True)`).
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    let lo = b.min(c);
    let cdf: f64 = (0..=lo).map(|i| binom_pmf(i, n, 0.5)).sum();
    (2.0 * cdf).min(1.0)
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
