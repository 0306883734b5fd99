//! Contingency tables: Pearson's χ² test of homogeneity of rows (as
//! `scipy.stats.chi2_contingency(table, correction=False)`).

use statrs::distribution::{ChiSquared, ContinuousCDF};

/// χ² statistic, degrees of freedom and p for the homogeneity of the rows of `table`
/// (rows × 2 counts). Rows and columns with a zero total are dropped first (they carry no
/// information and scipy refuses zero expected counts); NaN p when fewer than two rows or two
/// columns remain.
pub fn chi2_homogeneity(table: &[[f64; 2]]) -> (f64, usize, f64) {
    let rows: Vec<&[f64; 2]> = table.iter().filter(|r| r[0] + r[1] > 0.0).collect();
    let col = [
        rows.iter().map(|r| r[0]).sum::<f64>(),
        rows.iter().map(|r| r[1]).sum::<f64>(),
    ];
    if rows.len() < 2 || col[0] == 0.0 || col[1] == 0.0 {
        return (f64::NAN, 0, f64::NAN);
    }
    let total = col[0] + col[1];
    let mut chi2 = 0.0;
    for r in &rows {
        let n = r[0] + r[1];
        for (c, &obs) in r.iter().enumerate() {
            let e = n * col[c] / total;
            chi2 += (obs - e).powi(2) / e;
        }
    }
    let df = rows.len() - 1;
    let p = ChiSquared::new(df as f64).expect("df ≥ 1").sf(chi2);
    (chi2, df, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_rates_give_zero_and_no_failures_give_nan() {
        let (c, df, p) = chi2_homogeneity(&[[2.0, 8.0], [4.0, 16.0]]);
        assert!(c.abs() < 1e-12 && df == 1 && (p - 1.0).abs() < 1e-12);
        assert!(chi2_homogeneity(&[[0.0, 8.0], [0.0, 16.0]]).2.is_nan());
        assert!(chi2_homogeneity(&[[1.0, 8.0]]).2.is_nan());
    }
}
