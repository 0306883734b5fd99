//! Multiplicity corrections: Holm (family-wise) and Benjamini–Hochberg (false discovery rate).

pub(crate) fn ascending(p: &[f64]) -> Vec<usize> {
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
