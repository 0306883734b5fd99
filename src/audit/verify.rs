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
    /// Shard chains indexed in `ledgers.json`, each verified end to end.
    pub indexed_chains: usize,
}

/// The judge outputs of a run (its own, or an audit's `judged/`) against its ledger: the
/// ledger head each judge manifest recorded is in the chain (unless a `repair` record replaced
/// it), and every judgement that asked a judge points at a recorded exchange.
fn check_judged(run: &Path, records: &[ledger::Record]) -> Result<()> {
    let repaired = records
        .iter()
        .any(|r| matches!(r.entry, ledger::Entry::Repair { .. }));
    let heads: std::collections::HashSet<&str> = records.iter().map(|r| r.hash.as_str()).collect();
    let requests: std::collections::HashSet<&str> = records
        .iter()
        .filter_map(|r| match &r.entry {
            ledger::Entry::Exchange(x) => Some(x.request.as_str()),
            _ => None,
        })
        .collect();
    for dir in [run.to_path_buf(), run.join("judged")] {
        let m = dir.join("judge_manifest.json");
        if !m.exists() {
            continue;
        }
        let manifest = crate::judge::manifest::JudgeManifest::read(&m)?;
        let h = manifest.ledger_head.as_str();
        if h != ledger::GENESIS && !heads.contains(h) && !repaired {
            bail!(
                "{}: records ledger head {}, which the ledger does not contain: records were cut from the ledger",
                m.display(),
                &h[..h.len().min(16)]
            );
        }
        let j = dir.join("judgements.jsonl");
        let judgements = crate::judge::read_judgements(&j)?.unwrap_or_default();
        for (i, x) in judgements.iter().enumerate() {
            let req = x.request.as_str();
            if !req.is_empty() && !requests.contains(req) {
                bail!(
                    "{}: line {}: judgement of task {} points at request {}, which the ledger does not hold",
                    j.display(),
                    i + 1,
                    x.task,
                    &req[..req.len().min(16)]
                );
            }
        }
    }
    Ok(())
}

/// Verify a run directory; any break is an error naming it.
pub fn verify_run(run: &Path, inputs_from: Option<&Path>) -> Result<RunVerified> {
    let lock = run.join(super::LOCK);
    let indexed = crate::llm::ledger_index::verify_indexed(run)?;
    let ledger = if lock.exists() && !run.join(ledger::LEDGER_FILE).exists() {
        None
    } else {
        match ledger::verify_chain(run) {
            Ok((v, mut records)) => {
                records.extend(indexed.iter().flat_map(|(_, r)| r.iter().cloned()));
                check_judged(run, &records)?;
                Some(v)
            }
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
        indexed_chains: indexed.len(),
    })
}
