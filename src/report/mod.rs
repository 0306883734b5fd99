//! `pertaudit report RUN`: the reviewer-ready report of an audit run, rebuilt from the run's
//! files and its ledger alone. `reports/<run-id>/report.md` (figures in `figures/`) and a
//! self-contained `report.html`. Nothing in it depends on the machine, the clock or the
//! paths the run was made from, so the same run gives the same bytes anywhere.

pub mod doc;
pub mod svg;

use crate::audit::config::AuditConfig;
use crate::data::runfile::{sha256_bytes, write_atomic};
use crate::judge::manifest::JudgeManifest;
use crate::llm::ledger::{read_chain, Entry, Exchange, LEDGER_FILE};
use anyhow::{Context, Result};
use doc::Doc;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod inputs;
use inputs::*;
mod sections;
use sections::*;

/// A number with `d` decimals; NA for NaN; no negative zero.
pub fn f(v: f64, d: usize) -> String {
    if !v.is_finite() {
        return "NA".into();
    }
    let s = format!("{v:.d$}");
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    }
}

/// A p-value: 4 decimals, or `<0.0001`.
pub fn fmt_p(p: f64) -> String {
    if !p.is_finite() {
        "NA".into()
    } else if p < 1e-4 {
        "<0.0001".into()
    } else {
        format!("{p:.4}")
    }
}

fn ci(lo: f64, hi: f64, d: usize) -> String {
    format!("[{}, {}]", f(lo, d), f(hi, d))
}

/// Where a report was written.
pub struct Written {
    pub run_id: String,
    pub dir: PathBuf,
    pub markdown: PathBuf,
    pub html: PathBuf,
}

/// Build the report of run `run`, reading the LLM ledger of `ledger_run` (the same run,
/// unless the outputs were recomputed from it elsewhere).
pub fn build(run: &Path, ledger_run: &Path) -> Result<(String, Doc)> {
    if !run.join("audit.json").is_file() {
        anyhow::bail!(
            "{}: not an audit run (no audit.json; `pertaudit audit CONFIG.toml` or `pertaudit demo` makes one)",
            run.display()
        );
    }
    let audit: crate::audit::AuditSummary = serde_json::from_str(&read(&run.join("audit.json"))?)
        .with_context(|| {
        format!("{}: not an audit summary", run.join("audit.json").display())
    })?;
    if !audit.complete {
        anyhow::bail!(
            "{}: the audit has not finished (run `pertaudit audit` again to resume it)",
            run.display()
        );
    }
    let run_id = audit.run_id.clone();
    let (c, config_text) = AuditConfig::load(&crate::audit::current_config(run))?;
    let lock_bytes = std::fs::read(run.join(crate::audit::LOCK))
        .with_context(|| format!("{}: cannot read", run.join(crate::audit::LOCK).display()))?;
    let lock: crate::audit::Lock =
        serde_json::from_slice(&lock_bytes).context("lock.json: not a lock")?;
    let lock_sha = sha256_bytes(&lock_bytes);
    let mut d = Doc {
        title: format!("pertaudit audit report: {}", c.study.name),
        ..Default::default()
    };
    let local_models = lock.models.iter().any(|m| m.provider == "local");
    if c.simulated() {
        d.banner("SIMULATED DATA: the screen in this report was drawn from a documented generative model (src/simulate.rs), not measured. It tests the pipeline; it says nothing about real biology.");
    }
    if local_models {
        d.banner("The LLM planner and/or judges here are the embedded local model (SmolLM2-135M). Its answers test the pipeline end to end; a 135M model's picks and judgements are not evidence.");
    }
    if !c.study.description.is_empty() {
        d.p(c.study.description.clone());
    }

    // Ledger.
    let chain_path = ledger_run.join(LEDGER_FILE);
    let (records, _) = if chain_path.exists() {
        read_chain(&chain_path).map_err(|e| anyhow::anyhow!("{e}"))?
    } else {
        (Vec::new(), None)
    };
    let head = records
        .last()
        .map(|r| r.hash.clone())
        .unwrap_or_else(|| crate::llm::ledger::GENESIS.into());
    // The chains of shards run elsewhere (`ledger merge`), after the run's own.
    let indexed = crate::llm::ledger_index::verify_indexed(ledger_run)?;
    let exchanges: Vec<Exchange> = records
        .iter()
        .chain(indexed.iter().flat_map(|(_, r)| r.iter()))
        .filter_map(|r| match &r.entry {
            Entry::Exchange(x) => Some((**x).clone()),
            _ => None,
        })
        .collect();

    let mut ledger_line = format!(
        "Run `{run_id}`. Pre-registration lock sha256 `{lock_sha}` (written before the first LLM call). Ledger: {} records, head `{head}`.",
        records.len()
    );
    if !indexed.is_empty() {
        ledger_line.push_str(&format!(
            " Shard ledgers (`ledgers.json`, each chain verified and kept intact): {}.",
            indexed
                .iter()
                .map(|(c, _)| format!("`{}` {} records, head `{}`", c.name, c.records, c.head))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    d.p(ledger_line);

    design(&mut d, run, &c)?;
    let mut fb_total: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for s in &c.screens {
        for p in &s.pathways {
            for (k, (n, fb)) in fallbacks(
                &run.join("plan")
                    .join(&s.name)
                    .join(p)
                    .join("selections.jsonl"),
            )? {
                let e = fb_total.entry(k).or_default();
                e.0 += n;
                e.1 += fb;
            }
        }
    }
    let judged = run.join("judged");
    let jm = if c.judges.is_some() {
        Some(JudgeManifest::read(&judged.join("judge_manifest.json"))?)
    } else {
        None
    };
    deviations(&mut d, run, &fb_total, jm.as_ref())?;
    performance(&mut d, run, &c)?;
    let verdicts = match &jm {
        Some(m) => judged_section(&mut d, run, &c, m)?,
        None => Vec::new(),
    };
    if let Some(ab) = &c.ablation {
        ablation_section(&mut d, run, &c, ab)?;
    }
    failures(&mut d, jm.as_ref(), &fb_total, &exchanges);
    tokens(&mut d, &exchanges);
    d.h(1, "Methods");
    d.p(methods(&c, &verdicts));
    if c.ablation.is_some() {
        validation_appendix(&mut d, run)?;
    }
    if c.judges.is_some() {
        judge_validation_appendix(&mut d, run)?;
    }

    provenance(
        &mut d,
        &Provenance {
            lock: &lock,
            lock_sha: &lock_sha,
            run_id: &run_id,
            config_text: &config_text,
            head: &head,
            records: records.len(),
            judge_manifest: jm.as_ref(),
        },
    );
    Ok((run_id, d))
}

/// Write `reports/<run-id>/report.md`, its figures and `report.html`.
pub fn write(reports: &Path, run_id: &str, d: &Doc) -> Result<Written> {
    let dir = reports.join(run_id);
    let (md, figs) = d.markdown();
    for (name, svg) in &figs {
        write_atomic(&dir.join("figures").join(name), svg.as_bytes())?;
    }
    let markdown = dir.join("report.md");
    let html = dir.join("report.html");
    write_atomic(&markdown, md.as_bytes())?;
    write_atomic(&html, d.html().as_bytes())?;
    Ok(Written {
        run_id: run_id.to_string(),
        dir,
        markdown,
        html,
    })
}

/// Build and write the report of `run`.
pub fn report(run: &Path, reports: &Path) -> Result<Written> {
    let (id, d) = build(run, run)?;
    write(reports, &id, &d)
}

/// What a replay did: the report it wrote and how many recomputed files it compared.
pub struct Replayed {
    pub written: Written,
    pub files: usize,
}

/// `report --replay`: recompute every step from the run's ledger alone (no LLM call), check
/// every derived file byte for byte, then write the report from the recomputed files.
pub fn replay(
    run: &Path,
    reports: &Path,
    inputs_from: Option<&Path>,
    progress: &dyn crate::progress::Progress,
) -> Result<Replayed> {
    let r = crate::audit::recompute(run, inputs_from, progress)?;
    let (id, d) = build(&r.scratch, run)?;
    if id != r.run_id {
        anyhow::bail!("replay: run id {id} differs from {}", r.run_id);
    }
    let w = write(reports, &id, &d)?;
    std::fs::remove_dir_all(&r.scratch).ok();
    Ok(Replayed {
        written: w,
        files: r.files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_fixed_and_never_negative_zero() {
        assert_eq!(f(-0.00001, 3), "0.000");
        assert_eq!(f(f64::NAN, 3), "NA");
        assert_eq!(f(0.12345, 2), "0.12");
        assert_eq!(fmt_p(3e-7), "<0.0001");
        assert_eq!(fmt_p(0.04), "0.0400");
    }
}
