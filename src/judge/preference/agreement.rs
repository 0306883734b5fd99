//! Judge agreement over units (item × order): Fleiss' κ, Krippendorff's α and Cohen's κ per judge pair, with cluster-bootstrap CIs.

use super::*;
use crate::numeric::seed::stream;
use serde::Serialize;
use std::collections::BTreeMap;

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
/// tie as shown; failures missing), with cluster-bootstrap CIs (whole items resampled, or
/// whole trajectories when the verdicts name them).
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

pub(crate) fn category(o: Outcome) -> Option<usize> {
    match o {
        Outcome::A => Some(0),
        Outcome::B => Some(1),
        Outcome::Tie => Some(2),
        Outcome::Failure => None,
    }
}

/// One unit (an item in one order): its item and each judge's category (None: failed/absent).
pub(crate) type Unit = (String, Vec<Option<usize>>);

/// (item, order) → per-judge category, judges sorted.
pub(crate) fn rating_table(verdicts: &[Verdict]) -> (Vec<String>, Vec<Unit>) {
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

pub(crate) fn fleiss_of(units: &[&Vec<Option<usize>>]) -> (f64, usize) {
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

pub(crate) fn kripp_of(units: &[&Vec<Option<usize>>], raters: usize) -> f64 {
    let data: Vec<Vec<Option<usize>>> = (0..raters)
        .map(|j| units.iter().map(|r| r[j]).collect())
        .collect();
    crate::stats::krippendorff_alpha_nominal(&data)
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
    // Cluster bootstrap: resample items, keeping both orders of an item together; when every
    // verdict names its trajectory, resample trajectories, then contexts within them.
    let mut by_item: BTreeMap<&String, Vec<&Vec<Option<usize>>>> = BTreeMap::new();
    for (item, r) in &units {
        by_item.entry(item).or_default().push(r);
    }
    let items: Vec<&Vec<&Vec<Option<usize>>>> = by_item.values().collect();
    let unit_of: BTreeMap<&String, (String, String)> = verdicts
        .iter()
        .filter_map(|v| {
            let t = v.trajectory.clone()?;
            Some((
                &v.item,
                (t, v.context.clone().unwrap_or_else(|| v.item.clone())),
            ))
        })
        .collect();
    let clustering = by_item
        .keys()
        .map(|i| unit_of.get(i).cloned())
        .collect::<Option<Vec<_>>>()
        .map(|l| crate::stats::Clustering::from_labels(&l))
        .unwrap_or_else(|| crate::stats::Clustering::singletons(items.len()));
    let mut rng = stream(seed, "bootstrap/agreement");
    let (mut fb, mut kb) = (Vec::new(), Vec::new());
    let mut cb: Vec<Vec<f64>> = vec![Vec::new(); cohen.len()];
    if !items.is_empty() && judges.len() >= 2 {
        for _ in 0..resamples {
            let draw: Vec<&Vec<Option<usize>>> = clustering
                .resample(&mut rng)
                .into_iter()
                .flat_map(|i| items[i].iter().copied())
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
                    trajectory: None,
                    context: None,
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
