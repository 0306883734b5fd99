//! The budgeted active-learning loop.
//!
//! Per seed: the test set is a seeded held-out fraction of the perturbations whose target is
//! in pathway P; everything else is the candidate pool; an initial measured set is drawn from
//! the pool (identical for every strategy). Each strategy then runs R rounds of batch B: fit
//! the ensemble, score rounds 0..R on the fixed test set, acquire B more, refit. The model fit
//! of round r uses the same stream for every strategy (common random numbers), so strategies
//! differ only by what they chose.

use crate::data::pathway::GeneSet;
use crate::numeric::linalg::Mat;
use crate::numeric::seed::stream;
use crate::planner::strategy::{AcquisitionContext, Lazy, Measured, Pick, Strategy};
use crate::predict::ensemble::{self, EnsembleConfig, Workspace};
use crate::predict::metrics::Scores;
use crate::predict::prior::Priors;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PlanError {
    #[error("pathway {pathway:?}: only {members} of its genes are perturbed in the screen; need at least 2 (one to test, one left)")]
    TooFewMembers { pathway: String, members: usize },
    #[error("batch larger than the pool: initial {initial} + {rounds} rounds × batch {batch} = {need} perturbations, but the pool holds {pool}")]
    BudgetExceedsPool {
        initial: usize,
        rounds: usize,
        batch: usize,
        need: usize,
        pool: usize,
    },
    #[error("{0}")]
    Config(String),
    #[error("model fit failed in round {round}: {source}")]
    Fit {
        round: usize,
        source: crate::numeric::linalg::LinalgError,
    },
    #[error(transparent)]
    Strategy(#[from] crate::planner::strategy::StrategyError),
    #[error("strategy {strategy} broke the rules in round {round}: {msg}")]
    BadSelection {
        strategy: String,
        round: usize,
        msg: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoopConfig {
    pub rounds: usize,
    pub batch: usize,
    pub initial: usize,
    pub test_fraction: f64,
    pub ensemble: EnsembleConfig,
}

/// Test / pool / initial indices for one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub seed: u64,
    pub test: Vec<usize>,
    pub pool: Vec<usize>,
    pub initial: Vec<usize>,
}

/// Hold out `test_fraction` of P's perturbed **target genes** (at least 1, leaving at least 1):
/// every perturbation of a held-out target is a test perturbation, and none of them stays in
/// the pool (Replogle `_P1`/`_P2` guides or one gene in several contexts are twins: holding out
/// one and measuring the other would leak). With one perturbation per target this is the same
/// draw as holding out perturbations.
pub fn split(
    targets: &[String],
    pathway: &GeneSet,
    seed: u64,
    cfg: &LoopConfig,
) -> Result<Split, PlanError> {
    if !(cfg.test_fraction > 0.0 && cfg.test_fraction < 1.0) {
        return Err(PlanError::Config(format!(
            "test fraction must be in (0, 1), got {}",
            cfg.test_fraction
        )));
    }
    if cfg.batch == 0 {
        return Err(PlanError::Config("batch must be at least 1".into()));
    }
    let members: std::collections::HashSet<&str> =
        pathway.genes.iter().map(|s| s.as_str()).collect();
    // The pathway's perturbed targets, in order of first appearance.
    let mut inside: Vec<&str> = Vec::new();
    for t in targets {
        if members.contains(t.as_str()) && !inside.contains(&t.as_str()) {
            inside.push(t.as_str());
        }
    }
    if inside.len() < 2 {
        return Err(PlanError::TooFewMembers {
            pathway: pathway.name.clone(),
            members: inside.len(),
        });
    }
    let mut rng = stream(seed, "split/test");
    shuffle(&mut inside, &mut rng);
    let n_test =
        ((inside.len() as f64 * cfg.test_fraction).round() as usize).clamp(1, inside.len() - 1);
    let held: std::collections::HashSet<&str> = inside[..n_test].iter().copied().collect();
    let test: Vec<usize> = (0..targets.len())
        .filter(|&i| held.contains(targets[i].as_str()))
        .collect();
    let mut pool: Vec<usize> = (0..targets.len())
        .filter(|&i| !held.contains(targets[i].as_str()))
        .collect();
    if cfg.initial < 2 {
        return Err(PlanError::Config(format!(
            "initial set must hold at least 2 perturbations, got {}",
            cfg.initial
        )));
    }
    let need = cfg.initial + cfg.rounds * cfg.batch;
    if need > pool.len() {
        return Err(PlanError::BudgetExceedsPool {
            initial: cfg.initial,
            rounds: cfg.rounds,
            batch: cfg.batch,
            need,
            pool: pool.len(),
        });
    }
    let mut rng = stream(seed, "split/initial");
    let mut order = pool.clone();
    shuffle(&mut order, &mut rng);
    let mut initial = order[..cfg.initial].to_vec();
    initial.sort_unstable();
    pool.retain(|i| initial.binary_search(i).is_err());
    Ok(Split {
        seed,
        test,
        pool,
        initial,
    })
}

/// Fisher–Yates with the crate's own loop, so the permutation depends only on the stream.
pub fn shuffle<T>(v: &mut [T], rng: &mut rand::rngs::ChaCha8Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RoundRecord {
    pub seed: u64,
    pub strategy: String,
    pub round: usize,
    pub n_train: usize,
    pub model: Scores,
    pub baseline: Scores,
    /// Uncertainty calibration of this round's model: Spearman of the predicted variance of
    /// the batch it chose against the squared error of its predictions for that batch, once
    /// measured (NaN in the last round, which acquires nothing).
    pub calibration: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SelectionRecord {
    pub seed: u64,
    pub strategy: String,
    pub round: usize,
    pub rank: usize,
    pub perturbation: String,
    pub target: String,
    #[serde(flatten)]
    pub pick: Pick,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

pub struct JobInput<'a> {
    pub ws: &'a Workspace<'a>,
    pub priors: &'a Priors,
    pub pathway: &'a GeneSet,
    pub split: &'a Split,
    pub cfg: &'a LoopConfig,
}

/// Run one strategy on one seed. `tick` is called after every round.
pub fn run_job(
    input: &JobInput,
    strategy: &mut dyn Strategy,
    tick: &(dyn Fn() + Sync),
) -> Result<(Vec<RoundRecord>, Vec<SelectionRecord>), PlanError> {
    let JobInput {
        ws,
        priors,
        pathway,
        split,
        cfg,
    } = *input;
    let screen = ws.screen;
    let seed = split.seed;
    let mut train = split.initial.clone();
    let mut pool = split.pool.clone();
    let mut rounds = Vec::new();
    let mut selections = Vec::new();
    for round in 0..=cfg.rounds {
        let mut fit_rng = stream(seed, &format!("ensemble/round{round}"));
        let model = ensemble::fit(ws, &train, &cfg.ensemble, &mut fit_rng)
            .map_err(|source| PlanError::Fit { round, source })?;
        let current = ws.score(&split.test, &model.predict(&split.test));
        // The mean-of-training baseline: the model's ȳ is the training mean.
        let base = ws.score_constant(&split.test, &model.y_mean);
        rounds.push(RoundRecord {
            seed,
            strategy: strategy.name().to_string(),
            round,
            n_train: train.len(),
            model: current,
            baseline: base,
            calibration: f64::NAN,
        });
        if round < cfg.rounds {
            let uncertainty = || model.uncertainty(&pool);
            let measured = || {
                let (oob_perts, oob_pred) = model.oob_prediction();
                ws.score(&oob_perts, &oob_pred)
            };
            let ctx = AcquisitionContext {
                screen,
                pathway,
                priors,
                model: &model,
                train: &train,
                pool: &pool,
                uncertainty: Lazy::new(&uncertainty),
                batch: cfg.batch,
                round,
                seed,
                measured: Measured::new(&measured),
            };
            let mut rng = stream(seed, &format!("strategy/{}/round{round}", strategy.name()));
            let sel = strategy.select(&ctx, &mut rng)?;
            let bad = |msg: String| PlanError::BadSelection {
                strategy: strategy.name().to_string(),
                round,
                msg,
            };
            if sel.picks.len() != cfg.batch {
                return Err(bad(format!(
                    "chose {} perturbations, batch is {}",
                    sel.picks.len(),
                    cfg.batch
                )));
            }
            let mut chosen: Vec<usize> = sel.picks.iter().map(|p| p.pert).collect();
            for &p in &chosen {
                if pool.binary_search(&p).is_err() {
                    return Err(bad(format!(
                        "chose {:?}, which is not in the pool",
                        screen.perturbations.get(p)
                    )));
                }
            }
            chosen.sort_unstable();
            if chosen.windows(2).any(|w| w[0] == w[1]) {
                return Err(bad("chose the same perturbation twice".into()));
            }
            // The strategy's alternatives from the same state (the LLM planner's extra
            // samples): each batch, the chosen one included, is scored as if acquired (the next
            // round's fit stream), for the spread of outcomes. Evaluation only: nothing of it
            // reaches a strategy.
            let mut sel = sel;
            if !sel.alternatives.is_empty() {
                let mut outcomes = Vec::new();
                for b in std::iter::once(&chosen).chain(&sel.alternatives) {
                    let mut b = b.clone();
                    b.sort_unstable();
                    b.dedup();
                    if b.len() != cfg.batch || b.iter().any(|p| pool.binary_search(p).is_err()) {
                        return Err(bad(
                            "an alternative batch is not a batch from the pool".into()
                        ));
                    }
                    let mut t = train.clone();
                    t.extend(&b);
                    t.sort_unstable();
                    let mut r = stream(seed, &format!("ensemble/round{}", round + 1));
                    let m = ensemble::fit(ws, &t, &cfg.ensemble, &mut r)
                        .map_err(|source| PlanError::Fit { round, source })?;
                    outcomes.push(ws.score(&split.test, &m.predict(&split.test)).pearson_delta);
                }
                let n = outcomes.len() as f64;
                let mean = outcomes.iter().sum::<f64>() / n;
                let sd =
                    (outcomes.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
                for p in &mut sel.picks {
                    p.details.insert("sample_outcome_n".into(), n);
                    p.details.insert("sample_outcome_mean".into(), mean);
                    p.details.insert("sample_outcome_sd".into(), sd);
                }
            }
            for (rank, pick) in sel.picks.into_iter().enumerate() {
                selections.push(SelectionRecord {
                    seed,
                    strategy: strategy.name().to_string(),
                    round,
                    rank,
                    perturbation: screen.perturbations[pick.pert].clone(),
                    target: screen.targets[pick.pert].clone(),
                    pick,
                    notes: if rank == 0 { sel.notes.clone() } else { vec![] },
                });
            }
            // Calibration: did the variance the model predicted for the batch rank the errors
            // it made on it (now measured)?
            // (Each row's uncertainty is computed on its own: the chosen rows' values are the
            // pool's, whether or not the strategy read them.)
            let predicted: Vec<f64> = model
                .uncertainty(&chosen)
                .iter()
                .map(|u| u.variance)
                .collect();
            let pred = model.predict(&chosen);
            let measured = Mat::from_fn(chosen.len(), screen.n_genes(), |r, g| {
                screen.values.get(chosen[r], g)
            });
            if let Some(last) = rounds.last_mut() {
                last.calibration = calibration(&predicted, &measured, &pred);
            }
            pool.retain(|p| chosen.binary_search(p).is_err());
            train.extend(chosen);
            train.sort_unstable();
        }
        tick();
    }
    Ok((rounds, selections))
}

/// Mean and standard error over seeds of a metric, per (strategy, round), in input order of
/// strategies.
#[derive(Debug, Clone, Serialize)]
pub struct CurvePoint {
    pub strategy: String,
    pub round: usize,
    pub n_train: f64,
    pub n_seeds: usize,
    pub mean: f64,
    pub se: f64,
}

pub fn learning_curve(
    records: &[RoundRecord],
    strategies: &[String],
    metric: impl Fn(&RoundRecord) -> f64,
) -> Vec<CurvePoint> {
    let mut out = Vec::new();
    for s in strategies {
        let max_round = records
            .iter()
            .filter(|r| &r.strategy == s)
            .map(|r| r.round)
            .max();
        for round in 0..=max_round.unwrap_or(0) {
            let xs: Vec<&RoundRecord> = records
                .iter()
                .filter(|r| &r.strategy == s && r.round == round)
                .collect();
            if xs.is_empty() {
                continue;
            }
            let v: Vec<f64> = xs.iter().map(|r| metric(r)).collect();
            let (mean, se) = crate::stats::mean_se(&v);
            let se = if v.len() > 1 { se } else { 0.0 };
            let n = v.len() as f64;
            let n_train = xs.iter().map(|r| r.n_train as f64).sum::<f64>() / n;
            out.push(CurvePoint {
                strategy: s.clone(),
                round,
                n_train,
                n_seeds: v.len(),
                mean,
                se,
            });
        }
    }
    out
}

/// Uncertainty calibration on a batch once it is measured: Spearman of the variance the model
/// predicted for each knock-down against the squared error it then made on it (summed over
/// readout genes). NaN when undefined (fewer than three, or a constant side).
pub fn calibration(predicted_variance: &[f64], measured: &Mat, predicted: &Mat) -> f64 {
    let err: Vec<f64> = (0..measured.rows)
        .map(|r| {
            measured
                .row(r)
                .iter()
                .zip(predicted.row(r))
                .map(|(y, f)| (y - f).powi(2))
                .sum()
        })
        .collect();
    crate::predict::metrics::spearman(predicted_variance, &err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::ensemble::EnsembleConfig;

    /// The calibration statistic can fail and can pass: batches of 32 knock-downs × 20 genes
    /// whose errors are drawn with the predicted variance (calibrated) or independently of it
    /// (null). The null's 95th percentile, from 500 null batches, is exceeded by 2–9 % of 500
    /// fresh null batches (false-positive rate ≈ 5 %) and by ≥ 90 % of 500 calibrated ones
    /// (power).
    #[test]
    fn calibration_detects_planted_calibration_and_not_its_absence() {
        let (n, g, reps) = (32, 20, 500);
        let mut rng = stream(11, "calibration-test");
        // Standard normal by Box–Muller.
        let normal = |rng: &mut rand::rngs::ChaCha8Rng| -> f64 {
            let u: f64 = rng.random_range(f64::EPSILON..1.0);
            let v: f64 = rng.random_range(0.0..1.0);
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let batch = |calibrated: bool, rng: &mut rand::rngs::ChaCha8Rng| -> f64 {
            let var: Vec<f64> = (0..n).map(|_| rng.random_range(0.2..3.0)).collect();
            let truth: Vec<f64> = if calibrated {
                var.clone()
            } else {
                (0..n).map(|_| rng.random_range(0.2..3.0)).collect()
            };
            let pred = Mat::zeros(n, g);
            let mut data = Vec::with_capacity(n * g);
            for v in &truth {
                for _ in 0..g {
                    data.push(v.sqrt() * normal(rng));
                }
            }
            calibration(&var, &Mat::from_vec(n, g, data), &pred)
        };
        let mut null: Vec<f64> = (0..reps).map(|_| batch(false, &mut rng)).collect();
        null.sort_by(f64::total_cmp);
        let q95 = null[(0.95 * reps as f64) as usize];
        let fpr = (0..reps).filter(|_| batch(false, &mut rng) > q95).count() as f64 / reps as f64;
        let power = (0..reps).filter(|_| batch(true, &mut rng) > q95).count() as f64 / reps as f64;
        assert!((0.02..=0.09).contains(&fpr), "false-positive rate {fpr}");
        assert!(power >= 0.9, "power {power} (null q95 {q95})");
        assert!(calibration(&[1.0, 2.0], &Mat::zeros(2, 3), &Mat::zeros(2, 3)).is_nan());
    }

    fn cfg() -> LoopConfig {
        LoopConfig {
            rounds: 1,
            batch: 2,
            initial: 2,
            test_fraction: 0.5,
            ensemble: EnsembleConfig {
                members: 2,
                lambda: 1.0,
                pca_dim: 2,
                feature_fraction: 1.0,
                ..Default::default()
            },
        }
    }

    /// Twins (several perturbations of one target, e.g. `_P1`/`_P2` guides) are held out
    /// together: no held-out target is ever measured or left in the pool.
    #[test]
    fn split_holds_out_whole_targets() {
        let targets: Vec<String> = ["A", "A", "B", "C", "C", "C", "D", "E", "F", "G", "H", "I"]
            .map(String::from)
            .to_vec();
        let pathway = GeneSet {
            name: "P".into(),
            description: String::new(),
            genes: ["A", "B", "C", "D"].map(String::from).to_vec(),
        };
        let mut twin_held = 0;
        for seed in 0..200 {
            let s = split(&targets, &pathway, seed, &cfg()).unwrap();
            let held: std::collections::BTreeSet<&str> =
                s.test.iter().map(|&i| targets[i].as_str()).collect();
            assert_eq!(held.len(), 2, "half of the 4 perturbed targets");
            for (i, t) in targets.iter().enumerate() {
                let in_test = s.test.contains(&i);
                assert_eq!(
                    in_test,
                    held.contains(t.as_str()),
                    "seed {seed}: {t} split apart"
                );
                if in_test {
                    assert!(!s.pool.contains(&i) && !s.initial.contains(&i));
                }
            }
            twin_held += held.contains("C") as usize;
        }
        // Each target is held out about half the time, whatever its number of twins.
        assert!((70..130).contains(&twin_held), "{twin_held}");
    }
}
