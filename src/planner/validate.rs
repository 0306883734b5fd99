//! `validate planner`: do the LLM planner's controls detect what they should, and only that?
//!
//! Each replicate simulates a fresh screen (`pertaudit simulate`, its own seed) and plans it
//! with four planted planners served over real HTTP by the scripted server
//! ([`crate::llm::scripted::planted_picks`]), each against the control built to catch it or to
//! pass it:
//!
//! | planner          | control        | planted effect? | the control should |
//! |------------------|----------------|-----------------|--------------------|
//! | memoriser        | `llm-masked`   | yes             | flag it            |
//! | context user     | `llm-masked`   | no              | not flag it        |
//! | feedback user    | `llm-permuted` | yes             | flag it            |
//! | feedback ignorer | `llm-permuted` | no              | not flag it        |
//!
//! The control's test is the one the ablation reports
//! ([`crate::planner::llm::ablation::control_test`]: paired two-sided Wilcoxon across seeds of
//! the per-seed AUC of pearson_delta, `llm` against the control arm); it flags when p < α.
//! Over the replicates the flag rate is the power (planted) or the false-positive rate (not
//! planted), with a Wilson interval.

use crate::data::simulate::{write_files, SimConfig};
use crate::planner::llm::ablation::{control_test, seed_aucs};
use crate::planner::llm::Arm;
use crate::planner::run::run_plan;
use crate::planner::spec::{PlanSpec, StrategyKind};
use crate::progress::Progress;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The design of a validation (recorded in its result).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Design {
    pub replicates: usize,
    pub seeds: usize,
    pub rounds: usize,
    pub batch: usize,
    pub shortlist_factor: usize,
    pub alpha: f64,
}

impl Default for Design {
    fn default() -> Self {
        Design {
            replicates: 200,
            seeds: 12,
            rounds: 6,
            batch: 6,
            shortlist_factor: 5,
            alpha: 0.05,
        }
    }
}

/// A validation to run.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidateSpec {
    pub design: Design,
    /// Where the result goes (`planner.json`), with a scratch folder removed as it goes.
    pub out: PathBuf,
    /// Planner worker threads per plan run.
    pub threads: Option<usize>,
}

/// The simulated screen of replicate `r`.
pub fn sim_config(r: usize) -> SimConfig {
    SimConfig {
        pathways: 4,
        complexes: 3,
        genes_per_complex: 6,
        background: 60,
        readouts: 150,
        noise: 0.3,
        seed: 10_000 + r as u64,
    }
}

/// One planted planner against one control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    pub persona: &'static str,
    pub control: Arm,
    pub planted: bool,
}

pub const CASES: [Case; 4] = [
    Case {
        persona: "planner-memoriser",
        control: Arm::Masked,
        planted: true,
    },
    Case {
        persona: "planner-context",
        control: Arm::Masked,
        planted: false,
    },
    Case {
        persona: "planner-feedback",
        control: Arm::Permuted,
        planted: true,
    },
    Case {
        persona: "planner-ignorer",
        control: Arm::Permuted,
        planted: false,
    },
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidationCell {
    pub planner: String,
    pub control: String,
    /// Whether the planner carries the effect the control is meant to detect.
    pub planted: bool,
    pub replicates: usize,
    pub flagged: usize,
    /// flagged / replicates: power when planted, false-positive rate when not.
    pub rate: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Mean over replicates of the mean AUC difference (llm − control).
    pub mean_difference: f64,
    /// Each replicate's Wilcoxon p.
    pub p_values: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannerValidation {
    #[serde(flatten)]
    pub design: Design,
    /// The simulated screen of replicate 0 (later replicates change only the seed).
    pub simulation: String,
    pub test: String,
    pub cells: Vec<ValidationCell>,
}

fn model_file(dir: &Path, base_url: &str) -> Result<PathBuf> {
    let p = dir.join("planted.toml");
    std::fs::write(
        &p,
        format!(
            "provider = \"openai\"\nbase_url = \"{base_url}\"\nmodel = \"planted\"\nconcurrency = 8\n"
        ),
    )?;
    Ok(p)
}

/// Run the validation; writes `out/planner.json`.
pub fn validate_planner(spec: &ValidateSpec, progress: &dyn Progress) -> Result<PlannerValidation> {
    let d = spec.design;
    anyhow::ensure!(d.replicates >= 1, "replicates must be at least 1");
    anyhow::ensure!(d.seeds >= 2, "seeds must be at least 2 (a paired test)");
    crate::stats::check_alpha(d.alpha).map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&spec.out)?;
    let (_rt, server) = crate::llm::scripted::ScriptedServer::in_background()?;
    let scratch = spec.out.join("scratch");
    let mut p_values: Vec<Vec<f64>> = vec![Vec::new(); CASES.len()];
    let mut diffs: Vec<Vec<f64>> = vec![Vec::new(); CASES.len()];
    progress.phase("validate planner", (d.replicates * CASES.len()) as u64);
    for r in 0..d.replicates {
        let dir = scratch.join(format!("replicate{r}"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let sim = write_files(&dir, &sim_config(r))?;
        for (i, case) in CASES.iter().enumerate() {
            let base = format!("http://{}/{}/v1", server.addr, case.persona);
            let plan = PlanSpec {
                screen: dir.join("screen.tsv"),
                pathways: dir.join("pathways.gmt"),
                pathway: sim.pathway_names[0].clone(),
                strategies: vec![
                    StrategyKind::Llm(Arm::Full, None),
                    StrategyKind::Llm(case.control, None),
                ],
                rounds: d.rounds,
                initial: Some(2 * d.batch),
                batch: d.batch,
                seeds: d.seeds,
                seed: (r * 1000) as u64,
                out: Some(dir.join(case.persona)),
                network: Some(dir.join("network.tsv")),
                annotations: Some(dir.join("context.tsv")),
                genes: Some(dir.join("genes.tsv")),
                llm_model: Some(model_file(&dir, &base)?),
                shortlist_factor: d.shortlist_factor,
                reprompts: 0,
                threads: spec.threads,
                ..PlanSpec::default()
            };
            let done = run_plan(&plan, &crate::progress::Quiet)?;
            let t = control_test(&seed_aucs(&done.rounds), "llm", case.control.strategy())
                .ok_or_else(|| anyhow::anyhow!("replicate {r}: no paired seeds"))?;
            p_values[i].push(t.wilcoxon_p);
            diffs[i].push(t.mean_difference);
            progress.inc(1);
        }
        std::fs::remove_dir_all(&dir)?;
    }
    progress.done();
    let _ = std::fs::remove_dir(&scratch);
    let cells = CASES
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let n = p_values[i].len();
            let flagged = p_values[i].iter().filter(|p| **p < d.alpha).count();
            let (lo, hi) = crate::stats::wilson(flagged as f64, n as f64, 0.05);
            ValidationCell {
                planner: c.persona.trim_start_matches("planner-").to_string(),
                control: c.control.strategy().to_string(),
                planted: c.planted,
                replicates: n,
                flagged,
                rate: flagged as f64 / n as f64,
                ci_low: lo,
                ci_high: hi,
                mean_difference: crate::stats::mean_se(&diffs[i]).0,
                p_values: p_values[i].clone(),
            }
        })
        .collect();
    let v = PlannerValidation {
        design: spec.design,
        simulation: format!("{:?}", sim_config(0)),
        test: "paired two-sided Wilcoxon signed-rank across seeds of the per-seed AUC of pearson_delta, llm vs the control arm; flagged when p < alpha".into(),
        cells,
    };
    crate::data::runfile::write_atomic(
        &spec.out.join("planner.json"),
        (serde_json::to_string_pretty(&v)? + "\n").as_bytes(),
    )?;
    Ok(v)
}

/// The calibration table as Markdown rows (planner, control, planted, flagged/n, rate, CI).
pub fn table(v: &PlannerValidation) -> Vec<Vec<String>> {
    v.cells
        .iter()
        .map(|c| {
            vec![
                c.planner.clone(),
                format!("`{}`", c.control),
                if c.planted { "yes" } else { "no" }.into(),
                format!("{}/{}", c.flagged, c.replicates),
                format!(
                    "{:.3} ({}) [{:.3}, {:.3}]",
                    c.rate,
                    if c.planted {
                        "power"
                    } else {
                        "false-positive rate"
                    },
                    c.ci_low,
                    c.ci_high
                ),
                format!("{:+.4}", c.mean_difference),
            ]
        })
        .collect()
}
