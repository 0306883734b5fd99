//! Position bias per judge: first-position rate (exact binomial) and order consistency (McNemar).

use super::*;
use serde::Serialize;
use std::collections::BTreeMap;

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
                    trajectory: None,
                    context: None,
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
