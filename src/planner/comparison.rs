//! Predictive performance across seeds: area under the learning curve and paired comparisons of
//! strategies (Wilcoxon signed-rank and exact paired permutation over seeds, Holm-corrected),
//! deciding the best strategy on a pathway.
//!
//! AUC is the trapezoid area of the metric over rounds 0..R divided by R (so it is on the
//! metric's own scale). The best strategy has the highest mean AUC; it is *significantly* best
//! only when its Holm-adjusted Wilcoxon p-value against every other strategy is below α. Note
//! that with n seeds the smallest two-sided exact p-value is 2/2ⁿ (0.0625 for 5 seeds).

use crate::planner::active::RoundRecord;
use crate::stats::{holm, paired_permutation_test, wilcoxon_signed_rank};
use serde::Serialize;

/// Trapezoid AUC of `values` at rounds 0..R, divided by R (the single value when R = 0).
pub fn auc(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return values.first().copied().unwrap_or(f64::NAN);
    }
    let area: f64 = values.windows(2).map(|w| (w[0] + w[1]) / 2.0).sum();
    area / (values.len() - 1) as f64
}

#[derive(Debug, Clone, Serialize)]
pub struct PairedComparison {
    pub a: String,
    pub b: String,
    pub n_seeds: usize,
    pub mean_difference: f64,
    pub wilcoxon_p: f64,
    pub permutation_p: f64,
    pub holm_p: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub metric: String,
    /// (strategy, mean AUC, SE) in input order.
    pub auc: Vec<(String, f64, f64)>,
    pub pairs: Vec<PairedComparison>,
    pub best: String,
    pub best_is_significant: bool,
}

/// Compare strategies on one metric from the loop's round records.
pub fn compare(
    records: &[RoundRecord],
    strategies: &[String],
    metric: &str,
    f: impl Fn(&RoundRecord) -> f64,
    alpha: f64,
) -> Comparison {
    let seeds: Vec<u64> = {
        let mut s: Vec<u64> = records.iter().map(|r| r.seed).collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    let per_seed = |st: &str| -> Vec<f64> {
        seeds
            .iter()
            .map(|&seed| {
                let mut rs: Vec<&RoundRecord> = records
                    .iter()
                    .filter(|r| r.seed == seed && r.strategy == st)
                    .collect();
                rs.sort_by_key(|r| r.round);
                auc(&rs.iter().map(|r| f(r)).collect::<Vec<_>>())
            })
            .collect()
    };
    let aucs: Vec<Vec<f64>> = strategies.iter().map(|s| per_seed(s)).collect();
    compare_aucs(strategies, &aucs, metric, alpha)
}

/// Compare strategies from their per-seed AUCs (`aucs[k][i]`: strategy k, seed i; the same
/// seed order for every strategy).
pub fn compare_aucs(
    strategies: &[String],
    aucs: &[Vec<f64>],
    metric: &str,
    alpha: f64,
) -> Comparison {
    let n_seeds = aucs.first().map_or(0, Vec::len);
    let auc_summary: Vec<(String, f64, f64)> = strategies
        .iter()
        .zip(aucs)
        .map(|(s, v)| {
            let (m, se) = crate::stats::mean_se(v);
            (s.clone(), m, se)
        })
        .collect();
    let mut pairs = Vec::new();
    let mut rng = crate::numeric::seed::stream(0, "performance/permutation");
    for i in 0..strategies.len() {
        for j in i + 1..strategies.len() {
            let w = wilcoxon_signed_rank(&aucs[i], &aucs[j]);
            let d: f64 = aucs[i]
                .iter()
                .zip(&aucs[j])
                .map(|(a, b)| a - b)
                .sum::<f64>()
                / n_seeds as f64;
            pairs.push(PairedComparison {
                a: strategies[i].clone(),
                b: strategies[j].clone(),
                n_seeds,
                mean_difference: d,
                wilcoxon_p: if w.pvalue.is_nan() { 1.0 } else { w.pvalue },
                permutation_p: paired_permutation_test(&aucs[i], &aucs[j], 100_000, &mut rng),
                holm_p: f64::NAN,
            });
        }
    }
    let adj = holm(&pairs.iter().map(|p| p.wilcoxon_p).collect::<Vec<_>>());
    for (p, a) in pairs.iter_mut().zip(adj) {
        p.holm_p = a;
    }
    let best = auc_summary
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|b| b.0.clone())
        .unwrap_or_default();
    let best_is_significant = !pairs.is_empty()
        && pairs
            .iter()
            .filter(|p| p.a == best || p.b == best)
            .all(|p| {
                let better = if p.a == best {
                    p.mean_difference > 0.0
                } else {
                    p.mean_difference < 0.0
                };
                better && p.holm_p < alpha
            });
    Comparison {
        metric: metric.to_string(),
        auc: auc_summary,
        pairs,
        best,
        best_is_significant,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_is_mean_trapezoid() {
        assert_eq!(auc(&[0.0, 1.0]), 0.5);
        assert!((auc(&[0.2, 0.4, 0.4]) - 0.35).abs() < 1e-15);
        assert_eq!(auc(&[0.7]), 0.7);
    }
}
