//! `validate judges`: do the panel statistics hold their level under dependence, cover the
//! truth, and call equivalence only when it holds?
//!
//! Each replicate builds a judging design with a planted truth and sends it, over real HTTP,
//! to a panel of planted judges on the scripted server
//! ([`crate::llm::scripted::planted_verdict`]): for every item (one context of one trajectory,
//! strategies `s` and `t`), the latent quality difference is Δ = μ + u_g + e_i with a trajectory
//! effect u_g ~ N(0, τ²) shared by the trajectory's rounds (planted clustering) and an item
//! effect e_i ~ N(0, σ²); a judge prefers batch A with probability Φ(q_A − q_B + β), β the
//! planted position bias. The true win rate of `s` is E[½(Φ(Δ + β) + Φ(Δ − β))] over
//! Δ ~ N(μ, τ² + σ²), computed by quadrature. The verdicts go through `judge` and the same
//! statistics `stats` reports ([`crate::judge::preference::summarise_with`]).
//!
//! Per case, over the replicates: the rejection rate of the item-level sign test (naive) and
//! of the trajectory-level sign test (clustered) with Wilson intervals, the coverage of the
//! item bootstrap CI and of the two-stage cluster-bootstrap CI, the rate of TOST declaring
//! equivalence within the margins, and the mean design effect.

use crate::data::runfile::{sha256_bytes, write_atomic};
use crate::judge::blind::{BlindBatch, ShownGene};
use crate::judge::preference::{item_scores, parse_verdicts, summarise_with, SummaryOptions};
use crate::judge::{Key, ShownPathway, Task};
use crate::numeric::seed::stream;
use crate::progress::Progress;
use anyhow::Result;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The design of a judge validation (recorded in its result).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Design {
    pub replicates: usize,
    /// Independent trajectories per case.
    pub trajectories: usize,
    /// Judged rounds (contexts) per trajectory.
    pub rounds: usize,
    pub judges: usize,
    /// SD σ of the item effect.
    pub item_sd: f64,
    pub resamples: usize,
    pub alpha: f64,
    pub margin: (f64, f64),
}

impl Default for Design {
    fn default() -> Self {
        Design {
            replicates: 500,
            trajectories: 10,
            rounds: 6,
            judges: 3,
            item_sd: 0.3,
            resamples: 2_000,
            alpha: 0.05,
            margin: (0.4, 0.6),
        }
    }
}

/// One planted truth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub name: &'static str,
    /// Mean quality difference μ (probit scale).
    pub mu: f64,
    /// SD τ of the trajectory effect (0: no clustering).
    pub tau: f64,
    /// Judges with the planted position bias (towards batch A).
    pub position_bias: bool,
    /// What the judges see beyond the truth in s's batches (a planted miscalibration); a
    /// simulated person labels from the truth alone.
    pub appeal: f64,
    /// Trajectories × rounds of this case, when not the design's.
    pub size: Option<(usize, usize)>,
    pub what: &'static str,
}

/// Human labels on the calibration sheet of the miscalibrated case.
pub const CALIBRATION_LABELS: usize = 50;

pub const CASES: [Case; 7] = [
    Case {
        name: "null",
        mu: 0.0,
        tau: 0.0,
        position_bias: false,
        appeal: 0.0,
        size: None,
        what: "no preference, independent items: both tests should hold α",
    },
    Case {
        name: "null-clustered",
        mu: 0.0,
        tau: 1.0,
        position_bias: false,
        appeal: 0.0,
        size: None,
        what: "no preference, strong within-trajectory agreement: the clustered test should hold α; the naive one is shown",
    },
    Case {
        name: "null-position",
        mu: 0.0,
        tau: 0.0,
        position_bias: true,
        appeal: 0.0,
        size: None,
        what: "no preference, every judge biased to position A: both orders cancel it",
    },
    Case {
        name: "planted",
        mu: 0.4,
        tau: 0.5,
        position_bias: false,
        appeal: 0.0,
        size: None,
        what: "a planted preference with clustering: power, and coverage of the true win rate",
    },
    Case {
        name: "equivalent",
        mu: 0.0,
        tau: 0.2,
        position_bias: false,
        appeal: 0.0,
        size: None,
        what: "truth 0.5, inside the margins: how often TOST shows equivalence",
    },
    Case {
        name: "not-equivalent",
        mu: 0.9,
        tau: 0.5,
        position_bias: false,
        appeal: 0.0,
        size: None,
        what: "truth outside the margins: TOST must call equivalence at most α of the time",
    },
    Case {
        name: "miscalibrated",
        mu: 0.0,
        tau: 0.0,
        position_bias: false,
        appeal: 0.6,
        size: Some((20, 10)),
        what: "judges favour s beyond the truth; a person labels 50 items: the bias-corrected win rates should cover the person's win rate",
    },
];

/// A validation to run.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidateSpec {
    pub design: Design,
    /// Where the result goes (`judges.json`); a scratch folder is removed as it goes.
    pub out: PathBuf,
}

/// One case's figures over the replicates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JudgeCell {
    pub case: String,
    pub what: String,
    pub mu: f64,
    pub tau: f64,
    pub position_bias: f64,
    pub appeal: f64,
    /// The judges' expected win rate (the estimand of the uncorrected statistics).
    pub true_win_rate: f64,
    /// A person's expected win rate (equal to the judges' unless they are miscalibrated).
    pub person_win_rate: f64,
    pub replicates: usize,
    pub mean_win_rate: f64,
    /// Item-level sign test rejections (p < α).
    pub naive_rejections: usize,
    pub naive_rate: (f64, f64, f64),
    /// Trajectory-level sign test rejections.
    pub clustered_rejections: usize,
    pub clustered_rate: (f64, f64, f64),
    /// Share of replicates whose item-bootstrap CI holds the true win rate.
    pub naive_coverage: f64,
    /// Share whose two-stage cluster-bootstrap CI holds it.
    pub clustered_coverage: f64,
    /// Share where TOST declared equivalence within the margins.
    pub equivalent_rate: (f64, f64, f64),
    pub mean_design_effect: f64,
    /// With a simulated person's labels: the truth is the person's win rate.
    #[serde(default)]
    pub calibration: Option<CalibrationCell>,
}

/// Coverage of the bias-corrected win rates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalibrationCell {
    pub labels: usize,
    /// Replicates whose Rogan–Gladen estimate exists (Se + Sp > 1); the mean is over them, the
    /// coverage over all replicates.
    pub rogan_gladen_estimable: usize,
    pub mean_rogan_gladen: f64,
    pub rogan_gladen_coverage: f64,
    pub mean_ppi: f64,
    pub ppi_coverage: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JudgeValidation {
    #[serde(flatten)]
    pub design: Design,
    pub position_bias_probit: f64,
    pub cells: Vec<JudgeCell>,
}

/// The true win rate of `s`: E[½(Φ(Δ+β) + Φ(Δ−β))], Δ ~ N(μ, sd²), by the trapezoid rule
/// over ±10 SD (20,001 points; exact for sd = 0).
pub fn true_win_rate(mu: f64, sd: f64, bias: f64) -> f64 {
    use statrs::distribution::{Continuous, ContinuousCDF, Normal};
    let phi = Normal::standard();
    let f = |d: f64| 0.5 * (phi.cdf(d + bias) + phi.cdf(d - bias));
    if sd == 0.0 {
        return f(mu);
    }
    let n = 20_000;
    let (lo, hi) = (mu - 10.0 * sd, mu + 10.0 * sd);
    let h = (hi - lo) / n as f64;
    let dens = Normal::new(mu, sd).expect("sd > 0");
    (0..=n)
        .map(|i| {
            let x = lo + i as f64 * h;
            let w = if i == 0 || i == n { 0.5 } else { 1.0 };
            w * f(x) * dens.pdf(x)
        })
        .sum::<f64>()
        * h
}

fn normal<R: rand::Rng>(rng: &mut R) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Write replicate `r`'s tasks folder for the cases with (or without) position-biased judges,
/// all in one folder: contexts are `CASE|tG|seedG|roundR`.
/// Returns each context's latent quality difference (the truth a person labels from).
fn write_tasks(
    dir: &Path,
    d: &Design,
    r: usize,
    biased: bool,
    truth: &mut std::collections::BTreeMap<String, f64>,
) -> Result<()> {
    let pathway = ShownPathway {
        name: "PLANTED".into(),
        description: "a planted validation design".into(),
        members: vec!["M1".into(), "M2".into()],
    };
    let mut key = Key::default();
    let mut tasks = Vec::new();
    for case in CASES.iter().filter(|c| c.position_bias == biased) {
        let mut rng = stream(r as u64, &format!("validate-judges/{}", case.name));
        let (trajectories, rounds) = case.size.unwrap_or((d.trajectories, d.rounds));
        for g in 0..trajectories {
            let u = case.tau * normal(&mut rng);
            for k in 0..rounds {
                let delta = case.mu + u + d.item_sd * normal(&mut rng);
                truth.insert(format!("{}|t{g}|seed{g}|round{k}", case.name), delta);
                let ctx = format!("{}|t{g}|seed{g}|round{k}", case.name);
                let item = format!("i{}", &sha256_bytes(format!("{r}|{ctx}").as_bytes())[..12]);
                let batch = |who: &str, q: f64| BlindBatch {
                    id: format!(
                        "b{}",
                        &sha256_bytes(format!("{r}|{ctx}|{who}").as_bytes())[..10]
                    ),
                    genes: vec![ShownGene {
                        symbol: format!("{}{g}X{k}", who.to_uppercase()),
                        annotation: format!("planted quality={q:.6}"),
                    }],
                };
                let (bs, bt) = (batch("s", delta + case.appeal), batch("t", 0.0));
                key.batches
                    .insert(bs.id.clone(), (ctx.clone(), "s".to_string()));
                key.batches
                    .insert(bt.id.clone(), (ctx.clone(), "t".to_string()));
                key.items.insert(item.clone(), ctx.clone());
                for (order, (a, b)) in [("1", (&bs, &bt)), ("2", (&bt, &bs))] {
                    tasks.push(Task {
                        task: format!("t{:05}", tasks.len() + 1),
                        item: item.clone(),
                        order: order.into(),
                        pathway: pathway.clone(),
                        a: a.clone(),
                        b: b.clone(),
                    });
                }
            }
        }
    }
    let mut lines = String::new();
    for t in &tasks {
        lines.push_str(&serde_json::to_string(t)?);
        lines.push('\n');
    }
    let key_json = serde_json::to_string_pretty(&key)?;
    let manifest = serde_json::json!({
        "command": "validate judges",
        "planner_families": [],
        "tasks": tasks.len(),
        "tasks_sha256": sha256_bytes(lines.as_bytes()),
        "key_sha256": sha256_bytes(key_json.as_bytes()),
    });
    std::fs::create_dir_all(dir)?;
    write_atomic(&dir.join("tasks.jsonl"), lines.as_bytes())?;
    write_atomic(&dir.join("key.json"), key_json.as_bytes())?;
    write_atomic(
        &dir.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )?;
    Ok(())
}

fn judge_files(dir: &Path, base: &str, n: usize, persona: &str) -> Result<Vec<PathBuf>> {
    (1..=n)
        .map(|j| {
            let p = dir.join(format!("{persona}-{j}.toml"));
            std::fs::write(
                &p,
                format!(
                    "provider = \"openai\"\nbase_url = \"{base}/{persona}/v1\"\nmodel = \"{persona}-{j}\"\nname = \"{persona}-{j}\"\nconcurrency = 16\n"
                ),
            )?;
            Ok(p)
        })
        .collect()
}

/// Per case and replicate: (win rate, naive p, clustered p, item CI, clustered CI, verdict,
/// design effect).
type Outcome = (
    f64,
    f64,
    f64,
    (f64, f64),
    (f64, f64),
    crate::stats::EquivalenceVerdict,
    f64,
    Option<Calibrated>,
);

/// The bias-corrected win rates of one replicate: (Rogan–Gladen, its CI, PPI, its CI).
type Calibrated = (f64, (f64, f64), f64, (f64, f64));

/// A person's labels on `CALIBRATION_LABELS` items drawn at random: "A" (s, shown first in
/// order 1) with probability Φ(Δ), from the stream `validate-judges/labels`.
fn simulated_labels(
    verdicts: &[crate::judge::preference::Verdict],
    truth: &std::collections::BTreeMap<String, f64>,
    r: usize,
) -> Vec<crate::data::rows::LabelRow> {
    use rand::seq::SliceRandom;
    use statrs::distribution::{ContinuousCDF, Normal};
    let mut items: Vec<(&str, &str)> = verdicts
        .iter()
        .filter(|v| v.order == "1")
        .map(|v| (v.item.as_str(), v.context.as_deref().unwrap_or("")))
        .collect();
    items.sort();
    items.dedup();
    let mut rng = stream(r as u64, "validate-judges/labels");
    items.shuffle(&mut rng);
    items
        .into_iter()
        .take(CALIBRATION_LABELS)
        .map(|(item, ctx)| {
            let p = Normal::standard().cdf(truth.get(ctx).copied().unwrap_or(0.0));
            crate::data::rows::LabelRow {
                item: item.to_string(),
                order: "1".into(),
                label: if rng.random::<f64>() < p { "A" } else { "B" }.into(),
                labeller: "simulated".into(),
                note: String::new(),
            }
        })
        .collect()
}

/// Run the validation; writes `out/judges.json`.
pub fn validate_judges(spec: &ValidateSpec, progress: &dyn Progress) -> Result<JudgeValidation> {
    let d = spec.design;
    anyhow::ensure!(d.replicates >= 1, "replicates must be at least 1");
    anyhow::ensure!(d.trajectories >= 2, "trajectories must be at least 2");
    anyhow::ensure!(
        d.rounds >= 1 && d.judges >= 1,
        "rounds and judges must be at least 1"
    );
    crate::stats::check_alpha(d.alpha).map_err(anyhow::Error::msg)?;
    crate::stats::check_resamples(d.resamples).map_err(anyhow::Error::msg)?;
    crate::stats::check_win_margin(d.margin.0, d.margin.1).map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&spec.out)?;
    let (_rt, server) = crate::llm::scripted::ScriptedServer::in_background()?;
    let base = format!("http://{}", server.addr);
    let scratch = spec.out.join("scratch");
    let mut outcomes: Vec<Vec<Outcome>> = vec![Vec::new(); CASES.len()];
    progress.phase("validate judges", d.replicates as u64);
    for r in 0..d.replicates {
        let dir = scratch.join(format!("replicate{r}"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        // The position-bias case needs its own panel: two judge runs per replicate.
        let mut verdicts = Vec::new();
        let mut truth = std::collections::BTreeMap::new();
        for (tag, persona) in [("plain", "judge-planted"), ("first", "judge-planted-first")] {
            let tasks = dir.join(format!("tasks-{tag}"));
            let biased = tag == "first";
            write_tasks(&tasks, &d, r, biased, &mut truth)?;
            let run = dir.join(format!("run-{tag}"));
            crate::judge::judge(
                &crate::judge::JudgeSpec {
                    tasks: tasks.clone(),
                    judges: judge_files(&dir, &base, d.judges, persona)?,
                    run: run.clone(),
                    seed: r as u64,
                    ..Default::default()
                },
                &crate::progress::Quiet,
            )?;
            let text = std::fs::read_to_string(run.join("verdicts.csv"))?;
            let vs = parse_verdicts(&text)
                .map_err(|(l, f, m)| anyhow::anyhow!("verdicts.csv line {l} {f}: {m}"))?;
            verdicts.extend(vs);
        }
        for (ci, case) in CASES.iter().enumerate() {
            let vs: Vec<_> = verdicts
                .iter()
                .filter(|v| v.context.as_deref().unwrap_or("").split('|').next() == Some(case.name))
                .cloned()
                .collect();
            let items = item_scores(&vs);
            let calibrated = (case.appeal != 0.0).then(|| {
                let labels = simulated_labels(&vs, &truth, r);
                let c = crate::judge::calibration::calibrate(
                    &vs,
                    &items,
                    &labels,
                    d.resamples,
                    r as u64,
                    d.alpha,
                );
                let p = &c.pairs[0];
                (p.rogan_gladen, p.rogan_gladen_ci, p.ppi, p.ppi_ci)
            });
            let sums = summarise_with(
                &items,
                &SummaryOptions {
                    resamples: d.resamples,
                    seed: r as u64,
                    alpha: d.alpha,
                    margin: Some(d.margin),
                },
            );
            let p = sums
                .iter()
                .find(|p| p.s == "s" && p.t == "t")
                .ok_or_else(|| {
                    anyhow::anyhow!("replicate {r}, case {}: no scored pair", case.name)
                })?;
            outcomes[ci].push((
                p.win_rate,
                p.sign_test_p,
                p.p_clustered.unwrap_or(f64::NAN),
                p.bootstrap_ci,
                p.ci_clustered.unwrap_or((f64::NAN, f64::NAN)),
                p.equivalence
                    .as_ref()
                    .map_or(crate::stats::EquivalenceVerdict::Inconclusive, |e| {
                        e.verdict
                    }),
                p.design_effect.unwrap_or(f64::NAN),
                calibrated,
            ));
        }
        std::fs::remove_dir_all(&dir)?;
        progress.inc(1);
    }
    progress.done();
    let _ = std::fs::remove_dir(&scratch);
    let bias = crate::llm::scripted::PLANTED_POSITION_BIAS;
    let cells = CASES
        .iter()
        .zip(&outcomes)
        .map(|(c, o)| {
            let n = o.len();
            let b = if c.position_bias { bias } else { 0.0 };
            let sd = (c.tau.powi(2) + d.item_sd.powi(2)).sqrt();
            // What the judges' win rate estimates (the truth a person labels from has no
            // appeal in it).
            let judged = true_win_rate(c.mu + c.appeal, sd, b);
            let truth = true_win_rate(c.mu, sd, 0.0);
            let rate = |k: usize| {
                let (lo, hi) = crate::stats::wilson(k as f64, n as f64, 0.05);
                (k as f64 / n as f64, lo, hi)
            };
            let naive = o.iter().filter(|x| x.1 < d.alpha).count();
            let clustered = o.iter().filter(|x| x.2 < d.alpha).count();
            let covers = |ci: (f64, f64)| ci.0 <= judged && judged <= ci.1;
            let person = |ci: (f64, f64)| ci.0 <= truth && truth <= ci.1;
            let cal: Vec<&Calibrated> = o.iter().filter_map(|x| x.7.as_ref()).collect();
            let finite_rg: Vec<f64> = cal.iter().map(|x| x.0).filter(|x| x.is_finite()).collect();
            let calibration = (!cal.is_empty()).then(|| CalibrationCell {
                labels: CALIBRATION_LABELS,
                rogan_gladen_estimable: finite_rg.len(),
                mean_rogan_gladen: finite_rg.iter().sum::<f64>() / finite_rg.len().max(1) as f64,
                rogan_gladen_coverage: cal.iter().filter(|x| person(x.1)).count() as f64
                    / cal.len() as f64,
                mean_ppi: cal.iter().map(|x| x.2).sum::<f64>() / cal.len() as f64,
                ppi_coverage: cal.iter().filter(|x| person(x.3)).count() as f64 / cal.len() as f64,
            });
            let equivalent = o
                .iter()
                .filter(|x| x.5 == crate::stats::EquivalenceVerdict::Equivalent)
                .count();
            let finite: Vec<f64> = o.iter().map(|x| x.6).filter(|x| x.is_finite()).collect();
            JudgeCell {
                case: c.name.into(),
                what: c.what.into(),
                mu: c.mu,
                tau: c.tau,
                position_bias: b,
                appeal: c.appeal,
                true_win_rate: judged,
                person_win_rate: truth,
                replicates: n,
                mean_win_rate: o.iter().map(|x| x.0).sum::<f64>() / n as f64,
                naive_rejections: naive,
                naive_rate: rate(naive),
                clustered_rejections: clustered,
                clustered_rate: rate(clustered),
                naive_coverage: o.iter().filter(|x| covers(x.3)).count() as f64 / n as f64,
                clustered_coverage: o.iter().filter(|x| covers(x.4)).count() as f64 / n as f64,
                equivalent_rate: rate(equivalent),
                mean_design_effect: finite.iter().sum::<f64>() / finite.len().max(1) as f64,
                calibration,
            }
        })
        .collect();
    let v = JudgeValidation {
        design: d,
        position_bias_probit: bias,
        cells,
    };
    write_atomic(
        &spec.out.join("judges.json"),
        (serde_json::to_string_pretty(&v)? + "\n").as_bytes(),
    )?;
    Ok(v)
}

/// The calibration table as Markdown rows.
pub fn table(v: &JudgeValidation) -> Vec<Vec<String>> {
    let r = |x: (f64, f64, f64)| format!("{:.3} [{:.3}, {:.3}]", x.0, x.1, x.2);
    v.cells
        .iter()
        .map(|c| {
            vec![
                c.case.clone(),
                format!("{:.3}", c.true_win_rate),
                format!("{:.3}", c.mean_win_rate),
                r(c.naive_rate),
                r(c.clustered_rate),
                format!("{:.3}", c.naive_coverage),
                format!("{:.3}", c.clustered_coverage),
                r(c.equivalent_rate),
                format!("{:.2}", c.mean_design_effect),
            ]
        })
        .collect()
}

/// The calibration rows (cases with a simulated person's labels).
pub fn calibration_table(v: &JudgeValidation) -> Vec<Vec<String>> {
    v.cells
        .iter()
        .filter_map(|c| {
            let k = c.calibration.as_ref()?;
            Some(vec![
                c.case.clone(),
                k.labels.to_string(),
                format!("{:.3}", c.person_win_rate),
                format!("{:.3}", c.mean_win_rate),
                format!("{:.3}", k.mean_rogan_gladen),
                format!("{:.3}", k.rogan_gladen_coverage),
                format!("{:.3}", k.mean_ppi),
                format!("{:.3}", k.ppi_coverage),
            ])
        })
        .collect()
}

/// The header of [`calibration_table`].
pub const CALIBRATION_HEADER: [&str; 8] = [
    "case",
    "labels",
    "person's win rate",
    "judges' mean estimate",
    "mean Rogan–Gladen",
    "Rogan–Gladen CI coverage",
    "mean PPI",
    "PPI CI coverage",
];

/// The header of [`table`].
pub const TABLE_HEADER: [&str; 9] = [
    "case",
    "true win rate",
    "mean estimate",
    "naive rejection rate",
    "clustered rejection rate",
    "naive CI coverage",
    "clustered CI coverage",
    "TOST equivalent",
    "design effect",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_truth_is_half_under_the_null_and_moves_with_mu() {
        assert!((true_win_rate(0.0, 1.0, 0.0) - 0.5).abs() < 1e-9);
        assert!((true_win_rate(0.0, 0.3, 1.0) - 0.5).abs() < 1e-9);
        // Φ(μ / √(1 + sd²)) without bias
        let w = true_win_rate(0.4, 0.5, 0.0);
        let want = statrs::distribution::ContinuousCDF::cdf(
            &statrs::distribution::Normal::standard(),
            0.4 / (1.0f64 + 0.25).sqrt(),
        );
        assert!((w - want).abs() < 1e-7, "{w} vs {want}");
    }
}
