//! A run recomputed from its ledger alone (for `report --replay`).

use super::runner::{run_audit, RunOptions};
use super::{current_config, inputs_base, DEVIATIONS, LOCK};
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Files a replay recomputes and must reproduce byte for byte.
fn derived_files(run: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut walk = vec![run.join("plan"), run.join("ablation")];
    while let Some(d) = walk.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk.push(p);
            } else if matches!(
                p.file_name().and_then(|n| n.to_str()),
                Some(
                    "metrics.csv"
                        | "curve.csv"
                        | "selections.jsonl"
                        | "splits.jsonl"
                        | "comparison.json"
                        | "ablation.json"
                )
            ) {
                out.push(p.strip_prefix(run).expect("inside").to_path_buf());
            }
        }
    }
    for f in [
        "tasks/tasks.jsonl",
        "tasks/key.json",
        "judged/verdicts.csv",
        "judged/judgements.jsonl",
    ] {
        if run.join(f).exists() {
            out.push(PathBuf::from(f));
        }
    }
    out.sort();
    out
}

/// A run recomputed from its ledger alone, in a scratch copy (`scratch`), with every derived
/// file checked byte for byte against the run's.
pub struct Recomputed {
    pub scratch: PathBuf,
    pub run_id: String,
    /// How many derived files were compared (all identical).
    pub files: usize,
}

/// Recompute every step of a run in a scratch copy answered from the run's ledger alone
/// (a miss is an error, so no LLM call), and check that every derived file is byte-identical
/// to the run's. The caller writes the report from the scratch copy, then removes it.
pub fn recompute(
    run: &Path,
    inputs_from: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Recomputed> {
    let base = inputs_base(run, inputs_from);
    let scratch = run.join(".replay");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("{}: cannot clear", scratch.display()))?;
    }
    let o = RunOptions {
        replay: Some(run.to_path_buf()),
        deviation: None,
        threads: None,
        inputs_from: Some(base),
        stage: Default::default(),
    };
    // The scratch run starts from the run's lock and deviations, so it is held to the same
    // accepted state and keeps the run's id.
    std::fs::create_dir_all(&scratch)?;
    for e in std::fs::read_dir(run)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let keep = name == LOCK
            || name == DEVIATIONS
            || name == "analysis_plan.md"
            || (name.starts_with("audit.") && name.ends_with(".toml"));
        if keep {
            std::fs::copy(e.path(), scratch.join(&name))?;
        }
    }
    let config = scratch.join(current_config(run).file_name().expect("a file"));
    let done = run_audit(&config, &scratch, &o, progress)?;
    let mut differ = Vec::new();
    let files = derived_files(run);
    for f in &files {
        if std::fs::read(run.join(f)).ok() != std::fs::read(scratch.join(f)).ok() {
            differ.push(f.display().to_string());
        }
    }
    if !differ.is_empty() {
        bail!(
            "replay: recomputed outputs differ from the run's: {} (kept in {})",
            differ.join(", "),
            scratch.display()
        );
    }
    Ok(Recomputed {
        scratch,
        run_id: done.run_id,
        files: files.len(),
    })
}
