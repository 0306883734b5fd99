//! Ordinary least squares for the few-column models of judge validity (as statsmodels
//! `OLS(y, X).fit().params`), by Gaussian elimination with partial pivoting on the normal
//! equations: the models have two or three columns, where that is exact enough and needs no
//! linear-algebra crate.

/// Coefficients of y on the columns of `x` (each row one observation; include a column of
/// ones for an intercept). None when the design is singular (a constant regressor, too few
/// rows).
pub fn ols(y: &[f64], x: &[Vec<f64>]) -> Option<Vec<f64>> {
    let k = x.first()?.len();
    if y.len() != x.len() || y.len() < k || k == 0 {
        return None;
    }
    // [XᵀX | Xᵀy]
    let mut a = vec![vec![0.0; k + 1]; k];
    for (row, &yi) in x.iter().zip(y) {
        for i in 0..k {
            for j in 0..k {
                a[i][j] += row[i] * row[j];
            }
            a[i][k] += row[i] * yi;
        }
    }
    let scale = (0..k)
        .map(|i| a[i][i].abs())
        .fold(0.0, f64::max)
        .max(1e-300);
    for c in 0..k {
        let p = (c..k).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() <= 1e-12 * scale {
            return None;
        }
        a.swap(c, p);
        for r in 0..k {
            if r != c {
                let f = a[r][c] / a[c][c];
                for j in c..=k {
                    a[r][j] -= f * a[c][j];
                }
            }
        }
    }
    Some((0..k).map(|i| a[i][k] / a[i][i]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_an_exact_line_and_refuses_a_constant_regressor() {
        let x: Vec<Vec<f64>> = (0..6).map(|i| vec![1.0, i as f64]).collect();
        let y: Vec<f64> = (0..6).map(|i| 2.0 - 0.5 * i as f64).collect();
        let b = ols(&y, &x).unwrap();
        assert!((b[0] - 2.0).abs() < 1e-12 && (b[1] + 0.5).abs() < 1e-12);
        let flat: Vec<Vec<f64>> = (0..6).map(|_| vec![1.0, 3.0]).collect();
        assert!(ols(&y, &flat).is_none());
    }
}
