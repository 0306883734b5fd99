//! Paired comparisons over seeds: mean ± SE, mid-ranks, the exact Wilcoxon signed-rank test and the paired sign-flip permutation test.

use super::multiplicity::ascending;
use statrs::distribution::{ContinuousCDF, Normal};

/// Mean and standard error of the mean (sample SD / √n; SE is NaN for n < 2).
pub fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let se = if v.len() > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt()
    } else {
        f64::NAN
    };
    (mean, se)
}

/// Mid-ranks (1-based) of values, ties sharing their average rank.
pub fn midranks(v: &[f64]) -> Vec<f64> {
    let idx = ascending(v);
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = mid;
        }
        i = j + 1;
    }
    r
}

/// Result of a Wilcoxon signed-rank test.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Wilcoxon {
    /// min(R+, R−), as scipy reports for the two-sided test.
    pub statistic: f64,
    pub pvalue: f64,
    /// "exact", "permutation" (ties or zeros, n ≤ 13) or "asymptotic".
    pub method: &'static str,
}

/// Number of subsets of {1..n} with each sum, as probabilities: the null distribution of R+.
pub(crate) fn signed_rank_null(n: usize) -> Vec<f64> {
    let max = n * (n + 1) / 2;
    let mut counts = vec![0.0f64; max + 1];
    counts[0] = 1.0;
    for r in 1..=n {
        for s in (r..=max).rev() {
            counts[s] += counts[s - r];
        }
    }
    let total = 2f64.powi(n as i32);
    counts.iter().map(|c| c / total).collect()
}

/// Two-sided p from an exhaustive sign-flip enumeration: `2 · min(P(T ≤ t), P(T ≥ t))`, with
/// scipy's relative tolerance of 1e-14 on the comparisons.
pub(crate) fn sign_flip_pvalue(d: &[f64], stat: impl Fn(&[f64]) -> f64) -> f64 {
    let n = d.len();
    let observed = stat(d);
    let gamma = (observed * 1e-14).abs();
    let (mut le, mut ge) = (0u64, 0u64);
    let mut flipped = d.to_vec();
    let total = 1u64 << n;
    for mask in 0..total {
        for (i, f) in flipped.iter_mut().enumerate() {
            *f = if mask >> i & 1 == 1 { -d[i] } else { d[i] };
        }
        let t = stat(&flipped);
        if t <= observed + gamma {
            le += 1;
        }
        if t >= observed - gamma {
            ge += 1;
        }
    }
    (2.0 * le.min(ge) as f64 / total as f64).min(1.0)
}

/// [`sign_flip_pvalue`] for a statistic that is `finish(s)` of the sum `s` of `terms[i]` or
/// `−terms[i]` added in index order from `-0.0` (as `Iterator::sum`): a flip negates a term
/// exactly, and flipped sums that share their first `i` signs share those `i` additions, so a
/// depth-first walk over the signs computes every one of the 2ⁿ sums with 2ⁿ⁺¹ additions
/// instead of n·2ⁿ. Each sum is the same chain of additions as computing it afresh, so the
/// p-value has the same bits.
fn sign_flip_sum_pvalue(terms: &[f64], finish: impl Fn(f64) -> f64) -> f64 {
    fn walk(terms: &[f64], s: f64, leaf: &mut impl FnMut(f64)) {
        match terms.split_first() {
            None => leaf(s),
            Some((&t, rest)) => {
                walk(rest, s + t, leaf);
                walk(rest, s + -t, leaf);
            }
        }
    }
    let observed = finish(terms.iter().sum::<f64>());
    let gamma = (observed * 1e-14).abs();
    let (mut le, mut ge) = (0u64, 0u64);
    walk(terms, -0.0, &mut |s| {
        let t = finish(s);
        le += (t <= observed + gamma) as u64;
        ge += (t >= observed - gamma) as u64;
    });
    let total = 1u64 << terms.len();
    (2.0 * le.min(ge) as f64 / total as f64).min(1.0)
}

pub(crate) fn r_plus(d: &[f64]) -> f64 {
    let nz: Vec<f64> = d.iter().copied().filter(|v| *v != 0.0).collect();
    let ranks = midranks(&nz.iter().map(|v| v.abs()).collect::<Vec<_>>());
    nz.iter()
        .zip(&ranks)
        .filter(|(v, _)| **v > 0.0)
        .map(|(_, r)| r)
        .sum()
}

/// Two-sided Wilcoxon signed-rank test of paired samples, as `scipy.stats.wilcoxon` with its
/// defaults (zeros dropped, method "auto": exact without ties or zeros; an exact sign-flip
/// permutation with ties or zeros when n ≤ 13; otherwise normal with tie correction).
pub fn wilcoxon_signed_rank(x: &[f64], y: &[f64]) -> Wilcoxon {
    let d: Vec<f64> = x.iter().zip(y).map(|(a, b)| a - b).collect();
    let nz: Vec<f64> = d.iter().copied().filter(|v| *v != 0.0).collect();
    let n_zero = d.len() - nz.len();
    let count = nz.len();
    if count == 0 {
        return Wilcoxon {
            statistic: f64::NAN,
            pvalue: f64::NAN,
            method: "exact",
        };
    }
    let rp = r_plus(&d);
    let total = (count * (count + 1)) as f64 / 2.0;
    let statistic = rp.min(total - rp);
    // sizes of the groups of tied |d|
    let mut sorted: Vec<f64> = nz.iter().map(|v| v.abs()).collect();
    sorted.sort_by(f64::total_cmp);
    let ties: Vec<f64> = sorted
        .chunk_by(|a, b| a == b)
        .map(|g| g.len() as f64)
        .collect();
    let has_ties = ties.iter().any(|&t| t > 1.0);
    if !has_ties && n_zero == 0 {
        let null = signed_rank_null(count);
        let cdf = |k: f64| {
            null[..=(k.ceil() as usize).min(null.len() - 1)]
                .iter()
                .sum::<f64>()
        };
        let sf = |k: f64| {
            null[(k.floor() as usize).min(null.len())..]
                .iter()
                .sum::<f64>()
        };
        let p = (2.0 * sf(rp).min(cdf(rp))).min(1.0);
        return Wilcoxon {
            statistic,
            pvalue: p,
            method: "exact",
        };
    }
    if d.len() <= 13 {
        return Wilcoxon {
            statistic,
            pvalue: sign_flip_pvalue(&d, r_plus),
            method: "permutation",
        };
    }
    let n = count as f64;
    let mean = n * (n + 1.0) / 4.0;
    let tie_term: f64 = ties.iter().map(|t| t * t * t - t).sum();
    let se = (n * (n + 1.0) * (2.0 * n + 1.0) / 24.0 - tie_term / 48.0).sqrt();
    let z = (rp - mean) / se;
    let p = (2.0 * (1.0 - Normal::standard().cdf(z.abs()))).min(1.0);
    Wilcoxon {
        statistic,
        pvalue: p,
        method: "asymptotic",
    }
}

/// Exact two-sided paired permutation test of the mean difference (all 2ⁿ sign flips, as
/// `scipy.stats.permutation_test(permutation_type="samples")`); for n > 20, `resamples`
/// random sign flips from `rng` (p = (hits + 1)/(resamples + 1) per side, as scipy).
pub fn paired_permutation_test(
    x: &[f64],
    y: &[f64],
    resamples: usize,
    rng: &mut rand::rngs::ChaCha8Rng,
) -> f64 {
    let d: Vec<f64> = x.iter().zip(y).map(|(a, b)| a - b).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    if d.is_empty() {
        return f64::NAN;
    }
    if d.len() <= 20 {
        let n = d.len() as f64;
        return sign_flip_sum_pvalue(&d, |s| s / n);
    }
    random_flip_pvalue(&d, mean, resamples, rng)
}

/// Two-sided p from `resamples` random sign flips of `d` (each sign one draw from `rng`):
/// p = 2 · min((hits ≤ + 1), (hits ≥ + 1)) / (resamples + 1), as scipy.
fn random_flip_pvalue(
    d: &[f64],
    stat: impl Fn(&[f64]) -> f64,
    resamples: usize,
    rng: &mut rand::rngs::ChaCha8Rng,
) -> f64 {
    use rand::RngExt;
    let observed = stat(d);
    let gamma = (observed * 1e-14).abs();
    let (mut le, mut ge) = (0u64, 0u64);
    let mut f = d.to_vec();
    for _ in 0..resamples {
        for (i, v) in f.iter_mut().enumerate() {
            *v = if rng.random::<bool>() { -d[i] } else { d[i] };
        }
        let t = stat(&f);
        le += (t <= observed + gamma) as u64;
        ge += (t >= observed - gamma) as u64;
    }
    let r = resamples as f64;
    (2.0 * ((le as f64 + 1.0) / (r + 1.0)).min((ge as f64 + 1.0) / (r + 1.0))).min(1.0)
}

/// Pooled test across strata (pathways) of paired differences over seeds: a stratified
/// sign-flip permutation test of T = Σ over strata of the stratum's mean difference (each
/// stratum weighs the same whatever its seed count; signs flip independently per seed, which
/// is what exchangeability within a stratum allows). Exact over all 2ᵁ flips when the units
/// number at most 20, as `scipy.stats.permutation_test(permutation_type="samples")` on one
/// sample; otherwise `resamples` random flips from `rng`, p = (hits + 1)/(resamples + 1) per
/// side. Empty strata are skipped; NaN differences make the result NaN.
pub fn stratified_sign_flip_test(
    strata: &[Vec<f64>],
    resamples: usize,
    rng: &mut rand::rngs::ChaCha8Rng,
) -> f64 {
    let mut d = Vec::new();
    let mut w = Vec::new();
    for s in strata.iter().filter(|s| !s.is_empty()) {
        for &x in s {
            d.push(x);
            w.push(1.0 / s.len() as f64);
        }
    }
    if d.is_empty() || d.iter().any(|x| !x.is_finite()) {
        return f64::NAN;
    }
    let stat = |v: &[f64]| v.iter().zip(&w).map(|(x, w)| x * w).sum::<f64>();
    if d.len() <= 20 {
        let terms: Vec<f64> = d.iter().zip(&w).map(|(x, w)| x * w).collect();
        return sign_flip_sum_pvalue(&terms, |s| s);
    }
    random_flip_pvalue(&d, stat, resamples, rng)
}

/// Percentile bootstrap CI of the mean of paired differences x − y (seeds resampled with
/// replacement, `resamples` draws from `rng`); NaN when empty or any difference is NaN.
pub fn paired_bootstrap_ci(
    x: &[f64],
    y: &[f64],
    resamples: usize,
    alpha: f64,
    rng: &mut rand::rngs::ChaCha8Rng,
) -> (f64, f64) {
    use rand::RngExt;
    let d: Vec<f64> = x.iter().zip(y).map(|(a, b)| a - b).collect();
    if d.is_empty() || resamples == 0 || d.iter().any(|v| !v.is_finite()) {
        return (f64::NAN, f64::NAN);
    }
    let n = d.len();
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| d[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let q = |p: f64| means[((p * (means.len() - 1) as f64).round() as usize).min(means.len() - 1)];
    (q(alpha / 2.0), q(1.0 - alpha / 2.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numeric::seed::stream;
    use rand::RngExt;

    /// The depth-first walk gives the bits of flipping and summing every sign pattern afresh,
    /// on continuous data, on ties and zeros (where the tolerance decides), and on weights.
    #[test]
    fn walked_sums_are_the_fresh_sums() {
        let mut rng = stream(11, "test");
        for n in 1..=12 {
            for case in 0..6 {
                let d: Vec<f64> = (0..n)
                    .map(|_| match case {
                        0 => rng.random::<f64>() - 0.5,
                        1 => (rng.random_range(0..3) as f64 - 1.0) * 0.1,
                        2 => rng.random_range(0..2) as f64 * 0.3,
                        _ => (rng.random::<f64>() - 0.3) * 10f64.powi(rng.random_range(-3..3)),
                    })
                    .collect();
                let m = n as f64;
                let fresh = sign_flip_pvalue(&d, |v| v.iter().sum::<f64>() / m);
                let walked = sign_flip_sum_pvalue(&d, |s| s / m);
                assert_eq!(fresh.to_bits(), walked.to_bits(), "n={n} case={case} {d:?}");
                let w: Vec<f64> = (0..n).map(|i| 1.0 / (1 + i % 3) as f64).collect();
                let fresh = sign_flip_pvalue(&d, |v| v.iter().zip(&w).map(|(x, w)| x * w).sum());
                let terms: Vec<f64> = d.iter().zip(&w).map(|(x, w)| x * w).collect();
                let walked = sign_flip_sum_pvalue(&terms, |s| s);
                assert_eq!(
                    fresh.to_bits(),
                    walked.to_bits(),
                    "weighted n={n} case={case}"
                );
            }
        }
    }
}
