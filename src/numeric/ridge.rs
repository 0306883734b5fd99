//! Ridge regression with standardised features and an unpenalised intercept.
//!
//! Features are centred and scaled to unit variance on the training rows (constant columns
//! are left at zero), targets are centred, and `W = (XᵀX + λI)⁻¹ XᵀY` is solved by Cholesky;
//! when features outnumber samples the dual form `W = Xᵀ (XXᵀ + λI)⁻¹ Y` is used instead (the
//! two are equal).

use crate::numeric::linalg::{cholesky, cholesky_solve, LinalgError, Mat};

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
            let mut g = xs.tmatmul(&xs);
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
