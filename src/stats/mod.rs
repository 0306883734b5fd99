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
fn signed_rank_null(n: usize) -> Vec<f64> {
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
fn sign_flip_pvalue(d: &[f64], stat: impl Fn(&[f64]) -> f64) -> f64 {
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

fn r_plus(d: &[f64]) -> f64 {
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
    use rand::RngExt;
    let d: Vec<f64> = x.iter().zip(y).map(|(a, b)| a - b).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    if d.is_empty() {
        return f64::NAN;
    }
    if d.len() <= 20 {
        return sign_flip_pvalue(&d, mean);
    }
    let observed = mean(&d);
    let gamma = (observed * 1e-14).abs();
    let (mut le, mut ge) = (0u64, 0u64);
    let mut f = d.clone();
    for _ in 0..resamples {
        for (i, v) in f.iter_mut().enumerate() {
            *v = if rng.random::<bool>() { -d[i] } else { d[i] };
        }
        let t = mean(&f);
        le += (t <= observed + gamma) as u64;
        ge += (t >= observed - gamma) as u64;
    }
    let r = resamples as f64;
    (2.0 * ((le as f64 + 1.0) / (r + 1.0)).min((ge as f64 + 1.0) / (r + 1.0))).min(1.0)
}

/// A Bradley–Terry fit with ties (Davidson 1970): `P(i ≻ j) = πᵢ/D`, `P(tie) = ν√(πᵢπⱼ)/D`,
/// `D = πᵢ + πⱼ + ν√(πᵢπⱼ)`, log-strengths `θ = ln π` summing to 0 (identifiable).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DavidsonFit {
    pub theta: Vec<f64>,
    pub nu: f64,
    pub loglik: f64,
    pub iterations: usize,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BtError {
    #[error("no finite maximum-likelihood estimate: {0}")]
    NotEstimable(String),
}

/// Log-likelihood and gradient over the free parameters `(θ₁..θ_{k−1}, ln ν)`.
fn davidson_ll(params: &[f64], wins: &[Vec<f64>], ties: &[Vec<f64>]) -> (f64, Vec<f64>) {
    let k = wins.len();
    let mut theta: Vec<f64> = params[..k - 1].to_vec();
    theta.push(-theta.iter().sum::<f64>());
    let lam = params[k - 1];
    let mut ll = 0.0;
    let mut g_theta = vec![0.0; k];
    let mut g_lam = 0.0;
    for i in 0..k {
        for j in i + 1..k {
            let (wij, wji, t) = (wins[i][j], wins[j][i], ties[i][j]);
            let n = wij + wji + t;
            if n == 0.0 {
                continue;
            }
            let s = lam + 0.5 * (theta[i] + theta[j]);
            let m = theta[i].max(theta[j]).max(s);
            let (ei, ej, es) = ((theta[i] - m).exp(), (theta[j] - m).exp(), (s - m).exp());
            let d = ei + ej + es;
            let logd = m + d.ln();
            ll += wij * (theta[i] - logd) + wji * (theta[j] - logd) + t * (s - logd);
            let (pi, pj, ps) = (ei / d, ej / d, es / d);
            // ∂logD/∂θi = pi + ps/2; ∂logD/∂λ = ps
            g_theta[i] += wij + 0.5 * t - n * (pi + 0.5 * ps);
            g_theta[j] += wji + 0.5 * t - n * (pj + 0.5 * ps);
            g_lam += t - n * ps;
        }
    }
    let mut g: Vec<f64> = (0..k - 1).map(|a| g_theta[a] - g_theta[k - 1]).collect();
    g.push(g_lam);
    (ll, g)
}

/// A pair (i, j) such that i never beats j, directly or through others (transitive closure of
/// `wins > 0`); None when every strategy reaches every other.
fn unreachable_pair(wins: &[Vec<f64>]) -> Option<(usize, usize)> {
    let k = wins.len();
    let mut reach: Vec<Vec<bool>> = (0..k)
        .map(|i| (0..k).map(|j| i == j || wins[i][j] > 0.0).collect())
        .collect();
    for m in 0..k {
        for i in 0..k {
            for j in 0..k {
                if reach[i][m] && reach[m][j] {
                    reach[i][j] = true;
                }
            }
        }
    }
    (0..k)
        .flat_map(|i| (0..k).map(move |j| (i, j)))
        .find(|&(i, j)| !reach[i][j])
}

/// Maximum-likelihood Davidson fit by Newton's method (Hessian from central differences of the
/// analytic gradient, step halving). `wins[i][j]` = times i beat j; `ties` symmetric.
pub fn bradley_terry_davidson(
    wins: &[Vec<f64>],
    ties: &[Vec<f64>],
) -> Result<DavidsonFit, BtError> {
    let k = wins.len();
    if k < 2 {
        return Err(BtError::NotEstimable("need at least two strategies".into()));
    }
    let total_ties: f64 = (0..k)
        .flat_map(|i| (i + 1..k).map(move |j| (i, j)))
        .map(|(i, j)| ties[i][j])
        .sum();
    if total_ties == 0.0 {
        return Err(BtError::NotEstimable(
            "no ties, so the tie parameter ν is 0 (use the tie-as-half fit)".into(),
        ));
    }
    // Sufficient for a finite MLE: every strategy reaches every other through "beat at least
    // once" (otherwise some strengths run off to ±∞, with ν absorbing the ties).
    if let Some((i, j)) = unreachable_pair(wins) {
        return Err(BtError::NotEstimable(format!(
            "strategy {i} never beats strategy {j}, directly or through others: strengths are unbounded"
        )));
    }
    let p = k;
    let mut x = vec![0.0; p];
    let (mut ll, mut g) = davidson_ll(&x, wins, ties);
    for it in 1..=200 {
        let h_step = 1e-5;
        let mut h = crate::numeric::linalg::Mat::zeros(p, p);
        for a in 0..p {
            let mut xp = x.clone();
            let mut xm = x.clone();
            xp[a] += h_step;
            xm[a] -= h_step;
            let (_, gp) = davidson_ll(&xp, wins, ties);
            let (_, gm) = davidson_ll(&xm, wins, ties);
            for b in 0..p {
                h.set(a, b, -(gp[b] - gm[b]) / (2.0 * h_step));
            }
        }
        // symmetrise the negative Hessian and solve (−H) δ = g
        let hs =
            crate::numeric::linalg::Mat::from_fn(p, p, |a, b| 0.5 * (h.get(a, b) + h.get(b, a)));
        let delta = match crate::numeric::linalg::cholesky(&hs) {
            Ok(l) => {
                crate::numeric::linalg::cholesky_solve(
                    &l,
                    &crate::numeric::linalg::Mat::from_vec(p, 1, g.clone()),
                )
                .data
            }
            Err(_) => g.clone(),
        };
        let mut step = 1.0;
        loop {
            let xn: Vec<f64> = x.iter().zip(&delta).map(|(a, d)| a + step * d).collect();
            let (lln, gn) = davidson_ll(&xn, wins, ties);
            if lln >= ll - 1e-12 || step < 1e-10 {
                x = xn;
                ll = lln;
                g = gn;
                break;
            }
            step /= 2.0;
        }
        if x.iter().any(|v| v.abs() > 50.0) {
            return Err(BtError::NotEstimable("strengths diverge".into()));
        }
        if g.iter().map(|v| v.abs()).fold(0.0, f64::max) < 1e-10 {
            let mut theta = x[..k - 1].to_vec();
            theta.push(-theta.iter().sum::<f64>());
            return Ok(DavidsonFit {
                theta,
                nu: x[k - 1].exp(),
                loglik: ll,
                iterations: it,
            });
        }
    }
    Err(BtError::NotEstimable(
        "Newton iterations did not converge".into(),
    ))
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

/// Plain Bradley–Terry with each tie counted as half a win to each side, by the MM algorithm
/// (Hunter 2004). Log-strengths sum to zero. `wins[i][j]` = times i beat j; `ties` symmetric.
pub fn bradley_terry_half(wins: &[Vec<f64>], ties: &[Vec<f64>]) -> Result<Vec<f64>, BtError> {
    let k = wins.len();
    if k < 2 {
        return Err(BtError::NotEstimable("need at least two strategies".into()));
    }
    let w: Vec<Vec<f64>> = (0..k)
        .map(|i| {
            (0..k)
                .map(|j| {
                    if i == j {
                        0.0
                    } else {
                        wins[i][j] + 0.5 * ties[i][j]
                    }
                })
                .collect()
        })
        .collect();
    if let Some((i, j)) = unreachable_pair(&w) {
        return Err(BtError::NotEstimable(format!(
            "strategy {i} never beats strategy {j}, even counting ties as halves: strengths are unbounded"
        )));
    }
    let wins_of: Vec<f64> = (0..k).map(|i| w[i].iter().sum()).collect();
    let mut p = vec![1.0; k];
    for _ in 0..100_000 {
        let mut next = vec![0.0; k];
        for i in 0..k {
            let denom: f64 = (0..k)
                .filter(|&j| j != i)
                .map(|j| (w[i][j] + w[j][i]) / (p[i] + p[j]))
                .sum();
            next[i] = wins_of[i] / denom;
        }
        let g = (next.iter().map(|x| x.ln()).sum::<f64>() / k as f64).exp();
        for x in &mut next {
            *x /= g;
        }
        let change = next
            .iter()
            .zip(&p)
            .map(|(a, b)| (a.ln() - b.ln()).abs())
            .fold(0.0, f64::max);
        p = next;
        if change < 1e-14 {
            break;
        }
    }
    Ok(p.iter().map(|x| x.ln()).collect())
}
