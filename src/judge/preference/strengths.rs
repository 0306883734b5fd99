//! Bradley–Terry strengths of the strategies from item scores (Davidson ties, or ties as halves), with cluster-bootstrap CIs (items, or trajectories then contexts when the items name them).

use super::*;
use crate::numeric::seed::stream;
use serde::Serialize;

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
pub(crate) fn anchored(names: &[String], theta: &[f64]) -> Option<Vec<f64>> {
    let r = names.iter().position(|n| n == "random")?;
    Some(theta.iter().map(|t| t - theta[r]).collect())
}

pub(crate) fn bt_counts(items: &[&ItemScore], names: &[String]) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
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
pub(crate) type BtFit =
    fn(&[Vec<f64>], &[Vec<f64>]) -> Result<(Vec<f64>, f64), crate::stats::BtError>;

/// Fit on the items, then cluster-bootstrap the items from the stream `(seed, stream_name)`.
pub(crate) fn fit_strengths(
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
            // Whole trajectories (then contexts) when every item names one, else items.
            let clustering = all
                .iter()
                .map(|i| {
                    Some((
                        i.trajectory.clone()?,
                        i.context.clone().unwrap_or_else(|| i.item.clone()),
                    ))
                })
                .collect::<Option<Vec<_>>>()
                .map(|l| crate::stats::Clustering::from_labels(&l))
                .unwrap_or_else(|| crate::stats::Clustering::singletons(all.len()));
            for _ in 0..resamples {
                let d: Vec<&ItemScore> = clustering
                    .resample(&mut rng)
                    .into_iter()
                    .map(|i| all[i])
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
