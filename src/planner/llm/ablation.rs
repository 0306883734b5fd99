//! The LLM controls' comparisons: how much the arms' selections overlap (Jaccard per seed
//! and round), and whether their predictive performance differs per round (paired Wilcoxon
//! across seeds; Benjamini–Hochberg across the exploratory family of arm pairs × rounds).
//!
//! Each control arm is also tested against the full arm on the area under the learning curve
//! (paired Wilcoxon across seeds): the test `validate planner` calibrates (a memoriser must be
//! flagged by masking, a feedback user by permutation, and their opposites not). Beside the
//! tests: leak checks passed, the de-masking probe's recovery rate, and per round the share of
//! invalid answers and of gene names that were not on the shortlist.

use crate::planner::active::{RoundRecord, SelectionRecord};
use crate::stats::{benjamini_hochberg, mean_se, wilcoxon_signed_rank};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// JSON has no NaN: serde_json writes it as `null`; read `null` back as NaN.
fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn map_f64_or_nan<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, f64>, D::Error> {
    Ok(BTreeMap::<String, Option<f64>>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or(f64::NAN)))
        .collect())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoundTest {
    pub round: usize,
    pub seeds: usize,
    /// Mean over seeds of (a − b) in Pearson delta.
    #[serde(deserialize_with = "f64_or_nan")]
    pub mean_difference: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub wilcoxon_p: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub bh_q: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArmPair {
    pub a: String,
    pub b: String,
    /// Jaccard overlap of the two arms' batches, mean ± SE over (seed, round).
    #[serde(deserialize_with = "f64_or_nan")]
    pub jaccard_mean: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub jaccard_se: f64,
    pub batches: usize,
    pub rounds: Vec<RoundTest>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ablation {
    pub arms: Vec<String>,
    /// Fraction of each arm's rounds that fell back to the uncertainty order.
    #[serde(deserialize_with = "map_f64_or_nan")]
    pub fallback_rate: BTreeMap<String, f64>,
    /// Mean shortlist (uncertainty) rank of each LLM arm's picks (0 = most uncertain; the
    /// shortlist is shown in random order, so a mean near (shortlist − 1)/2 means the model
    /// did not just follow the uncertainty ranking).
    #[serde(deserialize_with = "map_f64_or_nan")]
    pub mean_shortlist_rank: BTreeMap<String, f64>,
    pub pairs: Vec<ArmPair>,
    /// Each control arm against `llm` on the per-seed AUC of pearson_delta.
    #[serde(default)]
    pub controls: Vec<ControlTest>,
    /// Prompts that passed the leak check before sending, per arm.
    #[serde(default)]
    pub leak_checks: BTreeMap<String, usize>,
    /// The de-masking probe per identity-hiding arm (absent when not asked).
    #[serde(default)]
    pub probe: BTreeMap<String, ProbeRate>,
    /// Per arm and round: answers, invalid answers, gene names, names not on the shortlist.
    #[serde(default)]
    pub answers: BTreeMap<String, Vec<RoundAnswers>>,
    /// With `--llm-samples K`: the LLM's own spread per arm beside the spread over seeds.
    #[serde(default)]
    pub samples: BTreeMap<String, SampleSpread>,
}

/// The spread of an arm's answers to the same state against the spread over seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleSpread {
    /// (seed, round) states sampled.
    pub states: usize,
    /// Mean valid batches per state (the acted-on one included).
    #[serde(deserialize_with = "f64_or_nan")]
    pub mean_valid: f64,
    /// Mean pairwise Jaccard of the batches drawn at one state.
    #[serde(deserialize_with = "f64_or_nan")]
    pub mean_jaccard: f64,
    /// Mean over states of the SD of pearson_delta after acquiring each drawn batch.
    #[serde(deserialize_with = "f64_or_nan")]
    pub outcome_sd_within_state: f64,
    /// Mean over rounds of the SD across seeds of pearson_delta (the seed variance).
    #[serde(deserialize_with = "f64_or_nan")]
    pub outcome_sd_across_seeds: f64,
}

/// What a control arm is designed to detect (`arm` or `arm@backbone`).
pub fn control_kind(arm: &str) -> &'static str {
    match arm.split('@').next().unwrap_or(arm) {
        "llm-masked" => "identity masking (symbols, aliases, names hidden)",
        "llm-names" => "symbol masking (full names kept)",
        "llm-symbols" => "annotations removed",
        "llm-shuffled" => "annotations shuffled across candidates",
        "llm-permuted" => "feedback: outcomes permuted across acquired genes",
        "llm-zeroshot" => "feedback: no outcomes shown",
        _ => "other",
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControlTest {
    pub control: String,
    pub reference: String,
    pub detects: String,
    pub seeds: usize,
    #[serde(deserialize_with = "f64_or_nan")]
    pub auc_reference: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub auc_control: f64,
    /// Mean over seeds of AUC(reference) − AUC(control).
    #[serde(deserialize_with = "f64_or_nan")]
    pub mean_difference: f64,
    /// Two-sided paired Wilcoxon across seeds (1 when every difference is zero).
    #[serde(deserialize_with = "f64_or_nan")]
    pub wilcoxon_p: f64,
    /// Per-seed AUC(reference) − AUC(control), in seed order (for equivalence tests).
    #[serde(default)]
    pub differences: Vec<f64>,
}

impl ControlTest {
    /// TOST of |Δ| < δ over seeds and the three-way verdict against the Wilcoxon test.
    pub fn equivalence(&self, delta: f64, alpha: f64) -> (f64, crate::stats::EquivalenceVerdict) {
        let p = crate::stats::tost_mean(&self.differences, -delta, delta).p;
        (
            p,
            crate::stats::EquivalenceVerdict::decide(p, self.wilcoxon_p, alpha),
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeRate {
    pub asked: usize,
    pub recovered: usize,
    #[serde(deserialize_with = "f64_or_nan")]
    pub rate: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoundAnswers {
    pub round: usize,
    pub batches: usize,
    pub answers: usize,
    pub invalid: usize,
    pub named: usize,
    pub unknown: usize,
    /// invalid / answers.
    #[serde(deserialize_with = "f64_or_nan")]
    pub invalid_rate: f64,
    /// unknown / named: genes the model named that were not on its shortlist.
    #[serde(deserialize_with = "f64_or_nan")]
    pub hallucinated_rate: f64,
}

/// Per-seed AUC of pearson_delta for each (strategy, seed).
pub fn seed_aucs(rounds: &[RoundRecord]) -> BTreeMap<(String, u64), f64> {
    let mut curves: BTreeMap<(String, u64), Vec<(usize, f64)>> = BTreeMap::new();
    for r in rounds {
        curves
            .entry((r.strategy.clone(), r.seed))
            .or_default()
            .push((r.round, r.model.pearson_delta));
    }
    curves
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by_key(|x| x.0);
            let vals: Vec<f64> = v.into_iter().map(|x| x.1).collect();
            (k, crate::planner::comparison::auc(&vals))
        })
        .collect()
}

/// A control arm against the reference on per-seed AUC (seeds both ran).
pub fn control_test(
    aucs: &BTreeMap<(String, u64), f64>,
    reference: &str,
    control: &str,
) -> Option<ControlTest> {
    let (x, y): (Vec<f64>, Vec<f64>) = aucs
        .iter()
        .filter(|((s, _), _)| s == reference)
        .filter_map(|((_, seed), a)| aucs.get(&(control.to_string(), *seed)).map(|b| (*a, *b)))
        .unzip();
    if x.is_empty() {
        return None;
    }
    let d: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a - b).collect();
    let p = if d.iter().all(|v| *v == 0.0) {
        1.0
    } else {
        let p = wilcoxon_signed_rank(&x, &y).pvalue;
        if p.is_nan() {
            1.0
        } else {
            p
        }
    };
    Some(ControlTest {
        control: control.into(),
        reference: reference.into(),
        detects: control_kind(control).into(),
        seeds: x.len(),
        auc_reference: mean_se(&x).0,
        auc_control: mean_se(&y).0,
        mean_difference: mean_se(&d).0,
        wilcoxon_p: p,
        differences: d,
    })
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
    let aucs = seed_aucs(rounds);
    // Each control against `llm` on its own backbone; then every pair of backbones' `llm`.
    let kinds: Vec<crate::planner::spec::StrategyKind> =
        arms.iter().filter_map(|a| a.parse().ok()).collect();
    let mut controls: Vec<ControlTest> = kinds
        .iter()
        .filter_map(|k| Some((k.reference()?, k)))
        .filter(|(r, k)| r != *k)
        .filter_map(|(r, k)| control_test(&aucs, r.name(), k.name()))
        .collect();
    let full: Vec<&crate::planner::spec::StrategyKind> = kinds
        .iter()
        .filter(|k| k.arm() == Some(crate::planner::llm::Arm::Full))
        .collect();
    for i in 0..full.len() {
        for j in i + 1..full.len() {
            if let Some(mut t) = control_test(&aucs, full[i].name(), full[j].name()) {
                t.detects = "backbones head to head".into();
                controls.push(t);
            }
        }
    }
    // Per (strategy, seed, round): the counts every pick of the batch carries.
    let mut per_batch: BTreeMap<(&str, u64, usize), &BTreeMap<String, f64>> = BTreeMap::new();
    for s in selections {
        per_batch
            .entry((&s.strategy, s.seed, s.round))
            .or_insert(&s.pick.details);
    }
    let mut leak_checks: BTreeMap<String, usize> = BTreeMap::new();
    let mut probe_counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut answer_counts: BTreeMap<String, BTreeMap<usize, [usize; 5]>> = BTreeMap::new();
    for ((strategy, _, round), d) in &per_batch {
        let is_llm = crate::planner::spec::StrategyKind::is_llm(strategy);
        if !is_llm || !arms.iter().any(|a| a == strategy) {
            continue;
        }
        let get = |k: &str| d.get(k).copied().unwrap_or(0.0) as usize;
        *leak_checks.entry(strategy.to_string()).or_default() += get("leak_checks");
        if d.contains_key("probe_asked") {
            let e = probe_counts.entry(strategy.to_string()).or_default();
            e.0 += get("probe_asked");
            e.1 += get("probe_recovered");
        }
        let c = answer_counts
            .entry(strategy.to_string())
            .or_default()
            .entry(*round)
            .or_default();
        c[0] += 1;
        c[1] += get("llm_answers");
        c[2] += get("llm_invalid");
        c[3] += get("llm_named");
        c[4] += get("llm_unknown");
    }
    let ratio = |a: usize, b: usize| if b > 0 { a as f64 / b as f64 } else { f64::NAN };
    let probe = probe_counts
        .into_iter()
        .map(|(k, (asked, recovered))| {
            (
                k,
                ProbeRate {
                    asked,
                    recovered,
                    rate: ratio(recovered, asked),
                },
            )
        })
        .collect();
    let answers = answer_counts
        .into_iter()
        .map(|(k, per_round)| {
            (
                k,
                per_round
                    .into_iter()
                    .map(|(round, c)| RoundAnswers {
                        round,
                        batches: c[0],
                        answers: c[1],
                        invalid: c[2],
                        named: c[3],
                        unknown: c[4],
                        invalid_rate: ratio(c[2], c[1]),
                        hallucinated_rate: ratio(c[4], c[3]),
                    })
                    .collect(),
            )
        })
        .collect();
    let mut samples = BTreeMap::new();
    for arm in arms {
        let states: Vec<&&BTreeMap<String, f64>> = per_batch
            .iter()
            .filter(|((s, _, _), d)| *s == arm.as_str() && d.contains_key("llm_samples"))
            .map(|(_, d)| d)
            .collect();
        if states.is_empty() {
            continue;
        }
        let mean_of = |k: &str| {
            let v: Vec<f64> = states.iter().filter_map(|d| d.get(k).copied()).collect();
            mean_se(&v).0
        };
        let n_rounds = rounds.iter().map(|r| r.round).max().unwrap_or(0);
        let sds: Vec<f64> = (1..=n_rounds)
            .map(|round| {
                let v: Vec<f64> = rounds
                    .iter()
                    .filter(|r| r.strategy == *arm && r.round == round)
                    .map(|r| r.model.pearson_delta)
                    .collect();
                let (_, se) = mean_se(&v);
                se * (v.len() as f64).sqrt()
            })
            .filter(|x| x.is_finite())
            .collect();
        samples.insert(
            arm.clone(),
            SampleSpread {
                states: states.len(),
                mean_valid: mean_of("llm_samples"),
                mean_jaccard: mean_of("sample_jaccard"),
                outcome_sd_within_state: mean_of("sample_outcome_sd"),
                outcome_sd_across_seeds: mean_se(&sds).0,
            },
        );
    }
    Ablation {
        arms: arms.to_vec(),
        samples,
        fallback_rate,
        mean_shortlist_rank,
        pairs,
        controls,
        leak_checks,
        probe,
        answers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_survives_the_json_round_trip() {
        let a = Ablation {
            arms: vec!["llm".into()],
            fallback_rate: [("llm".to_string(), f64::NAN)].into(),
            mean_shortlist_rank: BTreeMap::new(),
            pairs: Vec::new(),
            controls: Vec::new(),
            leak_checks: BTreeMap::new(),
            probe: [(
                "llm-masked".to_string(),
                ProbeRate {
                    asked: 0,
                    recovered: 0,
                    rate: f64::NAN,
                },
            )]
            .into(),
            answers: BTreeMap::new(),
            samples: BTreeMap::new(),
        };
        let back: Ablation = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert!(back.fallback_rate["llm"].is_nan() && back.probe["llm-masked"].rate.is_nan());
    }

    #[test]
    fn jaccard_of_sets() {
        let a: BTreeSet<&str> = ["A", "B", "C"].into();
        let b: BTreeSet<&str> = ["B", "C", "D"].into();
        assert_eq!(jaccard(&a, &b), 0.5);
        assert_eq!(jaccard(&a, &a), 1.0);
    }
}
