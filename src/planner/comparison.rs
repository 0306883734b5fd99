//! Predictive performance across seeds: area under the learning curve and paired comparisons of
//! strategies (Wilcoxon signed-rank and exact paired permutation over seeds, Holm-corrected),
//! deciding the best strategy on a pathway; bootstrap CIs of AUC differences, paired TOST
//! equivalence within a declared margin, and a pooled test across pathways.
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
    /// Percentile bootstrap CI of `mean_difference` (seeds resampled; 10,000 draws from the
    /// stream `performance/bootstrap/<a>/<b>`), at the comparison's α.
    pub ci: (f64, f64),
    /// Paired TOST of |a − b| < δ, when a margin is declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equivalence: Option<AucEquivalence>,
}

/// Equivalence of two strategies' AUCs within ±δ.
#[derive(Debug, Clone, Serialize)]
pub struct AucEquivalence {
    pub delta: f64,
    pub p_tost: f64,
    /// equivalent / different (the Wilcoxon test) / inconclusive.
    pub verdict: crate::stats::EquivalenceVerdict,
}

/// Bootstrap resamples of the ΔAUC intervals.
pub const AUC_BOOTSTRAP: usize = 10_000;

impl Comparison {
    /// Declare an equivalence margin δ: every pair gets its paired TOST over seeds and the
    /// three-way verdict at the comparison's α (from per-seed AUCs in `compare_aucs` order).
    pub fn with_margin(mut self, aucs: &[Vec<f64>], strategies: &[String], delta: f64) -> Self {
        for p in &mut self.pairs {
            let (Some(i), Some(j)) = (
                strategies.iter().position(|s| *s == p.a),
                strategies.iter().position(|s| *s == p.b),
            ) else {
                continue;
            };
            let t = crate::stats::tost_paired(&aucs[i], &aucs[j], -delta, delta);
            p.equivalence = Some(AucEquivalence {
                delta,
                p_tost: t.p,
                verdict: crate::stats::EquivalenceVerdict::decide(t.p, p.wilcoxon_p, self.alpha),
            });
        }
        self
    }
}

/// One pair pooled across strata (pathways).
#[derive(Debug, Clone, Serialize)]
pub struct PooledPair {
    pub a: String,
    pub b: String,
    pub strata: usize,
    /// Mean over strata of the stratum's mean difference a − b.
    pub mean_difference: f64,
    /// Stratified sign-flip permutation test over seeds.
    pub p: f64,
    /// Holm across pairs.
    pub holm_p: f64,
}

/// Pooled comparisons across strata: `aucs[s][k][i]` is stratum s, strategy k, seed i (one
/// strategy order throughout).
pub fn pooled(strategies: &[String], aucs: &[Vec<Vec<f64>>]) -> Vec<PooledPair> {
    let mut out = Vec::new();
    let mut rng = crate::numeric::seed::stream(0, "performance/pooled");
    for i in 0..strategies.len() {
        for j in i + 1..strategies.len() {
            let strata: Vec<Vec<f64>> = aucs
                .iter()
                .map(|s| s[i].iter().zip(&s[j]).map(|(x, y)| x - y).collect())
                .collect();
            let means: Vec<f64> = strata
                .iter()
                .filter(|d| !d.is_empty())
                .map(|d| d.iter().sum::<f64>() / d.len() as f64)
                .collect();
            out.push(PooledPair {
                a: strategies[i].clone(),
                b: strategies[j].clone(),
                strata: means.len(),
                mean_difference: means.iter().sum::<f64>() / means.len().max(1) as f64,
                p: crate::stats::stratified_sign_flip_test(&strata, 100_000, &mut rng),
                holm_p: f64::NAN,
            });
        }
    }
    let adj = holm(&out.iter().map(|p| p.p).collect::<Vec<_>>());
    for (p, a) in out.iter_mut().zip(adj) {
        p.holm_p = a;
    }
    out
}

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

impl Direction {
    /// The direction of a metric by name: errors (`…mse…`) are lower-is-better; correlations,
    /// AUROC/AUPRC and accuracies are higher-is-better.
    pub fn of(metric: &str) -> Direction {
        if metric.contains("mse") {
            Direction::LowerIsBetter
        } else {
            Direction::HigherIsBetter
        }
    }

    /// Whether `a` is better than `b` (a strict improvement).
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Direction::HigherIsBetter => a > b,
            Direction::LowerIsBetter => a < b,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub metric: String,
    /// Which way the metric improves; "best" follows it.
    pub direction: Direction,
    /// (strategy, mean AUC, SE) in input order.
    pub auc: Vec<(String, f64, f64)>,
    /// Strategies whose mean AUC is not a number (e.g. an AUROC with one class): flagged,
    /// never ranked.
    pub not_estimable: Vec<String>,
    pub pairs: Vec<PairedComparison>,
    pub best: String,
    pub best_is_significant: bool,
    pub alpha: f64,
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
                ci: crate::stats::paired_bootstrap_ci(
                    &aucs[i],
                    &aucs[j],
                    AUC_BOOTSTRAP,
                    alpha,
                    &mut crate::numeric::seed::stream(
                        0,
                        &format!("performance/bootstrap/{}/{}", strategies[i], strategies[j]),
                    ),
                ),
                equivalence: None,
            });
        }
    }
    let adj = holm(&pairs.iter().map(|p| p.wilcoxon_p).collect::<Vec<_>>());
    for (p, a) in pairs.iter_mut().zip(adj) {
        p.holm_p = a;
    }
    let direction = Direction::of(metric);
    let not_estimable: Vec<String> = auc_summary
        .iter()
        .filter(|a| !a.1.is_finite())
        .map(|a| a.0.clone())
        .collect();
    // The best finite mean AUC in the metric's direction (the first of equals).
    let best = auc_summary
        .iter()
        .filter(|a| a.1.is_finite())
        .fold(None::<&(String, f64, f64)>, |acc, a| match acc {
            Some(b) if !direction.better(a.1, b.1) => Some(b),
            _ => Some(a),
        })
        .map(|b| b.0.clone())
        .unwrap_or_default();
    let best_is_significant = !pairs.is_empty()
        && !best.is_empty()
        && not_estimable.is_empty()
        && pairs
            .iter()
            .filter(|p| p.a == best || p.b == best)
            .all(|p| {
                let better = if p.a == best {
                    direction.better(p.mean_difference, 0.0)
                } else {
                    direction.better(0.0, p.mean_difference)
                };
                better && p.holm_p < alpha
            });
    Comparison {
        metric: metric.to_string(),
        direction,
        auc: auc_summary,
        not_estimable,
        pairs,
        best,
        best_is_significant,
        alpha,
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

    /// "Best" follows the metric's direction, and a NaN AUC is flagged, never the maximum.
    #[test]
    fn best_follows_direction_and_skips_nan() {
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        // 8 seeds; b is clearly highest, a clearly lowest.
        let aucs = vec![
            (0..8).map(|i| 0.10 + 0.001 * i as f64).collect::<Vec<_>>(),
            (0..8).map(|i| 0.90 + 0.002 * i as f64).collect(),
            (0..8).map(|i| 0.50 + 0.003 * i as f64).collect(),
        ];
        let hi = compare_aucs(&names, &aucs, "pearson_delta", 0.05);
        assert_eq!(
            (hi.direction, hi.best.as_str()),
            (Direction::HigherIsBetter, "b")
        );
        assert!(hi.best_is_significant);
        let lo = compare_aucs(&names, &aucs, "top20_mse", 0.05);
        assert_eq!(
            (lo.direction, lo.best.as_str()),
            (Direction::LowerIsBetter, "a")
        );
        assert!(lo.best_is_significant, "a is lowest on every seed");
        let mut with_nan = aucs.clone();
        with_nan[1][3] = f64::NAN;
        let n = compare_aucs(&names, &with_nan, "auroc_de", 0.05);
        assert_eq!(n.not_estimable, vec!["b".to_string()]);
        assert_eq!(n.best, "c", "a NaN is never the best");
        assert!(!n.best_is_significant);
        let json = serde_json::to_value(&lo).unwrap();
        assert_eq!(json["direction"], "lower_is_better");
    }
}
