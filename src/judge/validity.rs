//! Judge validity: does the panel prefer the batch that helped the model more, and does it
//! judge more than how many pathway members a batch holds?
//!
//! For every scored item (one context, strategies s < t): the preference y = panel score − ½
//! (of s), the realised-gain difference Δgain = gain(s) − gain(t) (a batch's gain is the change
//! of the primary metric from the round it was chosen in to the next, in the metric's better
//! direction, from `metrics.csv`) and the member-fraction difference Δmembers (share of the
//! batch's genes in the pathway's member list, as the judges were shown it).
//!
//! - Spearman's ρ(y, Δgain) across items: a valid judge prefers what helped.
//! - OLS y = b0 + b1·Δmembers + b2·Δgain/sd(Δgain): b2 is the preference for realised gain at
//!   equal member fractions (a judge that only counts members has b2 ≈ 0 and b1 > 0).
//! - Per pair, the member-adjusted win rate ½ + b0 of y = b0 + b1·Δmembers within the pair:
//!   the win rate expected at equal member fractions.
//!
//! Every CI resamples whole trajectories (two-stage: trajectories, then contexts), as every
//! other judged CI.

use crate::judge::preference::ItemScore;
use crate::numeric::seed::stream;
use serde::Serialize;
use std::collections::BTreeMap;

/// One item's inputs.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    pair: (String, String),
    y: f64,
    gain: f64,
    members: f64,
    trajectory: String,
    context: String,
}

/// The member-adjusted win rate of one pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdjustedPair {
    pub s: String,
    pub t: String,
    pub items: usize,
    pub win_rate: f64,
    /// ½ + intercept of preference on the member-fraction difference.
    pub adjusted_win_rate: f64,
    pub adjusted_ci: (f64, f64),
    /// Preference per unit of member-fraction difference.
    pub member_slope: f64,
}

/// Judge validity against realised gain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Validity {
    pub metric: String,
    pub items: usize,
    pub trajectories: usize,
    pub spearman_gain: f64,
    pub spearman_gain_ci: (f64, f64),
    /// Spearman's ρ(y, Δmembers).
    pub spearman_members: f64,
    /// b2: preference per SD of Δgain at equal member fractions.
    pub gain_coefficient: f64,
    pub gain_coefficient_ci: (f64, f64),
    /// b1 of the same model.
    pub member_coefficient: f64,
    pub member_coefficient_ci: (f64, f64),
    pub pairs: Vec<AdjustedPair>,
}

/// (b0, b1, b2) of y on Δmembers and standardised Δgain; NaNs when singular.
fn full_model(rows: &[&Row]) -> (f64, f64, f64) {
    let (m, sd) = crate::stats::mean_se(&rows.iter().map(|r| r.gain).collect::<Vec<_>>());
    let sd = sd * (rows.len() as f64).sqrt();
    let x: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| vec![1.0, r.members, (r.gain - m) / sd])
        .collect();
    let y: Vec<f64> = rows.iter().map(|r| r.y).collect();
    match crate::stats::ols(&y, &x) {
        Some(b) if sd > 0.0 => (b[0], b[1], b[2]),
        _ => (f64::NAN, f64::NAN, f64::NAN),
    }
}

/// (b0, b1) of y on Δmembers, or (mean y, NaN) when the member fractions never differ.
fn member_model(rows: &[&Row]) -> (f64, f64) {
    let x: Vec<Vec<f64>> = rows.iter().map(|r| vec![1.0, r.members]).collect();
    let y: Vec<f64> = rows.iter().map(|r| r.y).collect();
    match crate::stats::ols(&y, &x) {
        Some(b) => (b[0], b[1]),
        None => (y.iter().sum::<f64>() / y.len().max(1) as f64, f64::NAN),
    }
}

fn spearman(rows: &[&Row], f: impl Fn(&Row) -> f64) -> f64 {
    crate::predict::metrics::spearman(
        &rows.iter().map(|r| r.y).collect::<Vec<_>>(),
        &rows.iter().map(|r| f(r)).collect::<Vec<_>>(),
    )
}

/// Validity of the panel's item scores. `gain(context, strategy)` and `members(context,
/// strategy)` give a batch's realised gain and member fraction (None: the item is left out).
/// None when fewer than 3 items have everything, or items name no trajectory.
pub fn validity(
    items: &[ItemScore],
    metric: &str,
    gain: impl Fn(&str, &str) -> Option<f64>,
    members: impl Fn(&str, &str) -> Option<f64>,
    resamples: usize,
    seed: u64,
    alpha: f64,
) -> Option<Validity> {
    let rows: Vec<Row> = items
        .iter()
        .filter_map(|it| {
            let ctx = it.context.as_deref()?;
            Some(Row {
                pair: (it.first.clone(), it.second.clone()),
                y: it.panel? - 0.5,
                gain: gain(ctx, &it.first)? - gain(ctx, &it.second)?,
                members: members(ctx, &it.first)? - members(ctx, &it.second)?,
                trajectory: it.trajectory.clone()?,
                context: ctx.to_string(),
            })
        })
        .filter(|r| r.gain.is_finite() && r.members.is_finite())
        .collect();
    if rows.len() < 3 {
        return None;
    }
    let all: Vec<&Row> = rows.iter().collect();
    let clustering = crate::stats::Clustering::from_labels(
        &rows
            .iter()
            .map(|r| (r.trajectory.as_str(), r.context.as_str()))
            .collect::<Vec<_>>(),
    );
    let (_, b1, b2) = full_model(&all);
    let mut rng = stream(seed, "bootstrap/validity");
    let (mut rho, mut c1, mut c2) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..resamples {
        let draw: Vec<&Row> = clustering
            .resample(&mut rng)
            .into_iter()
            .map(|i| &rows[i])
            .collect();
        rho.push(spearman(&draw, |r| r.gain));
        let (_, x1, x2) = full_model(&draw);
        c1.push(x1);
        c2.push(x2);
    }
    let mut by_pair: BTreeMap<&(String, String), Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        by_pair.entry(&r.pair).or_default().push(i);
    }
    let pairs = by_pair
        .into_iter()
        .map(|((s, t), idx)| {
            let sub: Vec<&Row> = idx.iter().map(|&i| &rows[i]).collect();
            let (b0, slope) = member_model(&sub);
            let cl = crate::stats::Clustering::from_labels(
                &sub.iter()
                    .map(|r| (r.trajectory.as_str(), r.context.as_str()))
                    .collect::<Vec<_>>(),
            );
            let mut rng = stream(seed, &format!("bootstrap/validity/{s}/{t}"));
            let boots: Vec<f64> = (0..resamples)
                .map(|_| {
                    let d: Vec<&Row> = cl.resample(&mut rng).into_iter().map(|i| sub[i]).collect();
                    0.5 + member_model(&d).0
                })
                .collect();
            AdjustedPair {
                s: s.clone(),
                t: t.clone(),
                items: sub.len(),
                win_rate: 0.5 + sub.iter().map(|r| r.y).sum::<f64>() / sub.len() as f64,
                adjusted_win_rate: 0.5 + b0,
                adjusted_ci: crate::stats::percentile_ci(boots, alpha),
                member_slope: slope,
            }
        })
        .collect();
    Some(Validity {
        metric: metric.to_string(),
        items: rows.len(),
        trajectories: clustering.clusters(),
        spearman_gain: spearman(&all, |r| r.gain),
        spearman_gain_ci: crate::stats::percentile_ci(rho, alpha),
        spearman_members: spearman(&all, |r| r.members),
        gain_coefficient: b2,
        gain_coefficient_ci: crate::stats::percentile_ci(c2, alpha),
        member_coefficient: b1,
        member_coefficient_ci: crate::stats::percentile_ci(c1, alpha),
        pairs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(i: usize, traj: usize, panel: f64) -> ItemScore {
        ItemScore {
            item: format!("i{i}"),
            first: "a".into(),
            second: "b".into(),
            panel: Some(panel),
            majority: None,
            per_judge: BTreeMap::new(),
            failures: 0,
            trajectory: Some(format!("t{traj}")),
            context: Some(format!("t{traj}|round{i}")),
        }
    }

    /// A member-counting judge: preference follows the member fractions and ignores gain; a
    /// gain-reading judge the reverse. The model tells them apart.
    #[test]
    fn counting_members_is_not_judging_gain() {
        let n = 60;
        let mfrac = |i: usize| ((i * 37) % 11) as f64 / 10.0;
        let g = |i: usize| ((i * 53) % 13) as f64 / 12.0;
        let idx = |ctx: &str| -> usize { ctx.rsplit("round").next().unwrap().parse().unwrap() };
        let gain = |ctx: &str, s: &str| Some(if s == "a" { g(idx(ctx)) } else { 0.5 });
        let members = |ctx: &str, s: &str| Some(if s == "a" { mfrac(idx(ctx)) } else { 0.5 });
        let counter: Vec<ItemScore> = (0..n)
            .map(|i| item(i, i % 10, if mfrac(i) > 0.5 { 1.0 } else { 0.0 }))
            .collect();
        let reader: Vec<ItemScore> = (0..n)
            .map(|i| item(i, i % 10, if g(i) > 0.5 { 1.0 } else { 0.0 }))
            .collect();
        let v1 = validity(&counter, "m", gain, members, 300, 1, 0.05).unwrap();
        let v2 = validity(&reader, "m", gain, members, 300, 1, 0.05).unwrap();
        assert!(v1.member_coefficient > 0.5, "{v1:?}");
        assert!(v1.gain_coefficient.abs() < 0.15, "{v1:?}");
        assert!(
            v2.gain_coefficient > 0.25 && v2.spearman_gain > 0.6,
            "{v2:?}"
        );
        assert!(v2.gain_coefficient_ci.0 > 0.0);
        assert_eq!(v1.trajectories, 10);
    }
}
