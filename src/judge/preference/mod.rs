//! Pairwise preferences from judge verdicts: un-blinded verdicts → per-item panel scores →
//! win rates with a cluster bootstrap CI (whole items resampled), Wilson intervals, exact sign
//! tests (ties dropped, and ties split), Holm across the strategy pairs.
//!
//! Per item (one context and one strategy pair), each judge's two orders are averaged
//! (1 / ½ / 0 for win / tie / loss of the pair's first strategy, failures excluded); the panel
//! score is the mean over judges with at least one valid verdict; the majority vote counts
//! judges' item-level verdicts.

use crate::data::rows::{parse_csv_lines, VerdictRow};
use crate::data::textio::DataError;
use crate::numeric::seed::stream;
use crate::stats::{holm, sign_test, wilson};
use rand::RngExt;
use serde::Serialize;
use std::collections::BTreeMap;

mod bias;
pub use bias::*;
mod agreement;
pub use agreement::*;
mod strengths;
pub use strengths::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Outcome {
    A,
    B,
    Tie,
    Failure,
}

/// One judge's verdict on one ordering of one item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub item: String,
    pub judge: String,
    pub order: String,
    pub strategy_a: String,
    pub strategy_b: String,
    pub winner: Outcome,
    /// The independent unit (one seed of one pathway), when known.
    pub trajectory: Option<String>,
    /// The context (screen, pathway, seed, round), when known.
    pub context: Option<String>,
}

/// Parse the plain verdict CSV (`item,judge,order,strategy_a,strategy_b,winner`, optionally
/// `trajectory` and `context`); errors name the line and field. When given, a trajectory (and
/// a context) must be on every row and the same on every row of an item.
pub fn parse_verdicts(text: &str) -> Result<Vec<Verdict>, (usize, String, String)> {
    let rows: Vec<(usize, VerdictRow)> =
        parse_csv_lines(text, std::path::Path::new("")).map_err(|e| match e {
            DataError::Field {
                line, field, msg, ..
            } => (line, field, msg),
            other => (1, "row".to_string(), other.to_string()),
        })?;
    let mut out = Vec::new();
    // (item, judge, order) → line: one verdict each; item → (line, its pair): one pair each.
    let mut seen: std::collections::HashMap<(String, String, String), usize> =
        std::collections::HashMap::new();
    let mut pairs: std::collections::HashMap<String, (usize, [String; 2])> =
        std::collections::HashMap::new();
    // item → (line, trajectory, context): one each per item.
    let mut units: std::collections::HashMap<String, (usize, Option<String>, Option<String>)> =
        std::collections::HashMap::new();
    let opt = |v: Option<String>| v.filter(|x| !x.is_empty());
    let first_has = rows
        .first()
        .map(|(_, r)| {
            (
                opt(r.trajectory.clone()).is_some(),
                opt(r.context.clone()).is_some(),
            )
        })
        .unwrap_or_default();
    for (line, r) in rows {
        let (trajectory, context) = (opt(r.trajectory), opt(r.context));
        for (name, has, first) in [
            ("trajectory", trajectory.is_some(), first_has.0),
            ("context", context.is_some(), first_has.1),
        ] {
            if has != first {
                return Err((
                    line,
                    name.into(),
                    format!(
                        "{} here but {} on the first row: give it on every row or on none",
                        if has { "given" } else { "empty" },
                        if first { "given" } else { "empty" }
                    ),
                ));
            }
        }
        let nonempty = |v: String, name: &str| {
            if v.is_empty() {
                Err((line, name.to_string(), "empty".to_string()))
            } else {
                Ok(v)
            }
        };
        let item = nonempty(r.item, "item")?;
        let judge = nonempty(r.judge, "judge")?;
        let order = nonempty(r.order, "order")?;
        let a = nonempty(r.strategy_a, "strategy_a")?;
        let b = nonempty(r.strategy_b, "strategy_b")?;
        let winner = match nonempty(r.winner, "winner")?.to_ascii_lowercase().as_str() {
            "a" => Outcome::A,
            "b" => Outcome::B,
            "tie" => Outcome::Tie,
            "failure" => Outcome::Failure,
            other => {
                return Err((
                    line,
                    "winner".into(),
                    format!("expected A, B, tie or failure, got {other:?}"),
                ))
            }
        };
        if a == b {
            return Err((
                line,
                "strategy_b".into(),
                "a strategy cannot be compared with itself".into(),
            ));
        }
        if let Some(first) = seen.insert((item.clone(), judge.clone(), order.clone()), line) {
            let same = out.iter().any(|v: &Verdict| {
                v.item == item
                    && v.judge == judge
                    && v.order == order
                    && v.strategy_a == a
                    && v.strategy_b == b
                    && v.winner == winner
            });
            return Err((
                line,
                "item".into(),
                format!(
                    "{} line {first}: one verdict per (item, judge, order)",
                    if same { "duplicates" } else { "contradicts" }
                ),
            ));
        }
        let mut pair = [a.clone(), b.clone()];
        pair.sort();
        match pairs.get(&item) {
            Some((first, p)) if *p != pair => {
                return Err((
                    line,
                    "strategy_a".into(),
                    format!(
                        "item {item} compares {} and {} here but {} and {} at line {first}",
                        pair[0], pair[1], p[0], p[1]
                    ),
                ))
            }
            Some(_) => {}
            None => {
                pairs.insert(item.clone(), (line, pair));
            }
        }
        match units.get(&item) {
            Some((first, t, c)) if (t, c) != (&trajectory, &context) => {
                let field = if *t != trajectory {
                    "trajectory"
                } else {
                    "context"
                };
                return Err((
                    line,
                    field.into(),
                    format!("item {item} has another {field} at line {first}"),
                ));
            }
            Some(_) => {}
            None => {
                units.insert(item.clone(), (line, trajectory.clone(), context.clone()));
            }
        }
        out.push(Verdict {
            item,
            judge,
            order,
            strategy_a: a,
            strategy_b: b,
            winner,
            trajectory,
            context,
        });
    }
    Ok(out)
}

/// The panel's score for one item, from the point of view of `first` in the pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemScore {
    pub item: String,
    pub first: String,
    pub second: String,
    /// Mean over judges of the judge's mean over orders; None when every verdict failed.
    pub panel: Option<f64>,
    /// Majority of judges' item-level verdicts: 1, ½ (tie or no majority), 0.
    pub majority: Option<f64>,
    pub per_judge: BTreeMap<String, f64>,
    pub failures: usize,
    pub trajectory: Option<String>,
    pub context: Option<String>,
}

/// Group verdicts into items; the pair is oriented alphabetically (`first` < `second`).
pub fn item_scores(verdicts: &[Verdict]) -> Vec<ItemScore> {
    let mut groups: BTreeMap<(String, String, String), Vec<&Verdict>> = BTreeMap::new();
    for v in verdicts {
        let (f, s) = if v.strategy_a < v.strategy_b {
            (&v.strategy_a, &v.strategy_b)
        } else {
            (&v.strategy_b, &v.strategy_a)
        };
        groups
            .entry((v.item.clone(), f.clone(), s.clone()))
            .or_default()
            .push(v);
    }
    groups
        .into_iter()
        .map(|((item, first, second), vs)| {
            let mut judge: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            let mut failures = 0;
            let (trajectory, context) = (vs[0].trajectory.clone(), vs[0].context.clone());
            for v in vs {
                let score_a = match v.winner {
                    Outcome::A => 1.0,
                    Outcome::B => 0.0,
                    Outcome::Tie => 0.5,
                    Outcome::Failure => {
                        failures += 1;
                        continue;
                    }
                };
                let s = if v.strategy_a == first {
                    score_a
                } else {
                    1.0 - score_a
                };
                judge.entry(v.judge.clone()).or_default().push(s);
            }
            let per_judge: BTreeMap<String, f64> = judge
                .into_iter()
                .map(|(j, s)| (j, s.iter().sum::<f64>() / s.len() as f64))
                .collect();
            let panel = (!per_judge.is_empty())
                .then(|| per_judge.values().sum::<f64>() / per_judge.len() as f64);
            let majority = (!per_judge.is_empty()).then(|| {
                let w = per_judge.values().filter(|&&s| s > 0.5).count();
                let l = per_judge.values().filter(|&&s| s < 0.5).count();
                if w * 2 > per_judge.len() {
                    1.0
                } else if l * 2 > per_judge.len() {
                    0.0
                } else {
                    0.5
                }
            });
            ItemScore {
                item,
                first,
                second,
                panel,
                majority,
                per_judge,
                failures,
                trajectory,
                context,
            }
        })
        .collect()
}

/// Win rate of `s` over `t` with its uncertainty and tests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairSummary {
    pub s: String,
    pub t: String,
    pub items: usize,
    pub wins: usize,
    pub losses: usize,
    pub ties: usize,
    pub failed_items: usize,
    /// Mean panel score of `s` (ties count ½).
    pub win_rate: f64,
    /// Items resampled as if independent.
    pub bootstrap_ci: (f64, f64),
    /// Wilson interval for wins / (wins + losses).
    pub wilson_ci: (f64, f64),
    pub sign_test_p: f64,
    pub sign_test_split_ties_p: f64,
    pub holm_p: f64,
    /// Independent trajectories behind the items (when the verdicts name them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trajectories: Option<usize>,
    /// The sign test at the trajectory level: each trajectory's mean panel score is one
    /// observation (> ½ a win, < ½ a loss).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_clustered: Option<f64>,
    /// Holm across pairs of `p_clustered`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holm_p_clustered: Option<f64>,
    /// Two-stage cluster bootstrap: trajectories, then contexts within them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci_clustered: Option<(f64, f64)>,
    /// Cluster-robust over naive variance of the win rate (items / design effect is the
    /// effective number of items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub design_effect: Option<f64>,
    /// TOST against the declared win-rate margins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equivalence: Option<PairEquivalence>,
}

/// Equivalence of a pair's win rate to ½ within declared margins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairEquivalence {
    pub low: f64,
    pub high: f64,
    /// `trajectory` (one mean per trajectory, df = trajectories − 1) or `item`.
    pub unit: &'static str,
    pub p_tost: f64,
    /// equivalent / different / inconclusive at α (different: the clustered sign test, or
    /// the item-level one when no trajectories are known).
    pub verdict: crate::stats::EquivalenceVerdict,
}

/// How pairs are summarised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SummaryOptions {
    pub resamples: usize,
    pub seed: u64,
    pub alpha: f64,
    /// Win-rate equivalence margins (low, high).
    pub margin: Option<(f64, f64)>,
}

/// Summaries for every ordered pair `(s, t)` with `s < t`, Holm-adjusted across pairs.
/// `resamples` cluster-bootstrap draws come from the stream `(seed, "bootstrap/<s>/<t>")`.
pub fn summarise(items: &[ItemScore], resamples: usize, seed: u64, alpha: f64) -> Vec<PairSummary> {
    summarise_with(
        items,
        &SummaryOptions {
            resamples,
            seed,
            alpha,
            margin: None,
        },
    )
}

/// [`summarise`] with equivalence margins. When every scored item of a pair names its
/// trajectory, the pair also gets the trajectory-level test, a two-stage cluster-bootstrap CI
/// (stream `bootstrap-clustered/<s>/<t>`) and the design effect.
pub fn summarise_with(items: &[ItemScore], o: &SummaryOptions) -> Vec<PairSummary> {
    let (resamples, seed, alpha) = (o.resamples, o.seed, o.alpha);
    let mut pairs: BTreeMap<(String, String), Vec<&ItemScore>> = BTreeMap::new();
    let mut failed: BTreeMap<(String, String), usize> = BTreeMap::new();
    for it in items {
        let key = (it.first.clone(), it.second.clone());
        match it.panel {
            Some(_) => pairs.entry(key).or_default().push(it),
            None => *failed.entry(key).or_default() += 1,
        }
    }
    let mut out: Vec<PairSummary> = pairs
        .into_iter()
        .map(|((s, t), its)| {
            let scores: Vec<f64> = its.iter().filter_map(|i| i.panel).collect();
            let n = scores.len();
            let wins = scores.iter().filter(|&&x| x > 0.5).count();
            let losses = scores.iter().filter(|&&x| x < 0.5).count();
            let ties = n - wins - losses;
            let win_rate = scores.iter().sum::<f64>() / n as f64;
            let mut rng = stream(seed, &format!("bootstrap/{s}/{t}"));
            let boots: Vec<f64> = (0..resamples)
                .map(|_| (0..n).map(|_| scores[rng.random_range(0..n)]).sum::<f64>() / n as f64)
                .collect();
            let half = (ties / 2) as u64;
            let sign_test_p = sign_test(wins as u64, losses as u64);
            let clustering = its
                .iter()
                .map(|i| {
                    i.trajectory
                        .as_ref()
                        .map(|t| (t.clone(), i.context.clone().unwrap_or(i.item.clone())))
                })
                .collect::<Option<Vec<_>>>()
                .map(|labels| crate::stats::Clustering::from_labels(&labels));
            let clustered = clustering.as_ref().map(|c| {
                let means = crate::stats::cluster_means(&scores, c);
                let w = means.iter().filter(|&&x| x > 0.5).count() as u64;
                let l = means.iter().filter(|&&x| x < 0.5).count() as u64;
                let mut rng = stream(seed, &format!("bootstrap-clustered/{s}/{t}"));
                let boots: Vec<f64> = (0..resamples)
                    .map(|_| {
                        let idx = c.resample(&mut rng);
                        idx.iter().map(|&i| scores[i]).sum::<f64>() / idx.len() as f64
                    })
                    .collect();
                (
                    c.clusters(),
                    sign_test(w, l),
                    percentile_ci(boots, alpha),
                    crate::stats::design_effect(&scores, c),
                    means,
                )
            });
            let equivalence = o.margin.map(|(low, high)| {
                let (unit, units, p_diff) = match &clustered {
                    Some((_, p, _, _, means)) => ("trajectory", means.clone(), *p),
                    None => ("item", scores.clone(), sign_test_p),
                };
                let p_tost = crate::stats::tost_mean(&units, low, high).p;
                PairEquivalence {
                    low,
                    high,
                    unit,
                    p_tost,
                    verdict: crate::stats::EquivalenceVerdict::decide(p_tost, p_diff, alpha),
                }
            });
            PairSummary {
                failed_items: failed.get(&(s.clone(), t.clone())).copied().unwrap_or(0),
                items: n,
                wins,
                losses,
                ties,
                win_rate,
                bootstrap_ci: percentile_ci(boots, alpha),
                wilson_ci: wilson(wins as f64, (wins + losses) as f64, alpha),
                sign_test_p,
                sign_test_split_ties_p: sign_test(wins as u64 + half, losses as u64 + half),
                holm_p: f64::NAN,
                trajectories: clustered.as_ref().map(|c| c.0),
                p_clustered: clustered.as_ref().map(|c| c.1),
                holm_p_clustered: None,
                ci_clustered: clustered.as_ref().map(|c| c.2),
                design_effect: clustered.as_ref().map(|c| c.3),
                equivalence,
                s,
                t,
            }
        })
        .collect();
    let adj = holm(&out.iter().map(|p| p.sign_test_p).collect::<Vec<_>>());
    for (p, a) in out.iter_mut().zip(adj) {
        p.holm_p = a;
    }
    if out.iter().all(|p| p.p_clustered.is_some()) {
        let adj = holm(&out.iter().filter_map(|p| p.p_clustered).collect::<Vec<_>>());
        for (p, a) in out.iter_mut().zip(adj) {
            p.holm_p_clustered = Some(a);
        }
    }
    out
}

impl PairSummary {
    /// The same comparison seen from `t`: wins and losses swapped, rates and intervals
    /// mirrored; the tests' p-values are symmetric and stay.
    pub fn flipped(&self) -> PairSummary {
        let mirror = |(lo, hi): (f64, f64)| (1.0 - hi, 1.0 - lo);
        PairSummary {
            s: self.t.clone(),
            t: self.s.clone(),
            wins: self.losses,
            losses: self.wins,
            win_rate: 1.0 - self.win_rate,
            bootstrap_ci: mirror(self.bootstrap_ci),
            wilson_ci: mirror(self.wilson_ci),
            ci_clustered: self.ci_clustered.map(mirror),
            equivalence: self.equivalence.clone().map(|e| PairEquivalence {
                low: 1.0 - e.high,
                high: 1.0 - e.low,
                ..e
            }),
            ..self.clone()
        }
    }
}

/// The summary of `s` against `t` from summaries oriented either way.
pub fn oriented(summaries: &[PairSummary], s: &str, t: &str) -> Option<PairSummary> {
    summaries.iter().find_map(|p| {
        if p.s == s && p.t == t {
            Some(p.clone())
        } else if p.s == t && p.t == s {
            Some(p.flipped())
        } else {
            None
        }
    })
}

/// The win rate of `s` over `t` from summaries oriented either way.
pub fn win_rate(summaries: &[PairSummary], s: &str, t: &str) -> Option<f64> {
    oriented(summaries, s, t).map(|p| p.win_rate)
}

pub(crate) use crate::stats::percentile_ci;

#[cfg(test)]
mod tests {
    use super::*;

    fn v(item: &str, judge: &str, order: &str, a: &str, b: &str, w: Outcome) -> Verdict {
        Verdict {
            item: item.into(),
            judge: judge.into(),
            order: order.into(),
            strategy_a: a.into(),
            strategy_b: b.into(),
            winner: w,
            trajectory: None,
            context: None,
        }
    }

    #[test]
    fn always_a_judge_is_pure_position_bias_and_half_win_rate() {
        // a judge answering "A" in both orders: each item averages to ½
        let mut vs = Vec::new();
        for i in 0..10 {
            vs.push(v(&format!("i{i}"), "j", "1", "llm", "random", Outcome::A));
            vs.push(v(&format!("i{i}"), "j", "2", "random", "llm", Outcome::A));
        }
        let items = item_scores(&vs);
        let s = summarise(&items, 1000, 1, 0.05);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].win_rate, 0.5);
        assert_eq!(s[0].ties, 10);
        assert_eq!(s[0].sign_test_p, 1.0);
    }

    #[test]
    fn a_flipped_summary_mirrors_rates_and_keeps_p_values() {
        let mut vs = Vec::new();
        for i in 0..6 {
            let w = if i < 4 { Outcome::A } else { Outcome::B };
            vs.push(v(&format!("i{i}"), "j", "1", "llm", "random", w));
            vs.push(v(
                &format!("i{i}"),
                "j",
                "2",
                "random",
                "llm",
                if w == Outcome::A {
                    Outcome::B
                } else {
                    Outcome::A
                },
            ));
        }
        let s = summarise(&item_scores(&vs), 500, 3, 0.05);
        let f = oriented(&s, "random", "llm").unwrap();
        let p = oriented(&s, "llm", "random").unwrap();
        assert_eq!((f.wins, f.losses, p.wins, p.losses), (2, 4, 4, 2));
        assert_eq!(f.win_rate, 1.0 - p.win_rate);
        assert_eq!(
            f.bootstrap_ci,
            (1.0 - p.bootstrap_ci.1, 1.0 - p.bootstrap_ci.0)
        );
        assert_eq!((f.sign_test_p, f.holm_p), (p.sign_test_p, p.holm_p));
        assert_eq!(win_rate(&s, "random", "llm"), Some(f.win_rate));
        assert!(oriented(&s, "llm", "bald").is_none());
    }

    #[test]
    fn failures_are_their_own_category() {
        let vs = vec![
            v("i", "j1", "1", "a", "b", Outcome::Failure),
            v("i", "j1", "2", "b", "a", Outcome::B),
            v("k", "j1", "1", "a", "b", Outcome::Failure),
        ];
        let items = item_scores(&vs);
        assert_eq!(items[0].panel, Some(1.0)); // a won the valid order
        assert_eq!(items[0].failures, 1);
        assert_eq!(items[1].panel, None);
        let s = summarise(&items, 100, 0, 0.05);
        assert_eq!((s[0].items, s[0].failed_items, s[0].wins), (1, 1, 1));
    }

    #[test]
    fn parse_errors_name_line_and_field() {
        let e = parse_verdicts("item,judge,order,strategy_a,strategy_b,winner\n1,j,1,a,b,maybe\n")
            .unwrap_err();
        assert_eq!((e.0, e.1.as_str()), (2, "winner"));
    }
}
