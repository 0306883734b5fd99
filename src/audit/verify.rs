//! `verify`: a run's ledger chain and stored bodies, and, for an audit run, every locked input
//! re-hashed against the lock (or the state its last deviation accepted).

use crate::llm::ledger::{self, Verified};
use anyhow::{bail, Result};
use std::path::Path;

/// What `verify` checked.
#[derive(Debug, Clone)]
pub struct RunVerified {
    /// The ledger's chain, or `None` for an audit that made no LLM call (no ledger).
    pub ledger: Option<Verified>,
    /// For an audit run: how many locked inputs were re-hashed (all unchanged).
    pub locked_inputs: Option<usize>,
}

/// Verify a run directory; any break is an error naming it.
pub fn verify_run(run: &Path, inputs_from: Option<&Path>) -> Result<RunVerified> {
    let lock = run.join(super::LOCK);
    let ledger = if lock.exists() && !run.join(ledger::LEDGER_FILE).exists() {
        None
    } else {
        match ledger::verify(run) {
            Ok(v) => Some(v),
            Err(e) => bail!("ledger broken: {e}"),
        }
    };
    let locked_inputs = if lock.exists() {
        let base = super::inputs_base(run, inputs_from);
        let changes = super::verify_inputs(run, &base)?;
        if !changes.is_empty() {
            bail!(
                "{}: locked inputs changed (resolved from {}): {}",
                lock.display(),
                base.display(),
                changes.join("; ")
            );
        }
        Some(super::read_lock(run)?.items().len())
    } else {
        None
    };
    Ok(RunVerified {
        ledger,
        locked_inputs,
    })
}
