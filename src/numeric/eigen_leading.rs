//! The leading eigenpairs of a small dense symmetric matrix (n up to a few hundred), without
//! the eigenvectors nobody reads.
//!
//! The ensemble's PCA decomposes the n × n centred Gram of the training responses (n = 32 …
//! 192 in a 5 × 32 study) and keeps at most 16 eigenpairs. The full decomposition
//! ([`symmetric_eigen`]: Householder with the transform accumulated, then QL rotating all n
//! vectors) spends most of its ~9n³ flops on vectors that are thrown away. Here:
//!
//! 1. Householder reduction to tridiagonal form `T = QᵀAQ`, keeping the reflectors instead
//!    of accumulating `Q` (row-major: every inner loop runs along a contiguous row; ~2n³ flops);
//! 2. the eigenvalues of `T` by implicit QL without vectors (O(n²));
//! 3. a vector for each wanted eigenvalue by inverse iteration on `T` (tridiagonal LU with
//!    partial pivoting, O(n) per solve); eigenvalues closer than 10⁻³‖T‖ form a cluster, and
//!    each vector is orthogonalised against its cluster's earlier ones at every step, with
//!    coincident eigenvalues pulled apart by 10·ε‖T‖ first (as LAPACK's `dstein`);
//! 4. each vector carried back through the reflectors (O(n²) per vector).
//!
//! Every result is checked: residual `‖Ty − λy‖ ≤ 10⁻¹⁰‖T‖` and pairwise orthogonality
//! `|yᵢᵀyⱼ| ≤ 10⁻⁹`; if any check fails the full decomposition is used instead (so the answer is
//! never worse than [`symmetric_eigen`]'s). The eigenvectors agree with the full
//! decomposition's to rounding (over the eigengap); they are not its bits.
//!
//! Determinism: written here, not taken from a LAPACK binding, so the arithmetic is a fixed
//! sequence of `f64` operations in a fixed order (no runtime SIMD dispatch, no threads): the
//! same input gives the same bits on every x86-64 machine. The start vector of inverse
//! iteration is a fixed low-discrepancy sequence (not a random draw). Each eigenvector's sign
//! is fixed as in [`symmetric_eigen`] (largest-magnitude entry positive).

use super::linalg::{
    dots, require_square, sign_of_largest, symmetric_eigen, tql, LinalgError, Mat,
};

/// Relative residual a computed pair must meet, against the 1-norm of `T`.
const RESIDUAL: f64 = 1e-10;
/// Largest `|yᵢᵀyⱼ|` accepted between two computed vectors.
const ORTHOGONAL: f64 = 1e-9;
/// Eigenvalues closer than this (relative to ‖T‖) are a cluster (LAPACK `dstein`'s ORTOL).
const CLUSTER: f64 = 1e-3;
/// Inverse-iteration steps per vector (each O(n); the first usually converges).
const STEPS: usize = 4;

/// The leading eigenpairs of the symmetric matrix `a`: the eigenvalues above
/// `rel_floor · max(λ₁, 10⁻³⁰⁰)` in descending order, at most `k` of them, and their unit
/// eigenvectors as the columns of an n × (that many) matrix. The same pairs as the prefix of
/// [`symmetric_eigen`] so filtered, to rounding.
pub fn leading_eigen(a: &Mat, k: usize, rel_floor: f64) -> Result<(Vec<f64>, Mat), LinalgError> {
    require_square(a)?;
    let n = a.rows;
    if n == 0 || k == 0 {
        return Ok((vec![], Mat::zeros(n, 0)));
    }
    let (reduced, d) = spectrum(a)?;
    let top = d[0];
    let keep = d
        .iter()
        .take_while(|&&v| v > rel_floor * top.max(1e-300))
        .take(k)
        .count();
    let vals = d[..keep].to_vec();
    let vecs = vectors_or_full(a, &reduced, &vals)?;
    Ok((vals, vecs))
}

/// Every eigenvalue of the symmetric matrix `a` (descending) and unit eigenvectors for the
/// first `k` of them (the same method as [`leading_eigen`]).
pub fn spectrum_and_leading(a: &Mat, k: usize) -> Result<(Vec<f64>, Mat), LinalgError> {
    require_square(a)?;
    if a.rows == 0 {
        return Ok((vec![], Mat::zeros(0, 0)));
    }
    let (reduced, d) = spectrum(a)?;
    let vecs = vectors_or_full(a, &reduced, &d[..k.min(d.len())])?;
    Ok((d, vecs))
}

/// The tridiagonal form of `a` (n ≥ 1) and all its eigenvalues, descending.
fn spectrum(a: &Mat) -> Result<(Tridiagonal, Vec<f64>), LinalgError> {
    let n = a.rows;
    let reduced = Tridiagonal::reduce(a);
    let mut d = reduced.diag.clone();
    let mut e = vec![0.0; n];
    // `tql` takes the off-diagonal in e[1..] (EISPACK's convention).
    e[1..].copy_from_slice(&reduced.off);
    tql(None, &mut d, &mut e)?;
    d.sort_by(|x, y| y.total_cmp(x));
    Ok((reduced, d))
}

/// Unit eigenvectors for the leading eigenvalues `vals` (a prefix of the spectrum), by
/// inverse iteration, or from the full decomposition if a check fails.
fn vectors_or_full(a: &Mat, reduced: &Tridiagonal, vals: &[f64]) -> Result<Mat, LinalgError> {
    match reduced.vectors(vals) {
        Some(vecs) => Ok(vecs),
        None => {
            let (_, vecs) = symmetric_eigen(a)?;
            Ok(Mat::from_fn(a.rows, vals.len(), |r, c| vecs.get(r, c)))
        }
    }
}

super::wide::avx2_twin!(
    /// `B ← B − v wᵀ − w vᵀ` on the trailing block `B = A[o.., o..]` of the row-major n × n
    /// `a` (with AVX2 when the CPU has it: element-wise, so the same bits, see
    /// `numeric::wide`).
    fn rank_two_update(a: &mut [f64], n: usize, o: usize, v: &[f64], w: &[f64]) =
        rank_two_update_portable
);

#[inline(always)]
fn rank_two_update_portable(a: &mut [f64], n: usize, o: usize, v: &[f64], w: &[f64]) {
    let s = n - o;
    for r in 0..s {
        let (vr, wr) = (v[r], w[r]);
        let start = (o + r) * n + o;
        for ((b, vc), wc) in a[start..start + s].iter_mut().zip(v).zip(w) {
            *b -= vr * wc + wr * vc;
        }
    }
}

/// `T = QᵀAQ` with `Q = H₀H₁…H_{n−3}`, `Hⱼ = I − τⱼvⱼvⱼᵀ` acting on coordinates j+1.. .
struct Tridiagonal {
    diag: Vec<f64>,
    /// `off[i]` = T[i][i+1].
    off: Vec<f64>,
    /// The reflectors: `(τⱼ, vⱼ)` with `vⱼ[0] = 1`, vⱼ of length n − j − 1.
    reflectors: Vec<(f64, Vec<f64>)>,
}

impl Tridiagonal {
    fn reduce(a: &Mat) -> Tridiagonal {
        let n = a.rows;
        let mut m = a.clone();
        let mut diag = vec![0.0; n];
        let mut off = vec![0.0; n.saturating_sub(1)];
        let mut reflectors = Vec::with_capacity(n.saturating_sub(2));
        let mut p = vec![0.0; n];
        for j in 0..n.saturating_sub(2) {
            diag[j] = m.get(j, j);
            // x = A[j+1.., j], read along row j (the matrix stays symmetric).
            let x = &m.data[j * n + j + 1..(j + 1) * n];
            let alpha = x[0];
            let sigma: f64 = x[1..].iter().map(|v| v * v).sum();
            if sigma == 0.0 {
                // Already tridiagonal in this column: no reflection.
                off[j] = alpha;
                reflectors.push((0.0, Vec::new()));
                continue;
            }
            // dlarfg: H x = β e₁ with β = −sign(α)‖x‖, τ = (β − α)/β, v = x / (α − β).
            let norm = (alpha * alpha + sigma).sqrt();
            let beta = if alpha >= 0.0 { -norm } else { norm };
            let tau = (beta - alpha) / beta;
            let scale = 1.0 / (alpha - beta);
            let mut v: Vec<f64> = x.iter().map(|t| t * scale).collect();
            v[0] = 1.0;
            off[j] = beta;
            // Trailing block B = A[j+1.., j+1..] (size s): p = τ B v, w = p − (τ/2)(pᵀv) v,
            // B ← B − v wᵀ − w vᵀ.
            let s = n - j - 1;
            let rows: Vec<&[f64]> = (0..s)
                .map(|r| {
                    let start = (j + 1 + r) * n + j + 1;
                    &m.data[start..start + s]
                })
                .collect();
            let p = &mut p[..s];
            dots(&rows, &v, p);
            let mut pv = 0.0;
            for (pi, vi) in p.iter_mut().zip(&v) {
                *pi *= tau;
                pv += *pi * vi;
            }
            let kk = 0.5 * tau * pv;
            let w: Vec<f64> = p.iter().zip(&v).map(|(pi, vi)| pi - kk * vi).collect();
            rank_two_update(&mut m.data, n, j + 1, &v, &w);
            reflectors.push((tau, v));
        }
        if n >= 2 {
            diag[n - 2] = m.get(n - 2, n - 2);
            off[n - 2] = m.get(n - 2, n - 1);
        }
        diag[n - 1] = m.get(n - 1, n - 1);
        Tridiagonal {
            diag,
            off,
            reflectors,
        }
    }

    /// ‖T‖₁ (the largest absolute column sum), at least the smallest normal number.
    fn norm(&self) -> f64 {
        let n = self.diag.len();
        (0..n)
            .map(|i| {
                let left = if i > 0 { self.off[i - 1].abs() } else { 0.0 };
                let right = if i + 1 < n { self.off[i].abs() } else { 0.0 };
                self.diag[i].abs() + left + right
            })
            .fold(f64::MIN_POSITIVE, f64::max)
    }

    /// `Ty − λy`'s 2-norm.
    fn residual(&self, y: &[f64], lambda: f64) -> f64 {
        let n = y.len();
        (0..n)
            .map(|i| {
                let mut t = (self.diag[i] - lambda) * y[i];
                if i > 0 {
                    t += self.off[i - 1] * y[i - 1];
                }
                if i + 1 < n {
                    t += self.off[i] * y[i + 1];
                }
                t * t
            })
            .sum::<f64>()
            .sqrt()
    }

    /// Unit eigenvectors of `A` for the (descending) eigenvalues `vals` of `T`, or `None` if
    /// a computed pair fails the residual or orthogonality check.
    fn vectors(&self, vals: &[f64]) -> Option<Mat> {
        let n = self.diag.len();
        let norm = self.norm();
        let pert = 10.0 * f64::EPSILON * norm;
        let mut ys: Vec<Vec<f64>> = Vec::with_capacity(vals.len());
        let mut cluster_start = 0;
        let mut shifted = f64::NAN;
        for (i, &lambda) in vals.iter().enumerate() {
            if i == 0 || vals[i - 1] - lambda > CLUSTER * norm {
                cluster_start = i;
                shifted = lambda;
            } else {
                // Pull coincident eigenvalues apart so that each solve has its own shift.
                shifted = lambda.min(shifted - pert);
            }
            let lu = TridiagonalLu::new(&self.diag, &self.off, shifted, pert);
            // A fixed low-discrepancy start (golden-ratio sequence), centred.
            let mut y: Vec<f64> = (0..n)
                .map(|r| ((r as f64 + 1.0) * 0.618_033_988_749_894_9).fract() - 0.5)
                .collect();
            // STEPS solves, each from the orthogonalised (against the cluster's earlier
            // vectors) and normalised iterate, and the result orthogonalised and normalised.
            for step in 0..=STEPS {
                for prev in &ys[cluster_start..i] {
                    let c: f64 = prev.iter().zip(&y).map(|(a, b)| a * b).sum();
                    for (t, q) in y.iter_mut().zip(prev) {
                        *t -= c * q;
                    }
                }
                let norm_y = y.iter().map(|t| t * t).sum::<f64>().sqrt();
                if !(norm_y > 0.0 && norm_y.is_finite()) {
                    return None;
                }
                y.iter_mut().for_each(|t| *t /= norm_y);
                if step < STEPS {
                    lu.solve(&mut y);
                }
            }
            if self.residual(&y, lambda) > RESIDUAL * norm {
                return None;
            }
            ys.push(y);
        }
        for a in 0..ys.len() {
            for b in 0..a {
                let c: f64 = ys[a].iter().zip(&ys[b]).map(|(x, y)| x * y).sum();
                if c.abs() > ORTHOGONAL {
                    return None;
                }
            }
        }
        let mut out = Mat::zeros(n, ys.len());
        for (c, mut y) in ys.into_iter().enumerate() {
            // x = H₀(H₁(…(H_{n−3} y))).
            for (j, (tau, v)) in self.reflectors.iter().enumerate().rev() {
                if *tau == 0.0 {
                    continue;
                }
                let tail = &mut y[j + 1..];
                let s = tau * v.iter().zip(tail.iter()).map(|(a, b)| a * b).sum::<f64>();
                for (t, vi) in tail.iter_mut().zip(v) {
                    *t -= s * vi;
                }
            }
            let sign = sign_of_largest(y.iter().copied());
            for (r, t) in y.iter().enumerate() {
                out.set(r, c, sign * t);
            }
        }
        Some(out)
    }
}

/// `T − λI = PLU` for a symmetric tridiagonal `T`, by Gaussian elimination with partial
/// pivoting (LAPACK `dgttrf`): `U` has two superdiagonals. A pivot smaller than `tiny` is
/// replaced by `tiny` (the shift is an eigenvalue, so `T − λI` is singular to rounding).
struct TridiagonalLu {
    /// Multipliers.
    l: Vec<f64>,
    /// U's diagonal and first and second superdiagonals.
    u0: Vec<f64>,
    u1: Vec<f64>,
    u2: Vec<f64>,
    /// Whether rows i and i+1 were swapped at step i.
    swap: Vec<bool>,
}

impl TridiagonalLu {
    fn new(diag: &[f64], off: &[f64], lambda: f64, tiny: f64) -> TridiagonalLu {
        let n = diag.len();
        let mut u0: Vec<f64> = diag.iter().map(|d| d - lambda).collect();
        let mut l = off.to_vec();
        let mut u1 = off.to_vec();
        let mut u2 = vec![0.0; n.saturating_sub(2)];
        let mut swap = vec![false; n.saturating_sub(1)];
        for i in 0..n.saturating_sub(1) {
            if u0[i].abs() >= l[i].abs() {
                let fact = if u0[i] != 0.0 { l[i] / u0[i] } else { 0.0 };
                l[i] = fact;
                u0[i + 1] -= fact * u1[i];
            } else {
                let fact = u0[i] / l[i];
                u0[i] = l[i];
                l[i] = fact;
                let t = u1[i];
                u1[i] = u0[i + 1];
                u0[i + 1] = t - fact * u0[i + 1];
                if i + 2 < n {
                    u2[i] = u1[i + 1];
                    u1[i + 1] *= -fact;
                }
                swap[i] = true;
            }
        }
        for p in &mut u0 {
            if p.abs() < tiny {
                *p = if *p < 0.0 { -tiny } else { tiny };
            }
        }
        TridiagonalLu {
            l,
            u0,
            u1,
            u2,
            swap,
        }
    }

    /// Overwrite `b` with `(T − λI)⁻¹ b`.
    fn solve(&self, b: &mut [f64]) {
        let n = b.len();
        for i in 0..n.saturating_sub(1) {
            if self.swap[i] {
                let t = b[i];
                b[i] = b[i + 1];
                b[i + 1] = t - self.l[i] * b[i];
            } else {
                b[i + 1] -= self.l[i] * b[i];
            }
        }
        for i in (0..n).rev() {
            let mut t = b[i];
            if i + 1 < n {
                t -= self.u1[i] * b[i + 1];
            }
            if i + 2 < n {
                t -= self.u2[i] * b[i + 2];
            }
            b[i] = t / self.u0[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numeric::seed::stream;
    use rand::RngExt;

    fn random_sym(n: usize, salt: u64, psd: bool) -> Mat {
        let mut rng = stream(salt, "test/eigen_leading");
        let b = Mat::from_vec(
            n,
            n + 3,
            (0..n * (n + 3))
                .map(|_| rng.random_range(-1.0..1.0))
                .collect(),
        );
        if psd {
            // A Gram matrix, as in the PCA.
            Mat::from_fn(n, n, |i, j| crate::numeric::linalg::dot(b.row(i), b.row(j)))
        } else {
            Mat::from_fn(n, n, |i, j| b.get(i.min(j), i.max(j)))
        }
    }

    fn residual(a: &Mat, vals: &[f64], vecs: &Mat) -> f64 {
        let n = a.rows;
        let mut worst: f64 = 0.0;
        for (c, &l) in vals.iter().enumerate() {
            for r in 0..n {
                let av: f64 = (0..n).map(|j| a.get(r, j) * vecs.get(j, c)).sum();
                worst = worst.max((av - l * vecs.get(r, c)).abs());
            }
        }
        worst
    }

    fn assert_orthonormal(v: &Mat) {
        for a in 0..v.cols {
            for b in 0..=a {
                let d: f64 = (0..v.rows).map(|r| v.get(r, a) * v.get(r, b)).sum();
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((d - want).abs() < 1e-9, "columns {a}, {b}: {d}");
            }
        }
    }

    /// The leading pairs are the full decomposition's to rounding, on Gram matrices and on
    /// indefinite ones, at the PCA's sizes and at the edges (n = 1, 2, 3).
    /// The AVX2 copy of the reduction's rank-two update has the portable bits.
    #[test]
    fn rank_two_update_twins_agree() {
        let mut rng = crate::numeric::seed::stream(3, "test/rank2");
        let n = 37;
        let a: Vec<f64> = (0..n * n).map(|_| rng.random_range(-2.0..2.0)).collect();
        for o in [1, 5, 30, 36] {
            let v: Vec<f64> = (0..n - o).map(|_| rng.random_range(-1.0..1.0)).collect();
            let w: Vec<f64> = (0..n - o).map(|_| rng.random_range(-1.0..1.0)).collect();
            let (mut x, mut y) = (a.clone(), a.clone());
            rank_two_update(&mut x, n, o, &v, &w);
            rank_two_update_portable(&mut y, n, o, &v, &w);
            let bits = |v: &[f64]| v.iter().map(|t| t.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&x), bits(&y));
        }
    }

    #[test]
    fn leading_pairs_are_the_full_decompositions() {
        for &n in &[1usize, 2, 3, 5, 17, 64, 150] {
            for (salt, psd) in [(1, true), (2, false)] {
                let a = random_sym(n, salt + n as u64, psd);
                let k = 16.min(n);
                let floor = if psd { 1e-10 } else { -1e300 };
                let (vals, vecs) = leading_eigen(&a, k, floor).unwrap();
                let (all, full) = symmetric_eigen(&a).unwrap();
                assert_eq!(vals.len(), k, "n = {n}");
                let scale = all.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for c in 0..k {
                    assert!((vals[c] - all[c]).abs() < 1e-11 * scale, "n {n} λ{c}");
                    // Same sign rule, so the vectors themselves agree (gaps are wide here).
                    for r in 0..n {
                        assert!(
                            (vecs.get(r, c) - full.get(r, c)).abs() < 1e-7,
                            "n {n} psd {psd} vector {c} row {r}: {} vs {}",
                            vecs.get(r, c),
                            full.get(r, c)
                        );
                    }
                }
                assert!(residual(&a, &vals, &vecs) < 1e-10 * scale);
                assert_orthonormal(&vecs);
                // Inverse iteration itself passed its checks (no fallback to the full path).
                assert!(Tridiagonal::reduce(&a).vectors(&vals).is_some(), "n {n}");
            }
        }
    }

    /// Repeated eigenvalues (a planted 3-fold top eigenvalue and a 2-fold next one): each
    /// eigenspace comes back with orthonormal vectors that satisfy `Av = λv`.
    #[test]
    fn repeated_eigenvalues_get_orthonormal_vectors() {
        let n = 40;
        let (_, basis) = symmetric_eigen(&random_sym(n, 9, false)).unwrap();
        let lambda: Vec<f64> = (0..n)
            .map(|i| match i {
                0..=2 => 7.0,
                3 | 4 => 3.0,
                _ => 1.0 / (i as f64),
            })
            .collect();
        let a = Mat::from_fn(n, n, |i, j| {
            (0..n)
                .map(|c| basis.get(i, c) * lambda[c] * basis.get(j, c))
                .sum()
        });
        let (vals, vecs) = leading_eigen(&a, 6, 1e-10).unwrap();
        assert_eq!(vals.len(), 6);
        for (c, want) in [7.0, 7.0, 7.0, 3.0, 3.0].iter().enumerate() {
            assert!((vals[c] - want).abs() < 1e-12, "{vals:?}");
        }
        assert!(residual(&a, &vals, &vecs) < 1e-11);
        assert_orthonormal(&vecs);
        assert!(Tridiagonal::reduce(&a).vectors(&vals).is_some());
        // A diagonal matrix (T = A, no reflections) with ties.
        let d = Mat::from_fn(6, 6, |i, j| {
            if i == j {
                [2.0, 5.0, 5.0, 1.0, 5.0, 0.0][i]
            } else {
                0.0
            }
        });
        let (vals, vecs) = leading_eigen(&d, 4, 1e-10).unwrap();
        assert_eq!(vals, vec![5.0, 5.0, 5.0, 2.0]);
        assert!(residual(&d, &vals, &vecs) < 1e-14);
        assert_orthonormal(&vecs);
    }

    /// The floor cuts a centred Gram's null directions: rank r data give r pairs, whatever k.
    #[test]
    fn the_floor_drops_the_null_space() {
        let mut rng = stream(5, "test/eigen_leading/rank");
        let (n, r) = (30, 4);
        let f = Mat::from_vec(
            n,
            r,
            (0..n * r).map(|_| rng.random_range(-1.0..1.0)).collect(),
        );
        let a = Mat::from_fn(n, n, |i, j| crate::numeric::linalg::dot(f.row(i), f.row(j)));
        let (vals, vecs) = leading_eigen(&a, 16, 1e-10).unwrap();
        assert_eq!(vals.len(), r);
        assert_eq!(vecs.cols, r);
        assert!(residual(&a, &vals, &vecs) < 1e-11 * vals[0]);
        // The same input gives the same bits.
        let again = leading_eigen(&a, 16, 1e-10).unwrap();
        let bits = |m: &Mat| m.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&vecs), bits(&again.1));
    }
}
