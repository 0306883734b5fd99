//! Ridge regression with standardised features and an unpenalised intercept.
//!
//! Features are centred and scaled to unit variance on the training rows (constant columns
//! are left at zero), targets are centred, and `W = (XᵀX + λI)⁻¹ XᵀY` is solved by Cholesky;
//! when features outnumber samples the dual form `W = Xᵀ (XXᵀ + λI)⁻¹ Y` is used instead (the
//! two are equal).

use crate::numeric::linalg::{cholesky, cholesky_solve, symmetric_eigen, LinalgError, Mat};

/// The penalties [`Ridge::fit_loo`] chooses from: 10^-2 … 10^4 in half decades.
pub const LOO_GRID: [f64; 13] = [
    0.01,
    0.031_622_776_601_683_79,
    0.1,
    0.316_227_766_016_837_94,
    1.0,
    3.162_277_660_168_379,
    10.0,
    31.622_776_601_683_793,
    100.0,
    316.227_766_016_837_9,
    1000.0,
    3_162.277_660_168_379,
    10000.0,
];

/// A ridge fit whose penalty was chosen by exact leave-one-out cross-validation.
#[derive(Debug, Clone)]
pub struct LooRidge {
    pub ridge: Ridge,
    /// The chosen penalty.
    pub lambda: f64,
    /// Mean squared leave-one-out error (summed over targets, averaged over rows) per grid
    /// penalty.
    pub loo_mse: Vec<f64>,
}

#[derive(Debug, Clone)]
pub struct Ridge {
    pub x_mean: Vec<f64>,
    pub x_scale: Vec<f64>,
    pub y_mean: Vec<f64>,
    /// d × k coefficients on the standardised features.
    pub coef: Mat,
}

impl Ridge {
    pub fn fit(x: &Mat, y: &Mat, lambda: f64) -> Result<Ridge, LinalgError> {
        if x.rows != y.rows {
            return Err(LinalgError::Shape {
                expected: format!("{} rows", x.rows),
                got: format!("{} rows", y.rows),
            });
        }
        let (n, d, k) = (x.rows, x.cols, y.cols);
        let nf = n.max(1) as f64;
        let mut x_mean = vec![0.0; d];
        for i in 0..n {
            for (m, v) in x_mean.iter_mut().zip(x.row(i)) {
                *m += v / nf;
            }
        }
        let mut x_scale = vec![0.0; d];
        for i in 0..n {
            for j in 0..d {
                let c = x.get(i, j) - x_mean[j];
                x_scale[j] += c * c / nf;
            }
        }
        for s in x_scale.iter_mut() {
            *s = if *s > 1e-24 { s.sqrt() } else { 0.0 };
        }
        let mut y_mean = vec![0.0; k];
        for i in 0..n {
            for (m, v) in y_mean.iter_mut().zip(y.row(i)) {
                *m += v / nf;
            }
        }
        let xs = Mat::from_fn(n, d, |i, j| {
            if x_scale[j] > 0.0 {
                (x.get(i, j) - x_mean[j]) / x_scale[j]
            } else {
                0.0
            }
        });
        let yc = Mat::from_fn(n, k, |i, j| y.get(i, j) - y_mean[j]);
        let coef = if d <= n {
            let mut g = xs.gram_t();
            for j in 0..d {
                g.data[j * d + j] += lambda;
            }
            cholesky_solve(&cholesky(&g)?, &xs.tmatmul(&yc))
        } else {
            let mut g = xs.matmul(&xs.transpose());
            for i in 0..n {
                g.data[i * n + i] += lambda;
            }
            xs.tmatmul(&cholesky_solve(&cholesky(&g)?, &yc))
        };
        Ok(Ridge {
            x_mean,
            x_scale,
            y_mean,
            coef,
        })
    }

    /// Choose λ from `grid` by exact leave-one-out error and fit with it.
    ///
    /// With standardised features `X` (n × d) and `XᵀX = V D Vᵀ`, the hat matrix of the
    /// centred fit is `H = 11ᵀ/n + P (D + λ)⁻¹ Pᵀ` with `P = XV`, and the leave-one-out residual
    /// of row i is `eᵢ / (1 − Hᵢᵢ)` (the closed form for linear smoothers), so every grid point
    /// costs one pass over the rows. (The standardisation is done once on all rows, as is
    /// usual for this shortcut.) The smallest error wins; ties go to the larger penalty.
    pub fn fit_loo(x: &Mat, y: &Mat, grid: &[f64]) -> Result<LooRidge, LinalgError> {
        let base = Ridge::fit(x, y, grid.first().copied().unwrap_or(1.0))?;
        let (n, d, k) = (x.rows, x.cols, y.cols);
        let xs = Mat::from_fn(n, d, |i, j| {
            if base.x_scale[j] > 0.0 {
                (x.get(i, j) - base.x_mean[j]) / base.x_scale[j]
            } else {
                0.0
            }
        });
        let yc = Mat::from_fn(n, k, |i, j| y.get(i, j) - base.y_mean[j]);
        let (dvals, v) = symmetric_eigen(&xs.gram_t())?;
        let p = xs.matmul(&v);
        let b = p.tmatmul(&yc);
        let nf = n.max(1) as f64;
        let mut loo_mse = Vec::with_capacity(grid.len());
        // `fitted(i, c) = Σ_j (p_ij s_j) b_jc`, j ascending: with `ps = p_i ∘ s` and the columns
        // of `b` stored as rows, each is one `dot` (four at a time, `dots`: the same products
        // in the same order as the plain sum, so the same bits) on contiguous memory.
        let bt = b.transpose();
        let bt_rows: Vec<&[f64]> = (0..k).map(|c| bt.row(c)).collect();
        let mut ps = vec![0.0; d];
        let mut fitted = vec![0.0; k];
        for &lambda in grid {
            let shrink: Vec<f64> = dvals
                .iter()
                .map(|dv| 1.0 / (dv.max(0.0) + lambda))
                .collect();
            let mut sse = 0.0;
            for i in 0..n {
                let pi = p.row(i);
                let h = 1.0 / nf + pi.iter().zip(&shrink).map(|(a, s)| a * a * s).sum::<f64>();
                let denom = (1.0 - h).max(1e-12);
                for ((x, a), s) in ps.iter_mut().zip(pi).zip(&shrink) {
                    *x = a * s;
                }
                crate::numeric::linalg::dots(&bt_rows, &ps, &mut fitted);
                for (c, f) in fitted.iter().enumerate() {
                    sse += ((yc.get(i, c) - f) / denom).powi(2);
                }
            }
            loo_mse.push(sse / nf);
        }
        let mut best = 0;
        for (i, e) in loo_mse.iter().enumerate() {
            if *e <= loo_mse[best] {
                best = i;
            }
        }
        let lambda = grid[best];
        Ok(LooRidge {
            ridge: Ridge::fit(x, y, lambda)?,
            lambda,
            loo_mse,
        })
    }

    /// Predict one row of features.
    pub fn predict_row(&self, x: &[f64], out: &mut [f64]) {
        out.copy_from_slice(&self.y_mean);
        for (j, &v) in x.iter().enumerate() {
            if self.x_scale[j] == 0.0 {
                continue;
            }
            let z = (v - self.x_mean[j]) / self.x_scale[j];
            if z == 0.0 {
                continue;
            }
            for (o, c) in out.iter_mut().zip(self.coef.row(j)) {
                *o += z * c;
            }
        }
    }

    pub fn predict(&self, x: &Mat) -> Mat {
        let mut out = Mat::zeros(x.rows, self.y_mean.len());
        for i in 0..x.rows {
            let mut row = vec![0.0; self.y_mean.len()];
            self.predict_row(x.row(i), &mut row);
            out.row_mut(i).copy_from_slice(&row);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_feature_closed_form() {
        // x = [1,2,3], y = [2,4,7]: standardised x = [-1,0,1]·√(3/2), Σz² = 3.
        // w = Σ z·yc / (Σz² + λ); yc = [-7/3, -1/3, 8/3]; Σ z·yc = √1.5 · 5.
        let x = Mat::from_vec(3, 1, vec![1.0, 2.0, 3.0]);
        let y = Mat::from_vec(3, 1, vec![2.0, 4.0, 7.0]);
        let lambda = 0.5;
        let r = Ridge::fit(&x, &y, lambda).unwrap();
        let want = 1.5f64.sqrt() * 5.0 / (3.0 + lambda);
        assert!((r.coef.get(0, 0) - want).abs() < 1e-12);
        assert!((r.y_mean[0] - 13.0 / 3.0).abs() < 1e-12);
        let p = r.predict(&Mat::from_vec(1, 1, vec![2.0]));
        assert!((p.get(0, 0) - 13.0 / 3.0).abs() < 1e-12);
    }

    /// The closed-form leave-one-out error equals refitting without each row (with the
    /// standardisation held fixed, as the shortcut assumes: a planted design with
    /// standardised columns), and the chosen penalty tracks the noise: small for a clean
    /// linear signal, large for pure noise.
    #[test]
    fn loo_shortcut_matches_refitting_and_chooses_sensibly() {
        use crate::numeric::seed::stream;
        use rand::RngExt;
        let mut rng = stream(5, "loo");
        let n = 40;
        let d = 3;
        let x = Mat::from_vec(
            n,
            d,
            (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect(),
        );
        let clean = Mat::from_fn(n, 2, |i, c| x.get(i, 0) * (c as f64 + 1.0) - x.get(i, 2));
        let noise = Mat::from_vec(
            n,
            2,
            (0..n * 2).map(|_| rng.random_range(-1.0..1.0)).collect(),
        );
        // Refit check at one penalty, on standardised features (fixed standardisation).
        let fit = Ridge::fit(&x, &clean, 1.0).unwrap();
        let xs = Mat::from_fn(n, d, |i, j| (x.get(i, j) - fit.x_mean[j]) / fit.x_scale[j]);
        let y = Mat::from_fn(n, 2, |i, c| clean.get(i, c) + 0.3 * noise.get(i, c));
        let loo = Ridge::fit_loo(&xs, &y, &[1.0]).unwrap();
        let mut sse = 0.0;
        for out in 0..n {
            let rows: Vec<usize> = (0..n).filter(|&r| r != out).collect();
            let xr = Mat::from_fn(n - 1, d, |r, j| xs.get(rows[r], j));
            let yr = Mat::from_fn(n - 1, 2, |r, c| y.get(rows[r], c));
            // Unstandardised refit on already-standardised columns: centre only.
            let m: Vec<f64> = (0..d)
                .map(|j| (0..n - 1).map(|r| xr.get(r, j)).sum::<f64>() / (n - 1) as f64)
                .collect();
            let ym: Vec<f64> = (0..2)
                .map(|c| (0..n - 1).map(|r| yr.get(r, c)).sum::<f64>() / (n - 1) as f64)
                .collect();
            let xc = Mat::from_fn(n - 1, d, |r, j| xr.get(r, j) - m[j]);
            let yc = Mat::from_fn(n - 1, 2, |r, c| yr.get(r, c) - ym[c]);
            let mut g = xc.tmatmul(&xc);
            for j in 0..d {
                g.data[j * d + j] += 1.0;
            }
            let w = cholesky_solve(&cholesky(&g).unwrap(), &xc.tmatmul(&yc));
            for c in 0..2 {
                let pred = ym[c]
                    + (0..d)
                        .map(|j| (xs.get(out, j) - m[j]) * w.get(j, c))
                        .sum::<f64>();
                sse += (y.get(out, c) - pred).powi(2);
            }
        }
        // The refit above centres on n−1 rows; the shortcut is exact for that.
        assert!(
            (loo.loo_mse[0] - sse / n as f64).abs() < 1e-9 * (1.0 + sse),
            "{} vs {}",
            loo.loo_mse[0],
            sse / n as f64
        );
        let sharp = Ridge::fit_loo(&x, &clean, &LOO_GRID).unwrap();
        let vague = Ridge::fit_loo(&x, &noise, &LOO_GRID).unwrap();
        assert!(
            sharp.lambda <= 0.1,
            "clean signal chose λ = {}",
            sharp.lambda
        );
        assert!(
            vague.lambda >= 10.0,
            "pure noise chose λ = {}",
            vague.lambda
        );
    }

    #[test]
    fn primal_equals_dual() {
        // 3 samples × 5 features (dual) against the explicit primal formula.
        let x = Mat::from_fn(3, 5, |i, j| ((i * 3 + j * 7) % 5) as f64 + 0.1 * i as f64);
        let y = Mat::from_fn(3, 2, |i, j| {
            (i as f64 - 1.0) * (j as f64 + 1.0) + 0.3 * (i * i) as f64
        });
        let lambda = 0.7;
        let r = Ridge::fit(&x, &y, lambda).unwrap();
        let xs = Mat::from_fn(3, 5, |i, j| {
            if r.x_scale[j] > 0.0 {
                (x.get(i, j) - r.x_mean[j]) / r.x_scale[j]
            } else {
                0.0
            }
        });
        let yc = Mat::from_fn(3, 2, |i, j| y.get(i, j) - r.y_mean[j]);
        let mut g = xs.tmatmul(&xs);
        for j in 0..5 {
            g.data[j * 5 + j] += lambda;
        }
        let w = cholesky_solve(&cholesky(&g).unwrap(), &xs.tmatmul(&yc));
        for (a, b) in w.data.iter().zip(&r.coef.data) {
            assert!((a - b).abs() < 1e-10, "{a} vs {b}");
        }
    }

    #[test]
    fn recovers_exact_linear_map_as_lambda_vanishes() {
        let x = Mat::from_fn(20, 2, |i, j| {
            ((i * (j + 2)) % 7) as f64 + (i as f64) * 0.1 * j as f64
        });
        let y = Mat::from_fn(20, 1, |i, _| 3.0 + 2.0 * x.get(i, 0) - 0.5 * x.get(i, 1));
        let r = Ridge::fit(&x, &y, 1e-9).unwrap();
        let p = r.predict(&x);
        for i in 0..20 {
            assert!((p.get(i, 0) - y.get(i, 0)).abs() < 1e-6);
        }
    }
}
