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
}

/// Parse the plain verdict CSV (`item,judge,order,strategy_a,strategy_b,winner`); errors name
/// the line and field.
pub fn parse_verdicts(text: &str) -> Result<Vec<Verdict>, (usize, String, String)> {
    let rows: Vec<(usize, VerdictRow)> =
        parse_csv_lines(text, std::path::Path::new("")).map_err(|e| match e {
            DataError::Field {
                line, field, msg, ..
            } => (line, field, msg),
            other => (1, "row".to_string(), other.to_string()),
        })?;
    let mut out = Vec::new();
    for (line, r) in rows {
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
        out.push(Verdict {
            item,
            judge,
            order,
            strategy_a: a,
            strategy_b: b,
            winner,
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
    pub bootstrap_ci: (f64, f64),
    /// Wilson interval for wins / (wins + losses).
    pub wilson_ci: (f64, f64),
    pub sign_test_p: f64,
    pub sign_test_split_ties_p: f64,
    pub holm_p: f64,
}

/// Summaries for every ordered pair `(s, t)` with `s < t`, Holm-adjusted across pairs.
/// `resamples` cluster-bootstrap draws come from the stream `(seed, "bootstrap/<s>/<t>")`.
pub fn summarise(items: &[ItemScore], resamples: usize, seed: u64, alpha: f64) -> Vec<PairSummary> {
    let mut pairs: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let mut failed: BTreeMap<(String, String), usize> = BTreeMap::new();
    for it in items {
        let key = (it.first.clone(), it.second.clone());
        match it.panel {
            Some(p) => pairs.entry(key).or_default().push(p),
            None => *failed.entry(key).or_default() += 1,
        }
    }
    let mut out: Vec<PairSummary> = pairs
        .into_iter()
        .map(|((s, t), scores)| {
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
            PairSummary {
                failed_items: failed.get(&(s.clone(), t.clone())).copied().unwrap_or(0),
                items: n,
                wins,
                losses,
                ties,
                win_rate,
                bootstrap_ci: percentile_ci(boots, alpha),
                wilson_ci: wilson(wins as f64, (wins + losses) as f64, alpha),
                sign_test_p: sign_test(wins as u64, losses as u64),
                sign_test_split_ties_p: sign_test(wins as u64 + half, losses as u64 + half),
                holm_p: f64::NAN,
                s,
                t,
            }
        })
        .collect();
    let adj = holm(&out.iter().map(|p| p.sign_test_p).collect::<Vec<_>>());
    for (p, a) in out.iter_mut().zip(adj) {
        p.holm_p = a;
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

/// Position bias of one judge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgeBias {
    pub judge: String,
    /// (item) pairs with a valid verdict in both orders.
    pub paired: usize,
    /// Fraction of those whose un-blinded verdicts agree across orders.
    pub consistency: f64,
    /// Decisive (A or B) verdicts, and how many chose the first position.
    pub decisive: usize,
    pub first_position: usize,
    pub first_position_rate: f64,
    /// Exact binomial test of the first-position rate against ½.
    pub first_position_p: f64,
    /// Order-flipped pairs where both orders chose position A / both chose B, and the exact
    /// McNemar test on them.
    pub both_a: usize,
    pub both_b: usize,
    pub mcnemar_p: f64,
}

/// Per-judge position bias from verdicts given in two orders.
pub fn position_bias(verdicts: &[Verdict]) -> Vec<JudgeBias> {
    let mut by: BTreeMap<(String, String), Vec<&Verdict>> = BTreeMap::new();
    for v in verdicts {
        by.entry((v.judge.clone(), v.item.clone()))
            .or_default()
            .push(v);
    }
    let mut judges: BTreeMap<String, JudgeBias> = BTreeMap::new();
    let mut consistent: BTreeMap<String, usize> = BTreeMap::new();
    for ((judge, _), mut vs) in by {
        vs.sort_by(|a, b| a.order.cmp(&b.order));
        let e = judges.entry(judge.clone()).or_insert_with(|| JudgeBias {
            judge: judge.clone(),
            paired: 0,
            consistency: f64::NAN,
            decisive: 0,
            first_position: 0,
            first_position_rate: f64::NAN,
            first_position_p: f64::NAN,
            both_a: 0,
            both_b: 0,
            mcnemar_p: f64::NAN,
        });
        for v in &vs {
            if matches!(v.winner, Outcome::A | Outcome::B) {
                e.decisive += 1;
                e.first_position += (v.winner == Outcome::A) as usize;
            }
        }
        let valid: Vec<&&Verdict> = vs.iter().filter(|v| v.winner != Outcome::Failure).collect();
        if valid.len() == 2 {
            e.paired += 1;
            let winner = |v: &Verdict| match v.winner {
                Outcome::A => Some(v.strategy_a.clone()),
                Outcome::B => Some(v.strategy_b.clone()),
                _ => None,
            };
            if winner(valid[0]) == winner(valid[1]) {
                *consistent.entry(judge.clone()).or_default() += 1;
            }
            match (valid[0].winner, valid[1].winner) {
                (Outcome::A, Outcome::A) => e.both_a += 1,
                (Outcome::B, Outcome::B) => e.both_b += 1,
                _ => {}
            }
        }
    }
    judges
        .into_values()
        .map(|mut e| {
            if e.paired > 0 {
                e.consistency =
                    consistent.get(&e.judge).copied().unwrap_or(0) as f64 / e.paired as f64;
                e.mcnemar_p = crate::stats::mcnemar_exact(e.both_a as u64, e.both_b as u64);
            }
            if e.decisive > 0 {
                e.first_position_rate = e.first_position as f64 / e.decisive as f64;
                e.first_position_p = crate::stats::binom_test_two_sided(
                    e.first_position as u64,
                    e.decisive as u64,
                    0.5,
                );
            }
            e
        })
        .collect()
}

#[cfg(test)]
mod bias_tests {
    use super::*;

    #[test]
    fn always_a_judge_shows_full_position_bias() {
        let mut vs = Vec::new();
        for i in 0..12 {
            for (o, a, b) in [("1", "llm", "random"), ("2", "random", "llm")] {
                vs.push(Verdict {
                    item: format!("i{i}"),
                    judge: "lazy".into(),
                    order: o.into(),
                    strategy_a: a.into(),
                    strategy_b: b.into(),
                    winner: Outcome::A,
                });
            }
        }
        let b = &position_bias(&vs)[0];
        assert_eq!(
            (b.paired, b.decisive, b.first_position, b.both_a, b.both_b),
            (12, 24, 24, 12, 0)
        );
        assert_eq!(b.consistency, 0.0);
        assert_eq!(b.first_position_rate, 1.0);
        // scipy.stats.binomtest(24, 24).pvalue = 1.1920928955078125e-07; McNemar exact (12, 0) = 0.00048828125
        assert!((b.first_position_p - 1.1920928955078125e-07).abs() < 1e-18);
        assert!((b.mcnemar_p - 0.00048828125).abs() < 1e-15);
    }
}

/// Cohen's κ of one pair of judges.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairKappa {
    pub a: String,
    pub b: String,
    /// Units both judged validly.
    pub n: usize,
    pub kappa: f64,
    pub ci: (f64, f64),
}

/// Agreement between judges on the same tasks (unit = one item in one order; categories A, B,
/// tie as shown; failures missing), with cluster-bootstrap CIs (whole items resampled).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    pub judges: Vec<String>,
    pub units: usize,
    /// Units every judge answered validly (Fleiss' κ uses only these).
    pub complete_units: usize,
    pub fleiss_kappa: f64,
    pub fleiss_ci: (f64, f64),
    pub krippendorff_alpha: f64,
    pub krippendorff_ci: (f64, f64),
    pub cohen: Vec<PairKappa>,
}

fn category(o: Outcome) -> Option<usize> {
    match o {
        Outcome::A => Some(0),
        Outcome::B => Some(1),
        Outcome::Tie => Some(2),
        Outcome::Failure => None,
    }
}

/// One unit (an item in one order): its item and each judge's category (None: failed/absent).
type Unit = (String, Vec<Option<usize>>);

/// (item, order) → per-judge category, judges sorted.
fn rating_table(verdicts: &[Verdict]) -> (Vec<String>, Vec<Unit>) {
    let judges: Vec<String> = {
        let s: std::collections::BTreeSet<&String> = verdicts.iter().map(|v| &v.judge).collect();
        s.into_iter().cloned().collect()
    };
    let mut units: BTreeMap<(String, String), Vec<Option<usize>>> = BTreeMap::new();
    for v in verdicts {
        let j = judges.iter().position(|x| *x == v.judge).expect("judge");
        units
            .entry((v.item.clone(), v.order.clone()))
            .or_insert_with(|| vec![None; judges.len()])[j] = category(v.winner);
    }
    (
        judges,
        units.into_iter().map(|((item, _), r)| (item, r)).collect(),
    )
}

fn fleiss_of(units: &[&Vec<Option<usize>>]) -> (f64, usize) {
    let complete: Vec<Vec<f64>> = units
        .iter()
        .filter(|r| r.iter().all(Option::is_some))
        .map(|r| {
            let mut c = vec![0.0; 3];
            for x in r.iter().flatten() {
                c[*x] += 1.0;
            }
            c
        })
        .collect();
    (crate::stats::fleiss_kappa(&complete), complete.len())
}

fn kripp_of(units: &[&Vec<Option<usize>>], raters: usize) -> f64 {
    let data: Vec<Vec<Option<usize>>> = (0..raters)
        .map(|j| units.iter().map(|r| r[j]).collect())
        .collect();
    crate::stats::krippendorff_alpha_nominal(&data)
}

fn percentile_ci(mut v: Vec<f64>, alpha: f64) -> (f64, f64) {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((p * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
    (q(alpha / 2.0), q(1.0 - alpha / 2.0))
}

/// Fleiss' κ over all judges, Krippendorff's α (nominal), Cohen's κ per judge pair; bootstrap
/// from the stream `(seed, "bootstrap/agreement")`.
pub fn agreement(verdicts: &[Verdict], resamples: usize, seed: u64, alpha: f64) -> Agreement {
    let (judges, units) = rating_table(verdicts);
    let all: Vec<&Vec<Option<usize>>> = units.iter().map(|(_, r)| r).collect();
    let (fleiss, complete) = fleiss_of(&all);
    let kripp = kripp_of(&all, judges.len());
    let mut cohen = Vec::new();
    for a in 0..judges.len() {
        for b in a + 1..judges.len() {
            let both: Vec<(usize, usize)> =
                all.iter().filter_map(|r| Some((r[a]?, r[b]?))).collect();
            let (x, y): (Vec<usize>, Vec<usize>) = both.iter().copied().unzip();
            cohen.push(PairKappa {
                a: judges[a].clone(),
                b: judges[b].clone(),
                n: both.len(),
                kappa: crate::stats::cohen_kappa(&x, &y, 3),
                ci: (f64::NAN, f64::NAN),
            });
        }
    }
    // Cluster bootstrap: resample items, keeping both orders of an item together.
    let mut by_item: BTreeMap<&String, Vec<&Vec<Option<usize>>>> = BTreeMap::new();
    for (item, r) in &units {
        by_item.entry(item).or_default().push(r);
    }
    let items: Vec<&Vec<&Vec<Option<usize>>>> = by_item.values().collect();
    let mut rng = stream(seed, "bootstrap/agreement");
    let (mut fb, mut kb) = (Vec::new(), Vec::new());
    let mut cb: Vec<Vec<f64>> = vec![Vec::new(); cohen.len()];
    if !items.is_empty() && judges.len() >= 2 {
        for _ in 0..resamples {
            let draw: Vec<&Vec<Option<usize>>> = (0..items.len())
                .flat_map(|_| items[rng.random_range(0..items.len())].iter().copied())
                .collect();
            fb.push(fleiss_of(&draw).0);
            kb.push(kripp_of(&draw, judges.len()));
            let mut k = 0;
            for a in 0..judges.len() {
                for b in a + 1..judges.len() {
                    let (x, y): (Vec<usize>, Vec<usize>) =
                        draw.iter().filter_map(|r| Some((r[a]?, r[b]?))).unzip();
                    cb[k].push(crate::stats::cohen_kappa(&x, &y, 3));
                    k += 1;
                }
            }
        }
    }
    for (c, d) in cohen.iter_mut().zip(cb) {
        c.ci = percentile_ci(d, alpha);
    }
    Agreement {
        units: units.len(),
        complete_units: complete,
        fleiss_kappa: fleiss,
        fleiss_ci: percentile_ci(fb, alpha),
        krippendorff_alpha: kripp,
        krippendorff_ci: percentile_ci(kb, alpha),
        cohen,
        judges,
    }
}

/// Bradley–Terry strengths with ties (Davidson), from item-level panel scores (> ½ a win,
/// < ½ a loss, ½ a tie), log-strengths summing to zero, with cluster-bootstrap CIs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Strengths {
    pub strategies: Vec<String>,
    /// Log-strengths (sum zero); empty when not estimable.
    pub theta: Vec<f64>,
    pub theta_ci: Vec<(f64, f64)>,
    /// Log-strengths with `random` anchored at 0 (when a strategy named `random` is present).
    pub theta_random_anchored: Option<Vec<f64>>,
    /// Davidson tie parameter.
    pub nu: f64,
    /// Why the fit is not estimable, if it is not.
    pub note: Option<String>,
    /// Bootstrap resamples whose fit was not estimable (left out of the CIs).
    pub failed_resamples: usize,
}

/// Log-strengths shifted so that `random` is 0.
fn anchored(names: &[String], theta: &[f64]) -> Option<Vec<f64>> {
    let r = names.iter().position(|n| n == "random")?;
    Some(theta.iter().map(|t| t - theta[r]).collect())
}

fn bt_counts(items: &[&ItemScore], names: &[String]) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let k = names.len();
    let (mut w, mut t) = (vec![vec![0.0; k]; k], vec![vec![0.0; k]; k]);
    for it in items {
        let (Some(p), Some(i), Some(j)) = (
            it.panel,
            names.iter().position(|n| *n == it.first),
            names.iter().position(|n| *n == it.second),
        ) else {
            continue;
        };
        if p > 0.5 {
            w[i][j] += 1.0;
        } else if p < 0.5 {
            w[j][i] += 1.0;
        } else {
            t[i][j] += 1.0;
            t[j][i] += 1.0;
        }
    }
    (w, t)
}

/// A Bradley–Terry fit on (wins, ties): log-strengths and the tie parameter (NaN if none).
type BtFit = fn(&[Vec<f64>], &[Vec<f64>]) -> Result<(Vec<f64>, f64), crate::stats::BtError>;

/// Fit on the items, then cluster-bootstrap the items from the stream `(seed, stream_name)`.
fn fit_strengths(
    items: &[ItemScore],
    resamples: usize,
    seed: u64,
    alpha: f64,
    stream_name: &str,
    fit: BtFit,
) -> Strengths {
    let names: Vec<String> = {
        let s: std::collections::BTreeSet<&String> =
            items.iter().flat_map(|i| [&i.first, &i.second]).collect();
        s.into_iter().cloned().collect()
    };
    let all: Vec<&ItemScore> = items.iter().collect();
    let (w, t) = bt_counts(&all, &names);
    let mut out = Strengths {
        strategies: names.clone(),
        theta: Vec::new(),
        theta_ci: Vec::new(),
        theta_random_anchored: None,
        nu: f64::NAN,
        note: None,
        failed_resamples: 0,
    };
    match fit(&w, &t) {
        // The fit numbers strategies; the note names them.
        Err(e) => {
            let mut note = e.to_string();
            for (i, n) in names.iter().enumerate().rev() {
                note = note.replace(&format!("strategy {i}"), n);
            }
            out.note = Some(note);
        }
        Ok((theta, nu)) => {
            out.theta = theta;
            out.nu = nu;
            let mut rng = stream(seed, stream_name);
            let mut draws: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
            for _ in 0..resamples {
                let d: Vec<&ItemScore> = (0..all.len())
                    .map(|_| all[rng.random_range(0..all.len())])
                    .collect();
                let (w, t) = bt_counts(&d, &names);
                match fit(&w, &t) {
                    Ok((th, _)) => {
                        for (k, x) in th.iter().enumerate() {
                            draws[k].push(*x);
                        }
                    }
                    Err(_) => out.failed_resamples += 1,
                }
            }
            out.theta_ci = draws.into_iter().map(|d| percentile_ci(d, alpha)).collect();
            out.theta_random_anchored = anchored(&names, &out.theta);
        }
    }
    out
}

/// Bradley–Terry with ties (Davidson), bootstrap stream `bootstrap/bradley-terry`.
pub fn strengths(items: &[ItemScore], resamples: usize, seed: u64, alpha: f64) -> Strengths {
    fit_strengths(
        items,
        resamples,
        seed,
        alpha,
        "bootstrap/bradley-terry",
        |w, t| crate::stats::bradley_terry_davidson(w, t).map(|f| (f.theta, f.nu)),
    )
}

/// The tie-as-half Bradley–Terry fit (each tie half a win to each side), bootstrap stream
/// `bootstrap/bradley-terry-half`.
pub fn strengths_half(items: &[ItemScore], resamples: usize, seed: u64, alpha: f64) -> Strengths {
    fit_strengths(
        items,
        resamples,
        seed,
        alpha,
        "bootstrap/bradley-terry-half",
        |w, t| crate::stats::bradley_terry_half(w, t).map(|th| (th, f64::NAN)),
    )
}

#[cfg(test)]
mod agreement_tests {
    use super::*;

    #[test]
    fn identical_judges_agree_perfectly() {
        let mut vs = Vec::new();
        for i in 0..12 {
            for j in ["x", "y", "z"] {
                let w = [Outcome::A, Outcome::B, Outcome::Tie][i % 3];
                vs.push(Verdict {
                    item: format!("i{i}"),
                    judge: j.into(),
                    order: "1".into(),
                    strategy_a: "a".into(),
                    strategy_b: "b".into(),
                    winner: w,
                });
            }
        }
        let a = agreement(&vs, 200, 0, 0.05);
        assert_eq!((a.units, a.complete_units), (12, 12));
        assert!((a.fleiss_kappa - 1.0).abs() < 1e-12);
        assert!((a.krippendorff_alpha - 1.0).abs() < 1e-12);
        assert!(a.cohen.iter().all(|c| (c.kappa - 1.0).abs() < 1e-12));
    }
}
