//! `pertaudit audit CONFIG.toml`: the whole study from one file, and `pertaudit demo`, the
//! same on a simulated screen with the embedded model.
//!
//! Run directory (`runs/<study name>` unless `--out`):
//!
//! | file | what |
//! |---|---|
//! | `audit.toml` | the config, byte for byte |
//! | `analysis_plan.md` | the analysis plan, written from the config before anything runs |
//! | `lock.json` | the pre-registration lock: sha256 of the config, analysis plan, every data file, template, model file and local model weights; written once, before the first LLM call |
//! | `deviations.jsonl` | every later change to a locked input, with the reason given |
//! | `ledger.jsonl`, `bodies/` | every LLM call of every step (planner and judges share it) |
//! | `plan/<screen>/<pathway>/` | the plan runs (`pertaudit plan` outputs) |
//! | `ablation/<screen>/<pathway>/` | the masking-ablation runs (with `ablation.json`) |
//! | `tasks/`, `judged/` | the blinded tasks and the un-blinded verdicts |
//! | `audit.json` | run id, lock hash and what each step produced |
//!
//! Every step is deterministic and every LLM answer is in the ledger, so running the audit
//! again resumes: finished work is recomputed from the ledger without a call, and only what
//! is missing is asked.

pub mod analysis;
pub mod config;
pub mod demo;
pub mod lock;
pub mod replay;
pub mod runner;
pub mod verify;

pub use analysis::analysis_plan;
use anyhow::Result;
pub use config::AuditConfig;
pub use lock::{
    build_lock, effective_lock, lock_changes, read_lock, run_id, AuditSummary, Deviation, Lock,
    Step,
};
pub use replay::{recompute, Recomputed};
pub use runner::{run_audit, Audited, RunOptions, Stage};
use std::path::{Path, PathBuf};

pub const LOCK: &str = "lock.json";
pub const DEVIATIONS: &str = "deviations.jsonl";

/// The config as last accepted: the run's copy, or the copy saved with its last deviation.
pub fn current_config(run: &Path) -> PathBuf {
    let n = std::fs::read_to_string(run.join(DEVIATIONS)).map_or(0, |t| t.lines().count());
    if n > 0 {
        run.join(format!("audit.{n}.toml"))
    } else {
        run.join("audit.toml")
    }
}

/// Check a run's locked inputs against the files as they are now (for `verify`).
pub fn verify_inputs(run: &Path, base: &Path) -> Result<Vec<String>> {
    let locked = effective_lock(run)?;
    let (c, text) = AuditConfig::load(&current_config(run))?;
    let now = build_lock(&c, &text, &analysis_plan(&c), base, false)?;
    Ok(lock_changes(&locked, &now))
}

/// The folder a run's config paths resolve from: given, else the one the audit used (when it
/// still exists), else the run directory.
pub fn inputs_base(run: &Path, given: Option<&Path>) -> PathBuf {
    if let Some(g) = given {
        return g.to_path_buf();
    }
    std::fs::read_to_string(run.join("audit.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<AuditSummary>(&t).ok())
        .map(|v| PathBuf::from(v.config_dir))
        .filter(|p| p.is_dir())
        .unwrap_or_else(|| run.to_path_buf())
}
