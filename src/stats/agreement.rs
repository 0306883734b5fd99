//! Agreement between raters: Cohen's κ, Fleiss' κ, Krippendorff's α (nominal).

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
