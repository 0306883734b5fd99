//! `pertaudit ledger merge`: the ledgers of a sharded run gathered under one index.
//!
//! Each shard of a scaled-out run (`plan --shard I/N` on its own machine) records its LLM calls
//! in its own hash chain. A merge does not re-chain them (a re-chained record would no longer be
//! the record the shard acted on): it verifies every chain end to end (every record's hash, its
//! watermark, every stored body), copies each chain intact with its bodies into
//! `OUT/ledgers/<name>/`, verifies the copy, and writes `OUT/ledgers.json`, the index naming each
//! chain with its record count, head and the sha256 of its `ledger.jsonl`. `verify`, the
//! report and `--replay` read the run's own chain and every indexed one.
//!
//! Merging again with the same chains changes nothing; a chain whose name is indexed with a
//! different head is refused (a shard rerun after its ledger was merged).

use super::ledger::{verify_chain, Record, LEDGER_FILE, WATERMARK_FILE};
use crate::data::runfile::{sha256_file, write_atomic};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The index file in a run directory.
pub const INDEX_FILE: &str = "ledgers.json";
/// Where indexed chains are copied, under the run directory.
pub const CHAINS_DIR: &str = "ledgers";

/// `ledgers.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerIndex {
    pub chains: Vec<IndexedChain>,
}

/// One chain in the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexedChain {
    /// Its folder under `ledgers/`.
    pub name: String,
    pub records: usize,
    pub head: String,
    /// sha256 of its `ledger.jsonl`.
    pub ledger_sha256: String,
}

impl LedgerIndex {
    /// The run's index (empty when it has none); a malformed index is an error naming it.
    pub fn read(run: &Path) -> Result<LedgerIndex> {
        let p = run.join(INDEX_FILE);
        match std::fs::read_to_string(&p) {
            Err(_) => Ok(LedgerIndex::default()),
            Ok(t) => serde_json::from_str(&t)
                .map_err(|e| anyhow::anyhow!("{}: not a ledger index: {e}", p.display())),
        }
    }

    /// The folders of the indexed chains.
    pub fn dirs(&self, run: &Path) -> Vec<PathBuf> {
        self.chains
            .iter()
            .map(|c| run.join(CHAINS_DIR).join(&c.name))
            .collect()
    }
}

/// Every chain folder of a run: its own (when it has a ledger) and the indexed ones.
pub fn chain_dirs(run: &Path) -> Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    if run.join(LEDGER_FILE).exists() {
        v.push(run.to_path_buf());
    }
    v.extend(LedgerIndex::read(run)?.dirs(run));
    Ok(v)
}

/// Verify every indexed chain against the index (its head, record count and file hash) and
/// end to end; returns the records of each.
pub fn verify_indexed(run: &Path) -> Result<Vec<(IndexedChain, Vec<Record>)>> {
    let idx = LedgerIndex::read(run)?;
    let mut out = Vec::new();
    for (c, dir) in idx.chains.iter().zip(idx.dirs(run)) {
        let (v, records) =
            verify_chain(&dir).map_err(|e| anyhow::anyhow!("indexed ledger {}: {e}", c.name))?;
        let sha = sha256_file(&dir.join(LEDGER_FILE))?;
        if v.head != c.head || v.records != c.records || sha != c.ledger_sha256 {
            bail!(
                "{}: chain {} is not the one indexed (head {}, {} records; index says {}, {})",
                run.join(INDEX_FILE).display(),
                c.name,
                &v.head[..16],
                v.records,
                &c.head[..16.min(c.head.len())],
                c.records
            );
        }
        out.push((c.clone(), records));
    }
    Ok(out)
}

/// A chain name from a folder: its last path components, letters, digits, `.`, `_`, `-`.
pub fn chain_name(dir: &Path, components: usize) -> String {
    let parts: Vec<String> = dir
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let tail = &parts[parts.len().saturating_sub(components)..];
    tail.join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from).with_context(|| format!("{}: cannot read", from.display()))? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type()?.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            write_atomic(&dst, &std::fs::read(&src)?)?;
        }
    }
    Ok(())
}

/// Gather `sources` (name, chain folder) into `run`'s index. Every source is verified before
/// anything is written; each copy is verified after.
pub fn merge(run: &Path, sources: &[(String, PathBuf)]) -> Result<LedgerIndex> {
    let mut idx = LedgerIndex::read(run)?;
    let mut adds = Vec::new();
    for (i, (name, dir)) in sources.iter().enumerate() {
        if name.is_empty() || sources[..i].iter().any(|(n, _)| n == name) {
            bail!(
                "ledger merge: chain name {name:?} (from {}) is empty or used twice",
                dir.display()
            );
        }
        let (v, _) = verify_chain(dir)
            .map_err(|e| anyhow::anyhow!("ledger merge: {}: {e}", dir.display()))?;
        let sha = sha256_file(&dir.join(LEDGER_FILE))?;
        let entry = IndexedChain {
            name: name.clone(),
            records: v.records,
            head: v.head,
            ledger_sha256: sha,
        };
        match idx.chains.iter().find(|c| c.name == *name) {
            Some(c) if *c == entry => {}
            Some(c) => bail!(
                "ledger merge: {}: chain {name} is already indexed with head {} ({} records); this one has head {} ({} records)",
                dir.display(),
                &c.head[..16.min(c.head.len())],
                c.records,
                &entry.head[..16],
                entry.records
            ),
            None => adds.push((entry, dir.clone())),
        }
    }
    for (entry, dir) in adds {
        let to = run.join(CHAINS_DIR).join(&entry.name);
        if dir.join("bodies").exists() {
            copy_tree(&dir.join("bodies"), &to.join("bodies"))?;
        }
        for f in [WATERMARK_FILE, LEDGER_FILE] {
            if dir.join(f).exists() {
                write_atomic(&to.join(f), &std::fs::read(dir.join(f))?)?;
            }
        }
        let (v, _) = verify_chain(&to)
            .map_err(|e| anyhow::anyhow!("ledger merge: the copy {}: {e}", to.display()))?;
        if v.head != entry.head {
            bail!("ledger merge: the copy {} has another head", to.display());
        }
        idx.chains.push(entry);
    }
    idx.chains.sort_by(|a, b| a.name.cmp(&b.name));
    write_atomic(
        &run.join(INDEX_FILE),
        (serde_json::to_string_pretty(&idx)? + "\n").as_bytes(),
    )?;
    Ok(idx)
}
