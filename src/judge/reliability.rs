//! Repeated-trial reliability of the judges (`judge --repeats K`, `--paraphrase`).
//!
//! A cell is one (item, judge, order). Over its valid trials of the original template:
//! - the **flip rate**: the probability that two distinct trials disagree,
//!   1 − Σ_c n_c(n_c − 1) / (K(K − 1)) (a cell needs two valid trials);
//! - the **reliability curve**: with p the share of the cell's modal verdict, the chance that
//!   the majority of t fresh trials is that verdict, P(Binomial(t, p) > t/2), averaged over
//!   cells, for odd t; the **trials needed** for a 95 %-stable majority is the first t whose
//!   average reaches 0.95 (a conservative figure with three categories, where a plurality
//!   below one half can also win).
//!
//! With the paraphrase arm, the share of cells whose trial-0 verdict differs between the
//! original and the reworded template (failures excluded), with a Wilson interval.

use crate::data::rows::TrialRow;
use serde::Serialize;
use std::collections::BTreeMap;

/// Odd trial counts of the curve.
pub const CURVE: [usize; 8] = [1, 3, 5, 7, 9, 11, 15, 21];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgeReliability {
    pub judge: String,
    /// Cells with at least two valid trials.
    pub cells: usize,
    pub flip_rate: f64,
    /// (t, mean stability)
    pub curve: Vec<(usize, f64)>,
    pub trials_needed: Option<usize>,
    /// Cells whose verdict differs under the reworded template, of cells with both.
    pub paraphrase_flips: usize,
    pub paraphrase_cells: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reliability {
    /// The most trials of one cell.
    pub trials: usize,
    pub cells: usize,
    pub flip_rate: f64,
    pub curve: Vec<(usize, f64)>,
    pub trials_needed: Option<usize>,
    pub paraphrase_flips: usize,
    pub paraphrase_cells: usize,
    pub paraphrase_rate: f64,
    pub paraphrase_ci: (f64, f64),
    pub judges: Vec<JudgeReliability>,
}

/// P(Binomial(t, p) > t/2).
fn majority_holds(t: usize, p: f64) -> f64 {
    (0..=t)
        .filter(|&k| 2 * k > t)
        .map(|k| crate::stats::binom_pmf(k as u64, t as u64, p))
        .sum()
}

/// (cells, flip rate, curve, trials needed, paraphrase flips, paraphrase cells) of some rows.
type Summary = (usize, f64, Vec<(usize, f64)>, Option<usize>, usize, usize);

fn summary(rows: &[&TrialRow]) -> Summary {
    let mut cells: BTreeMap<(&str, &str, &str), Vec<&TrialRow>> = BTreeMap::new();
    for r in rows {
        cells
            .entry((r.item.as_str(), r.judge.as_str(), r.order.as_str()))
            .or_default()
            .push(r);
    }
    let (mut flips, mut n, mut shares) = (0.0, 0usize, Vec::new());
    let (mut p_flips, mut p_cells) = (0, 0);
    for trials in cells.values() {
        let valid: Vec<&str> = trials
            .iter()
            .filter(|r| r.template == "original" && r.winner != "failure")
            .map(|r| r.winner.as_str())
            .collect();
        if valid.len() >= 2 {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for v in &valid {
                *counts.entry(v).or_default() += 1;
            }
            let k = valid.len() as f64;
            let same: f64 = counts
                .values()
                .map(|&c| (c * c.saturating_sub(1)) as f64)
                .sum();
            flips += 1.0 - same / (k * (k - 1.0));
            n += 1;
            shares.push(*counts.values().max().expect("non-empty") as f64 / k);
        }
        let first = |template: &str| {
            trials
                .iter()
                .find(|r| r.template == template && r.trial == 0 && r.winner != "failure")
                .map(|r| r.winner.as_str())
        };
        if let (Some(o), Some(p)) = (first("original"), first("paraphrase")) {
            p_cells += 1;
            p_flips += (o != p) as usize;
        }
    }
    let curve: Vec<(usize, f64)> = if shares.is_empty() {
        Vec::new()
    } else {
        CURVE
            .iter()
            .map(|&t| {
                (
                    t,
                    shares.iter().map(|&p| majority_holds(t, p)).sum::<f64>() / shares.len() as f64,
                )
            })
            .collect()
    };
    let needed = curve.iter().find(|(_, s)| *s >= 0.95).map(|(t, _)| *t);
    let rate = if n > 0 { flips / n as f64 } else { f64::NAN };
    (n, rate, curve, needed, p_flips, p_cells)
}

/// Reliability of every judge and of all together.
pub fn reliability(rows: &[TrialRow], alpha: f64) -> Reliability {
    let all: Vec<&TrialRow> = rows.iter().collect();
    let (cells, flip_rate, curve, trials_needed, p_flips, p_cells) = summary(&all);
    let mut by_judge: BTreeMap<&str, Vec<&TrialRow>> = BTreeMap::new();
    for r in rows {
        by_judge.entry(r.judge.as_str()).or_default().push(r);
    }
    let trials = {
        let mut m: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.template == "original") {
            *m.entry((&r.item, &r.judge, &r.order)).or_default() += 1;
        }
        m.values().copied().max().unwrap_or(0)
    };
    Reliability {
        trials,
        cells,
        flip_rate,
        curve,
        trials_needed,
        paraphrase_flips: p_flips,
        paraphrase_cells: p_cells,
        paraphrase_rate: p_flips as f64 / p_cells as f64,
        paraphrase_ci: crate::stats::wilson(p_flips as f64, p_cells as f64, alpha),
        judges: by_judge
            .into_iter()
            .map(|(j, rs)| {
                let (cells, flip_rate, curve, trials_needed, pf, pc) = summary(&rs);
                JudgeReliability {
                    judge: j.to_string(),
                    cells,
                    flip_rate,
                    curve,
                    trials_needed,
                    paraphrase_flips: pf,
                    paraphrase_cells: pc,
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(item: &str, trial: u32, template: &str, w: &str) -> TrialRow {
        TrialRow {
            item: item.into(),
            judge: "j".into(),
            order: "1".into(),
            trial,
            template: template.into(),
            strategy_a: "a".into(),
            strategy_b: "b".into(),
            winner: w.into(),
        }
    }

    #[test]
    fn a_steady_judge_never_flips_and_a_coin_flips_half_the_time() {
        let steady: Vec<TrialRow> = (0..10)
            .flat_map(|i| (0..5).map(move |k| row(&format!("i{i}"), k, "original", "A")))
            .collect();
        let r = reliability(&steady, 0.05);
        assert_eq!((r.cells, r.flip_rate, r.trials_needed), (10, 0.0, Some(1)));
        // A, B, A, B: P(two distinct trials disagree) = 1 − (2·1 + 2·1)/(4·3) = 2/3
        let coin: Vec<TrialRow> = (0..4)
            .map(|k| row("i", k, "original", if k % 2 == 0 { "A" } else { "B" }))
            .collect();
        let r = reliability(&coin, 0.05);
        assert!((r.flip_rate - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            r.trials_needed, None,
            "a fair coin never gets a stable majority"
        );
    }

    #[test]
    fn paraphrase_flips_count_cells_with_both_templates() {
        let rows = vec![
            row("i1", 0, "original", "A"),
            row("i1", 0, "paraphrase", "B"),
            row("i2", 0, "original", "A"),
            row("i2", 0, "paraphrase", "A"),
            row("i3", 0, "original", "A"),
            row("i3", 0, "paraphrase", "failure"),
        ];
        let r = reliability(&rows, 0.05);
        assert_eq!((r.paraphrase_flips, r.paraphrase_cells), (1, 2));
    }
}
