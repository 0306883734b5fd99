//! The masking ablation's comparisons: how much the arms' selections overlap (Jaccard per seed
//! and round), and whether their predictive performance differs per round (paired Wilcoxon
//! across seeds; Benjamini–Hochberg across the exploratory family of arm pairs × rounds).

use crate::planner::active::{RoundRecord, SelectionRecord};
use crate::stats::{benjamini_hochberg, mean_se, wilcoxon_signed_rank};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Serialize)]
pub struct RoundTest {
    pub round: usize,
    pub seeds: usize,
    /// Mean over seeds of (a − b) in Pearson delta.
    pub mean_difference: f64,
    pub wilcoxon_p: f64,
    pub bh_q: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArmPair {
    pub a: String,
    pub b: String,
    /// Jaccard overlap of the two arms' batches, mean ± SE over (seed, round).
    pub jaccard_mean: f64,
    pub jaccard_se: f64,
    pub batches: usize,
    pub rounds: Vec<RoundTest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ablation {
    pub arms: Vec<String>,
    /// Fraction of each arm's rounds that fell back to the uncertainty order.
    pub fallback_rate: BTreeMap<String, f64>,
    /// Mean shortlist (uncertainty) rank of each LLM arm's picks (0 = most uncertain; the
    /// shortlist is shown in random order, so a mean near (shortlist − 1)/2 means the model
    /// did not just follow the uncertainty ranking).
    pub mean_shortlist_rank: BTreeMap<String, f64>,
    pub pairs: Vec<ArmPair>,
}

pub fn jaccard(a: &BTreeSet<&str>, b: &BTreeSet<&str>) -> f64 {
    let u = a.union(b).count();
    if u == 0 {
        return 1.0;
    }
    a.intersection(b).count() as f64 / u as f64
}

pub fn ablation(
    rounds: &[RoundRecord],
    selections: &[SelectionRecord],
    arms: &[String],
) -> Ablation {
    let mut batches: BTreeMap<(&str, u64, usize), BTreeSet<&str>> = BTreeMap::new();
    let mut fell: BTreeMap<&str, BTreeSet<(u64, usize)>> = BTreeMap::new();
    let mut all_rounds: BTreeMap<&str, BTreeSet<(u64, usize)>> = BTreeMap::new();
    for s in selections {
        batches
            .entry((&s.strategy, s.seed, s.round))
            .or_default()
            .insert(&s.target);
        all_rounds
            .entry(&s.strategy)
            .or_default()
            .insert((s.seed, s.round));
        if s.pick.details.get("llm_fallback").copied() == Some(1.0) {
            fell.entry(&s.strategy)
                .or_default()
                .insert((s.seed, s.round));
        }
    }
    let perf: BTreeMap<(&str, u64, usize), f64> = rounds
        .iter()
        .map(|r| {
            (
                (r.strategy.as_str(), r.seed, r.round),
                r.model.pearson_delta,
            )
        })
        .collect();
    let n_rounds = rounds.iter().map(|r| r.round).max().unwrap_or(0);
    let mut pairs = Vec::new();
    for i in 0..arms.len() {
        for j in i + 1..arms.len() {
            let (a, b) = (arms[i].as_str(), arms[j].as_str());
            let js: Vec<f64> = batches
                .iter()
                .filter(|((s, _, _), _)| *s == a)
                .filter_map(|((_, seed, round), ga)| {
                    batches.get(&(b, *seed, *round)).map(|gb| jaccard(ga, gb))
                })
                .collect();
            let (jm, jse) = mean_se(&js);
            let mut tests = Vec::new();
            for round in 1..=n_rounds {
                let (x, y): (Vec<f64>, Vec<f64>) = perf
                    .iter()
                    .filter(|((s, _, r), _)| *s == a && *r == round)
                    .filter_map(|((_, seed, _), va)| {
                        perf.get(&(b, *seed, round)).map(|vb| (*va, *vb))
                    })
                    .unzip();
                if x.is_empty() {
                    continue;
                }
                let d: Vec<f64> = x.iter().zip(&y).map(|(p, q)| p - q).collect();
                tests.push(RoundTest {
                    round,
                    seeds: x.len(),
                    mean_difference: mean_se(&d).0,
                    wilcoxon_p: wilcoxon_signed_rank(&x, &y).pvalue,
                    bh_q: f64::NAN,
                });
            }
            pairs.push(ArmPair {
                a: a.into(),
                b: b.into(),
                jaccard_mean: jm,
                jaccard_se: jse,
                batches: js.len(),
                rounds: tests,
            });
        }
    }
    let ps: Vec<f64> = pairs
        .iter()
        .flat_map(|p| p.rounds.iter().map(|r| r.wilcoxon_p))
        .collect();
    let qs = benjamini_hochberg(&ps);
    let mut k = 0;
    for p in &mut pairs {
        for r in &mut p.rounds {
            r.bh_q = qs[k];
            k += 1;
        }
    }
    let fallback_rate = arms
        .iter()
        .map(|a| {
            let n = all_rounds.get(a.as_str()).map_or(0, BTreeSet::len);
            let f = fell.get(a.as_str()).map_or(0, BTreeSet::len);
            (
                a.clone(),
                if n > 0 { f as f64 / n as f64 } else { f64::NAN },
            )
        })
        .collect();
    let mut ranks: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for s in selections {
        if let Some(r) = s.pick.details.get("shortlist_rank") {
            if s.pick.details.get("llm_fallback").copied() != Some(1.0) {
                ranks.entry(s.strategy.clone()).or_default().push(*r);
            }
        }
    }
    let mean_shortlist_rank = ranks
        .into_iter()
        .map(|(k, v)| (k, v.iter().sum::<f64>() / v.len() as f64))
        .collect();
    Ablation {
        arms: arms.to_vec(),
        fallback_rate,
        mean_shortlist_rank,
        pairs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaccard_of_sets() {
        let a: BTreeSet<&str> = ["A", "B", "C"].into();
        let b: BTreeSet<&str> = ["B", "C", "D"].into();
        assert_eq!(jaccard(&a, &b), 0.5);
        assert_eq!(jaccard(&a, &a), 1.0);
    }
}
