//! Small dense linear algebra over row-major `f64` matrices: products, Cholesky solves and a
//! symmetric eigendecomposition (Householder tridiagonalisation + implicit QL). Sizes here are
//! tens to a few hundred, so clarity beats blocking; everything is deterministic (fixed loop
//! order, no threads).

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum LinalgError {
    #[error("matrix is not positive definite (pivot {pivot} = {value:e})")]
    NotPositiveDefinite { pivot: usize, value: f64 },
    #[error("shape mismatch: expected {expected}, got {got}")]
    Shape { expected: String, got: String },
    #[error("eigen iteration did not converge")]
    NoConvergence,
}

/// Row-major dense matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Mat {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Mat {
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Mat {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    pub fn from_vec(rows: usize, cols: usize, data: Vec<f64>) -> Self {
        assert_eq!(rows * cols, data.len(), "Mat::from_vec size");
        Mat { rows, cols, data }
    }

    pub fn from_fn(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f64) -> Self {
        let mut m = Mat::zeros(rows, cols);
        for i in 0..rows {
            for j in 0..cols {
                m.data[i * cols + j] = f(i, j);
            }
        }
        m
    }

    pub fn identity(n: usize) -> Self {
        Mat::from_fn(n, n, |i, j| if i == j { 1.0 } else { 0.0 })
    }

    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.cols + j]
    }

    #[inline]
    pub fn set(&mut self, i: usize, j: usize, v: f64) {
        self.data[i * self.cols + j] = v;
    }

    #[inline]
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    #[inline]
    pub fn row_mut(&mut self, i: usize) -> &mut [f64] {
        let c = self.cols;
        &mut self.data[i * c..(i + 1) * c]
    }

    pub fn transpose(&self) -> Mat {
        Mat::from_fn(self.cols, self.rows, |i, j| self.get(j, i))
    }

    /// `self * other`.
    pub fn matmul(&self, other: &Mat) -> Mat {
        assert_eq!(self.cols, other.rows, "matmul shapes");
        let mut out = Mat::zeros(self.rows, other.cols);
        for i in 0..self.rows {
            let orow = &mut out.data[i * other.cols..(i + 1) * other.cols];
            for k in 0..self.cols {
                let a = self.data[i * self.cols + k];
                if a == 0.0 {
                    continue;
                }
                let brow = &other.data[k * other.cols..(k + 1) * other.cols];
                for (o, b) in orow.iter_mut().zip(brow) {
                    *o += a * b;
                }
            }
        }
        out
    }

    /// `selfᵀ * self`, [`Mat::tmatmul`]'s bits: one triangle, mirrored (entry (j, i) adds the
    /// products of entry (i, j) with the factors swapped, in the same order, so the same bits;
    /// a product [`Mat::tmatmul`] skips for a zero factor adds a zero, which leaves a sum that
    /// starts at +0 unchanged).
    pub fn gram_t(&self) -> Mat {
        let d = self.cols;
        let mut out = Mat::zeros(d, d);
        gram_t_into(self, &mut out);
        for i in 0..d {
            for j in 0..i {
                out.data[i * d + j] = out.data[j * d + i];
            }
        }
        out
    }

    /// `selfᵀ * other` without forming the transpose (with AVX2 when the CPU has it: the
    /// same bits, see `numeric::wide`).
    pub fn tmatmul(&self, other: &Mat) -> Mat {
        assert_eq!(self.rows, other.rows, "tmatmul shapes");
        let mut out = Mat::zeros(self.cols, other.cols);
        tmatmul_into(self, other, &mut out);
        out
    }
}

super::wide::avx2_twin!(fn tmatmul_into(a: &Mat, b: &Mat, out: &mut Mat) = tmatmul_portable);

#[inline(always)]
fn tmatmul_portable(this: &Mat, other: &Mat, out: &mut Mat) {
    for r in 0..this.rows {
        let arow = this.row(r);
        let brow = other.row(r);
        for (i, &a) in arow.iter().enumerate() {
            if a == 0.0 {
                continue;
            }
            let orow = &mut out.data[i * other.cols..(i + 1) * other.cols];
            for (o, b) in orow.iter_mut().zip(brow) {
                *o += a * b;
            }
        }
    }
}

super::wide::avx2_twin!(fn gram_t_into(a: &Mat, out: &mut Mat) = gram_t_portable);

/// The upper triangle of `aᵀa`, rows added in order from +0 as [`tmatmul_portable`] adds them.
#[inline(always)]
fn gram_t_portable(this: &Mat, out: &mut Mat) {
    let d = this.cols;
    for r in 0..this.rows {
        let arow = this.row(r);
        for (i, &a) in arow.iter().enumerate() {
            if a == 0.0 {
                continue;
            }
            let orow = &mut out.data[i * d + i..(i + 1) * d];
            for (o, b) in orow.iter_mut().zip(&arow[i..]) {
                *o += a * b;
            }
        }
    }
}

#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Four dot products against one `b`, each the exact bits of [`dot`] (the same products added
/// in the same order, from the same `-0.0` start as `Sum`): the four chains are independent,
/// so the processor overlaps their additions instead of waiting on one chain's latency
/// (about 3× the throughput, with no reassociation and so no change in any result).
#[inline]
pub fn dot4(a: [&[f64]; 4], b: &[f64]) -> [f64; 4] {
    let n = b.len();
    let (a0, a1, a2, a3) = (&a[0][..n], &a[1][..n], &a[2][..n], &a[3][..n]);
    let mut s = [-0.0f64; 4];
    for j in 0..n {
        let x = b[j];
        s[0] += a0[j] * x;
        s[1] += a1[j] * x;
        s[2] += a2[j] * x;
        s[3] += a3[j] * x;
    }
    s
}

super::wide::avx2_twin!(
    /// `dot(rows[i], b)` for every row, four at a time ([`dot4`]: the same bits), with AVX2
    /// when the CPU has it (the four chains in one register; the same bits: `numeric::wide`).
    pub fn dots(rows: &[&[f64]], b: &[f64], out: &mut [f64]) = dots_portable
);

#[inline(always)]
fn dots_portable(rows: &[&[f64]], b: &[f64], out: &mut [f64]) {
    let mut i = 0;
    while i + 4 <= rows.len() {
        let r = dot4([rows[i], rows[i + 1], rows[i + 2], rows[i + 3]], b);
        out[i..i + 4].copy_from_slice(&r);
        i += 4;
    }
    for k in i..rows.len() {
        out[k] = dot(rows[k], b);
    }
}

/// Vectors per group of [`dots_interleaved`] (two AVX2 registers).
pub const INTERLEAVED: usize = 8;
/// Up to [`INTERLEAVED`] vectors (their first `len` entries) in the layout
/// [`dots_interleaved`] reads: entry j of vector l at `j·8 + l`, missing lanes zero.
pub fn interleave(vectors: &[&[f64]], len: usize) -> Vec<f64> {
    assert!(
        vectors.len() <= INTERLEAVED,
        "at most {INTERLEAVED} vectors per group"
    );
    let mut packed = vec![0.0; len * INTERLEAVED];
    for (l, v) in vectors.iter().enumerate() {
        for (j, x) in v[..len].iter().enumerate() {
            packed[j * INTERLEAVED + l] = *x;
        }
    }
    packed
}

/// Rows per register block of [`dots_interleaved`].
const INTERLEAVED_ROWS: usize = 4;

super::wide::avx2_twin!(
    /// Dot products of every row with eight vectors stored interleaved (`packed[g·8 + l]` is
    /// entry g of vector l): `out[r·8 + l] = Σ_g packed[g·8 + l] · rows[r][g]`, added in
    /// column order from −0.0, i.e. the bits of `dot(rows[r], vector l)` (products commute
    /// exactly). Four rows × eight vectors stay in registers per pass along the rows (with
    /// AVX2 when the CPU has it: the same bits, see `numeric::wide`).
    pub fn dots_interleaved(packed: &[f64], rows: &[&[f64]], out: &mut [f64]) = dots_interleaved_portable
);

#[inline(always)]
pub(crate) fn dots_interleaved_portable(packed: &[f64], rows: &[&[f64]], out: &mut [f64]) {
    let mut r0 = 0;
    while r0 + INTERLEAVED_ROWS <= rows.len() {
        interleaved_block::<INTERLEAVED_ROWS>(packed, rows, r0, out);
        r0 += INTERLEAVED_ROWS;
    }
    while r0 < rows.len() {
        interleaved_block::<1>(packed, rows, r0, out);
        r0 += 1;
    }
}

#[inline(always)]
fn interleaved_block<const R: usize>(packed: &[f64], rows: &[&[f64]], r0: usize, out: &mut [f64]) {
    let len = packed.len() / INTERLEAVED;
    let z: [&[f64]; R] = std::array::from_fn(|rr| &rows[r0 + rr][..len]);
    let mut acc = [[-0.0f64; INTERLEAVED]; R];
    for g in 0..len {
        let v: &[f64; INTERLEAVED] = packed[g * INTERLEAVED..(g + 1) * INTERLEAVED]
            .try_into()
            .unwrap();
        for rr in 0..R {
            let zj = z[rr][g];
            for t in 0..INTERLEAVED {
                acc[rr][t] += v[t] * zj;
            }
        }
    }
    for (rr, acc) in acc.iter().enumerate() {
        out[(r0 + rr) * INTERLEAVED..][..INTERLEAVED].copy_from_slice(acc);
    }
}

/// `Ok` for a square matrix, else the shape error every square-only routine returns.
pub(crate) fn require_square(a: &Mat) -> Result<(), LinalgError> {
    if a.rows != a.cols {
        return Err(LinalgError::Shape {
            expected: "square".into(),
            got: format!("{}x{}", a.rows, a.cols),
        });
    }
    Ok(())
}

/// Cholesky factor `L` (lower, row-major) of a symmetric positive-definite matrix.
pub fn cholesky(a: &Mat) -> Result<Mat, LinalgError> {
    require_square(a)?;
    let n = a.rows;
    let mut l = Mat::zeros(n, n);
    for j in 0..n {
        let mut d = a.get(j, j);
        for k in 0..j {
            d -= l.get(j, k) * l.get(j, k);
        }
        if d <= 0.0 || !d.is_finite() {
            return Err(LinalgError::NotPositiveDefinite { pivot: j, value: d });
        }
        let d = d.sqrt();
        l.set(j, j, d);
        for i in j + 1..n {
            let mut s = a.get(i, j);
            for k in 0..j {
                s -= l.get(i, k) * l.get(j, k);
            }
            l.set(i, j, s / d);
        }
    }
    Ok(l)
}

/// Solve `A X = B` given the Cholesky factor `L` of `A` (B has any number of columns).
pub fn cholesky_solve(l: &Mat, b: &Mat) -> Mat {
    let n = l.rows;
    assert_eq!(b.rows, n, "cholesky_solve shapes");
    let m = b.cols;
    let mut x = b.clone();
    // forward: L y = b
    for i in 0..n {
        for k in 0..i {
            let lik = l.get(i, k);
            if lik != 0.0 {
                for c in 0..m {
                    let v = x.get(k, c);
                    x.data[i * m + c] -= lik * v;
                }
            }
        }
        let d = l.get(i, i);
        for c in 0..m {
            x.data[i * m + c] /= d;
        }
    }
    // backward: Lᵀ x = y
    for i in (0..n).rev() {
        for k in i + 1..n {
            let lki = l.get(k, i);
            if lki != 0.0 {
                for c in 0..m {
                    let v = x.get(k, c);
                    x.data[i * m + c] -= lki * v;
                }
            }
        }
        let d = l.get(i, i);
        for c in 0..m {
            x.data[i * m + c] /= d;
        }
    }
    x
}

/// Eigen-decomposition of a symmetric matrix: eigenvalues in descending order and the
/// matching unit eigenvectors as the columns of the returned matrix. Each eigenvector's sign
/// is fixed so that its largest-magnitude entry is positive (deterministic output).
pub fn symmetric_eigen(a: &Mat) -> Result<(Vec<f64>, Mat), LinalgError> {
    require_square(a)?;
    let n = a.rows;
    if n == 0 {
        return Ok((vec![], Mat::zeros(0, 0)));
    }
    let mut z = a.clone();
    let mut d = vec![0.0; n];
    let mut e = vec![0.0; n];
    tred2(&mut z, &mut d, &mut e);
    tql(Some(&mut z), &mut d, &mut e)?;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| d[j].total_cmp(&d[i]).then(i.cmp(&j)));
    let vals: Vec<f64> = order.iter().map(|&i| d[i]).collect();
    let mut vecs = Mat::zeros(n, n);
    for (c, &src) in order.iter().enumerate() {
        let sign = sign_of_largest((0..n).map(|r| z.get(r, src)));
        for r in 0..n {
            vecs.set(r, c, sign * z.get(r, src));
        }
    }
    Ok((vals, vecs))
}

/// The sign that makes a vector's largest-magnitude entry positive (the first of entries
/// within 10⁻¹² of the largest): the eigenvector sign convention.
pub(crate) fn sign_of_largest(v: impl IntoIterator<Item = f64>) -> f64 {
    let mut best = 0.0f64;
    let mut sign = 1.0;
    for x in v {
        if x.abs() > best + 1e-12 {
            best = x.abs();
            sign = x.signum();
        }
    }
    sign
}

/// Householder reduction to tridiagonal form (after the EISPACK routine `tred2`).
/// On exit `z` holds the orthogonal transform, `d` the diagonal, `e[1..]` the off-diagonal.
fn tred2(z: &mut Mat, d: &mut [f64], e: &mut [f64]) {
    let n = z.rows;
    for j in 0..n {
        d[j] = z.get(n - 1, j);
    }
    for i in (1..n).rev() {
        let mut scale = 0.0;
        let mut h = 0.0;
        for &dk in d.iter().take(i) {
            scale += dk.abs();
        }
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = z.get(i - 1, j);
                z.set(i, j, 0.0);
                z.set(j, i, 0.0);
            }
        } else {
            for dk in d.iter_mut().take(i) {
                *dk /= scale;
                h += *dk * *dk;
            }
            let f = d[i - 1];
            let mut g = h.sqrt();
            if f > 0.0 {
                g = -g;
            }
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            for ej in e.iter_mut().take(i) {
                *ej = 0.0;
            }
            for j in 0..i {
                let f = d[j];
                z.set(j, i, f);
                let mut g = e[j] + z.get(j, j) * f;
                for k in j + 1..i {
                    g += z.get(k, j) * d[k];
                    e[k] += z.get(k, j) * f;
                }
                e[j] = g;
            }
            let mut f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            for j in 0..i {
                let f = d[j];
                let g = e[j];
                for k in j..i {
                    let v = z.get(k, j) - (f * e[k] + g * d[k]);
                    z.set(k, j, v);
                }
                d[j] = z.get(i - 1, j);
                z.set(i, j, 0.0);
            }
        }
        d[i] = h;
    }
    for i in 0..n - 1 {
        let v = z.get(i, i);
        z.set(n - 1, i, v);
        z.set(i, i, 1.0);
        let h = d[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                d[k] = z.get(k, i + 1) / h;
            }
            for j in 0..=i {
                let mut g = 0.0;
                for k in 0..=i {
                    g += z.get(k, i + 1) * z.get(k, j);
                }
                for k in 0..=i {
                    let v = z.get(k, j) - g * d[k];
                    z.set(k, j, v);
                }
            }
        }
        for k in 0..=i {
            z.set(k, i + 1, 0.0);
        }
    }
    for j in 0..n {
        d[j] = z.get(n - 1, j);
        z.set(n - 1, j, 0.0);
    }
    z.set(n - 1, n - 1, 1.0);
    e[0] = 0.0;
}

/// Implicit QL iterations on the tridiagonal matrix with diagonal `d` and off-diagonal
/// `e[1..]` (after EISPACK `tql2`; `tql1` when `z` is `None`): on exit `d` holds the
/// eigenvalues (unsorted) and, if given, `z`'s columns are rotated into the eigenvectors.
pub(crate) fn tql(
    mut z: Option<&mut Mat>,
    d: &mut [f64],
    e: &mut [f64],
) -> Result<(), LinalgError> {
    let n = d.len();
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let mut f = 0.0;
    let mut tst1: f64 = 0.0;
    let eps = f64::EPSILON;
    for l in 0..n {
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let mut m = l;
        while m < n {
            if e[m].abs() <= eps * tst1 {
                break;
            }
            m += 1;
        }
        if m == n {
            m = n - 1;
        }
        if m > l {
            let mut iter = 0;
            loop {
                iter += 1;
                if iter > 60 {
                    return Err(LinalgError::NoConvergence);
                }
                let mut g = d[l];
                let mut p = (d[l + 1] - g) / (2.0 * e[l]);
                let mut r = p.hypot(1.0);
                if p < 0.0 {
                    r = -r;
                }
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let mut h = g - d[l];
                for di in d.iter_mut().take(n).skip(l + 2) {
                    *di -= h;
                }
                f += h;
                p = d[m];
                let mut c = 1.0;
                let mut c2 = c;
                let mut c3 = c;
                let el1 = e[l + 1];
                let mut s = 0.0;
                let mut s2 = 0.0;
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    g = c * e[i];
                    h = c * p;
                    r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    if let Some(z) = z.as_deref_mut() {
                        for k in 0..n {
                            let zk1 = z.get(k, i + 1);
                            let zk = z.get(k, i);
                            z.set(k, i + 1, s * zk + c * zk1);
                            z.set(k, i, c * zk - s * zk1);
                        }
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                if e[l].abs() <= eps * tst1 {
                    break;
                }
            }
        }
        d[l] += f;
        e[l] = 0.0;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    /// The AVX2 copies have the portable copies' bits (on a CPU without AVX2 both calls take
    /// the portable path and the test holds trivially).
    #[test]
    fn avx2_twins_have_the_portable_bits() {
        let mut rng = crate::numeric::seed::stream(6, "test/wide");
        let mut draw = |n: usize| -> Vec<f64> {
            (0..n)
                .map(|i| {
                    let v: f64 = rand::RngExt::random_range(&mut rng, -1e3..1e3);
                    if i % 7 == 0 {
                        0.0
                    } else {
                        v
                    }
                })
                .collect()
        };
        for (rows, len) in [(1usize, 1usize), (7, 3), (13, 37), (64, 129)] {
            let data: Vec<Vec<f64>> = (0..rows).map(|_| draw(len)).collect();
            let refs: Vec<&[f64]> = data.iter().map(|r| r.as_slice()).collect();
            let b = draw(len);
            let (mut x, mut y) = (vec![0.0; rows], vec![0.0; rows]);
            dots(&refs, &b, &mut x);
            dots_portable(&refs, &b, &mut y);
            let bits = |v: &[f64]| v.iter().map(|t| t.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&x), bits(&y));
            let a = Mat::from_vec(rows, len, data.concat());
            let c = Mat::from_vec(rows, 5, draw(rows * 5));
            let mut want = Mat::zeros(len, 5);
            tmatmul_portable(&a, &c, &mut want);
            assert_eq!(bits(&a.tmatmul(&c).data), bits(&want.data));
            // The mirrored triangle (either copy) has the full product's bits, zeros and all.
            let mut full = Mat::zeros(len, len);
            tmatmul_portable(&a, &a, &mut full);
            assert_eq!(bits(&a.gram_t().data), bits(&full.data));
            let mut upper = Mat::zeros(len, len);
            gram_t_portable(&a, &mut upper);
            for i in 0..len {
                for j in i..len {
                    assert_eq!(upper.get(i, j).to_bits(), full.get(i, j).to_bits());
                }
            }
        }
    }

    #[test]
    fn cholesky_solves_known_system() {
        // A = [[4,2],[2,3]], b = [2,1] -> x = [0.5, 0]
        let a = Mat::from_vec(2, 2, vec![4.0, 2.0, 2.0, 3.0]);
        let l = cholesky(&a).unwrap();
        assert!(close(l.get(0, 0), 2.0, 1e-15));
        assert!(close(l.get(1, 0), 1.0, 1e-15));
        assert!(close(l.get(1, 1), 2f64.sqrt(), 1e-15));
        let x = cholesky_solve(&l, &Mat::from_vec(2, 1, vec![2.0, 1.0]));
        assert!(close(x.get(0, 0), 0.5, 1e-14) && x.get(1, 0).abs() < 1e-14);
    }

    #[test]
    fn cholesky_rejects_indefinite() {
        let a = Mat::from_vec(2, 2, vec![1.0, 2.0, 2.0, 1.0]);
        assert!(matches!(
            cholesky(&a),
            Err(LinalgError::NotPositiveDefinite { pivot: 1, .. })
        ));
    }

    #[test]
    fn eigen_of_known_matrix() {
        // [[2,1],[1,2]] has eigenvalues 3 and 1 with vectors (1,1)/√2 and (1,-1)/√2.
        let a = Mat::from_vec(2, 2, vec![2.0, 1.0, 1.0, 2.0]);
        let (vals, vecs) = symmetric_eigen(&a).unwrap();
        assert!(close(vals[0], 3.0, 1e-14) && close(vals[1], 1.0, 1e-14));
        let s = 0.5f64.sqrt();
        assert!(close(vecs.get(0, 0), s, 1e-12) && close(vecs.get(1, 0), s, 1e-12));
        assert!(close(vecs.get(0, 1).abs(), s, 1e-12));
    }

    #[test]
    fn eigen_reconstructs_random_symmetric() {
        let n = 9;
        let b = Mat::from_fn(n, n, |i, j| ((i * 7 + j * 13) % 11) as f64 - 5.0);
        let a = b.tmatmul(&b);
        let (vals, vecs) = symmetric_eigen(&a).unwrap();
        for i in 0..n {
            for j in 0..n {
                let r: f64 = (0..n)
                    .map(|k| vecs.get(i, k) * vals[k] * vecs.get(j, k))
                    .sum();
                assert!((r - a.get(i, j)).abs() < 1e-9 * (1.0 + a.get(i, j).abs()));
            }
        }
        // orthonormal columns
        let q = vecs.tmatmul(&vecs);
        for i in 0..n {
            for j in 0..n {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((q.get(i, j) - want).abs() < 1e-10);
            }
        }
        assert!(vals.windows(2).all(|w| w[0] >= w[1]));
    }
}
