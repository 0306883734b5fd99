//! The panel statistics of one set of verdicts, computed once as a typed result: `stats`
//! prints it (tables or JSON) and the report renders it, so the two can never disagree.

use crate::judge::preference::{
    agreement, item_scores, position_bias, strengths, strengths_half, summarise, summarise_with,
    Agreement, JudgeBias, Outcome, PairSummary, Strengths, SummaryOptions, Verdict,
};
use serde::Serialize;
use std::collections::BTreeSet;

/// Resampling and testing settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PanelOptions {
    /// Cluster-bootstrap resamples.
    pub resamples: usize,
    pub seed: u64,
    pub alpha: f64,
    /// Win-rate equivalence margins (low, high), when declared.
    pub margin: Option<(f64, f64)>,
}

/// One judge alone on one pair (the exploratory per-judge family).
#[derive(Debug, Clone, Serialize)]
pub struct JudgePair {
    pub judge: String,
    pub s: String,
    pub t: String,
    pub items: usize,
    pub win_rate: f64,
    pub sign_test_p: f64,
    /// Benjamini–Hochberg across every judge × pair.
    pub bh_q: f64,
}

/// Decisive items per pair needed for a true win rate.
#[derive(Debug, Clone, Serialize)]
pub struct ItemsNeeded {
    pub win_rate: f64,
    pub items: Option<u64>,
}

/// The power table.
#[derive(Debug, Clone, Serialize)]
pub struct Power {
    pub pairs: usize,
    pub alpha: f64,
    pub target_power: f64,
    pub method: String,
    pub items_needed: Vec<ItemsNeeded>,
}

/// Everything the panel's verdicts say (field order = `stats --json` key order).
#[derive(Debug, Clone, Serialize)]
pub struct PanelStats {
    pub items: usize,
    pub failures: usize,
    pub pairs: Vec<PairSummary>,
    pub bradley_terry: Strengths,
    pub bradley_terry_tie_half: Strengths,
    pub power: Power,
    pub agreement: Agreement,
    pub position_bias: Vec<JudgeBias>,
    pub per_judge: Vec<JudgePair>,
    /// Independent trajectories behind all items (when the verdicts name them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trajectories: Option<usize>,
    /// The pre-registered primary judged round: the first selection round, where every
    /// strategy chose from the same state (when the verdicts name their contexts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<PrimaryRound>,
    /// Failure rates per judge across strategy pairs (a judge failing more on one pair's
    /// batches biases that pair's win rate).
    pub missingness: Vec<Missingness>,
}

/// The pairs on the primary judged round alone.
#[derive(Debug, Clone, Serialize)]
pub struct PrimaryRound {
    pub round: u64,
    pub items: usize,
    pub pairs: Vec<PairSummary>,
}

/// One judge's failures on one strategy pair.
#[derive(Debug, Clone, Serialize)]
pub struct PairFailures {
    pub s: String,
    pub t: String,
    pub verdicts: usize,
    pub failures: usize,
    pub rate: f64,
}

/// Informative missingness of one judge: failure rates per pair and Pearson's χ² test of
/// homogeneity across pairs (`scipy.stats.chi2_contingency(correction=False)`; NaN with
/// fewer than two pairs or no failures at all).
#[derive(Debug, Clone, Serialize)]
pub struct Missingness {
    pub judge: String,
    pub pairs: Vec<PairFailures>,
    pub chi2: f64,
    pub df: usize,
    pub p: f64,
}

type PairCounts = std::collections::BTreeMap<(String, String), (usize, usize)>;

/// Failure rates per judge and pair, with the χ² test across pairs.
pub fn missingness(verdicts: &[Verdict]) -> Vec<Missingness> {
    // judge → pair → (verdicts, failures)
    let mut m: std::collections::BTreeMap<&str, PairCounts> = Default::default();
    for v in verdicts {
        let key = if v.strategy_a < v.strategy_b {
            (v.strategy_a.clone(), v.strategy_b.clone())
        } else {
            (v.strategy_b.clone(), v.strategy_a.clone())
        };
        let e = m.entry(&v.judge).or_default().entry(key).or_default();
        e.0 += 1;
        e.1 += (v.winner == Outcome::Failure) as usize;
    }
    m.into_iter()
        .map(|(judge, pairs)| {
            let table: Vec<[f64; 2]> = pairs
                .values()
                .map(|&(n, f)| [f as f64, (n - f) as f64])
                .collect();
            let (chi2, df, p) = crate::stats::chi2_homogeneity(&table);
            Missingness {
                judge: judge.to_string(),
                pairs: pairs
                    .into_iter()
                    .map(|((s, t), (n, f))| PairFailures {
                        s,
                        t,
                        verdicts: n,
                        failures: f,
                        rate: f as f64 / n as f64,
                    })
                    .collect(),
                chi2,
                df,
                p,
            }
        })
        .collect()
}

/// The true win rates of the power table.
pub const POWER_WIN_RATES: [f64; 5] = [0.6, 0.65, 0.7, 0.75, 0.8];

/// Compute every panel statistic of `verdicts`.
pub fn panel_stats(verdicts: &[Verdict], o: &PanelOptions) -> PanelStats {
    let items = item_scores(verdicts);
    let so = SummaryOptions {
        resamples: o.resamples,
        seed: o.seed,
        alpha: o.alpha,
        margin: o.margin,
    };
    let pairs = summarise_with(&items, &so);
    let trajectories = items
        .iter()
        .map(|i| i.trajectory.as_deref())
        .collect::<Option<BTreeSet<&str>>>()
        .map(|t| t.len());
    let rounds: Option<Vec<u64>> = items
        .iter()
        .map(|i| i.context.as_deref().and_then(crate::judge::round_of))
        .collect();
    let primary = rounds.and_then(|r| {
        let first = *r.iter().min()?;
        let on: Vec<_> = items
            .iter()
            .zip(&r)
            .filter(|(_, &k)| k == first)
            .map(|(i, _)| i.clone())
            .collect();
        Some(PrimaryRound {
            round: first,
            items: on.len(),
            pairs: summarise_with(&on, &so),
        })
    });
    // Exploratory family: every judge alone on every pair, Benjamini–Hochberg across it.
    let judges: BTreeSet<&String> = verdicts.iter().map(|v| &v.judge).collect();
    let mut per_judge = Vec::new();
    for j in &judges {
        let vs: Vec<_> = verdicts
            .iter()
            .filter(|v| &v.judge == *j)
            .cloned()
            .collect();
        for p in summarise(&item_scores(&vs), o.resamples, o.seed, o.alpha) {
            per_judge.push((j.to_string(), p));
        }
    }
    let bh = crate::stats::benjamini_hochberg(
        &per_judge
            .iter()
            .map(|(_, p)| p.sign_test_p)
            .collect::<Vec<_>>(),
    );
    let per_judge = per_judge
        .into_iter()
        .zip(bh)
        .map(|((judge, p), bh_q)| JudgePair {
            judge,
            s: p.s,
            t: p.t,
            items: p.items,
            win_rate: p.win_rate,
            sign_test_p: p.sign_test_p,
            bh_q,
        })
        .collect();
    let items_needed = POWER_WIN_RATES
        .iter()
        .map(|&w| ItemsNeeded {
            win_rate: w,
            items: crate::stats::items_needed(w, o.alpha, pairs.len().max(1), 0.8, 100_000),
        })
        .collect();
    PanelStats {
        items: items.len(),
        failures: items.iter().map(|i| i.failures).sum(),
        bradley_terry: strengths(&items, o.resamples, o.seed, o.alpha),
        bradley_terry_tie_half: strengths_half(&items, o.resamples, o.seed, o.alpha),
        power: Power {
            pairs: pairs.len(),
            alpha: o.alpha,
            target_power: 0.8,
            method: "exact two-sided sign test at Holm's first step (alpha / pairs); decisive items per pair".into(),
            items_needed,
        },
        pairs,
        agreement: agreement(verdicts, o.resamples, o.seed, o.alpha),
        position_bias: position_bias(verdicts),
        per_judge,
        trajectories,
        primary,
        missingness: missingness(verdicts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(item: usize, a: &str, b: &str, fail: bool) -> Verdict {
        Verdict {
            item: format!("{a}{b}{item}"),
            judge: "j".into(),
            order: "1".into(),
            strategy_a: a.into(),
            strategy_b: b.into(),
            winner: if fail { Outcome::Failure } else { Outcome::A },
            trajectory: None,
            context: None,
        }
    }

    /// A judge that fails on one pair's batches is flagged; one that fails evenly is not.
    #[test]
    fn missingness_flags_a_pair_dependent_failure_rate() {
        let planted: Vec<Verdict> = (0..60)
            .map(|i| v(i, "llm", "random", i % 3 == 0))
            .chain((0..60).map(|i| v(i, "bald", "random", i % 30 == 0)))
            .collect();
        let m = missingness(&planted);
        assert!(m[0].p < 0.001, "{:?}", m[0]);
        let even: Vec<Verdict> = (0..60)
            .map(|i| v(i, "llm", "random", i % 6 == 0))
            .chain((0..60).map(|i| v(i, "bald", "random", i % 6 == 1)))
            .collect();
        assert!(missingness(&even)[0].p > 0.5);
    }
}
