//! Shards: one part of a run split across processes or machines (`plan --shard I/N`), and the
//! typed `shard.json` each shard writes beside its files so a merge can check that the parts
//! belong to one run and cover it exactly once.
//!
//! The partition is by position, not by hashing: shard `I` of `N` owns the units (a plan's
//! seeds, in the order the run lists them) at positions `p` with `p mod N = I − 1`. It depends
//! on nothing but `I`, `N` and the run's own order, so every machine draws the same parts, and
//! round-robin keeps the parts within one unit of each other in size.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// The shard file's name in a shard's directory.
pub const SHARD_FILE: &str = "shard.json";

/// Shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parse `I/N` (1 ≤ I ≤ N ≤ 100,000).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected I/N, e.g. 2/8"))?;
        let num = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("{s:?}: {t:?} is not a whole number"))
        };
        let (index, count) = (num(i)?, num(n)?);
        if count == 0 || count > 100_000 || index == 0 || index > count {
            return Err(format!(
                "{s:?}: need 1 ≤ I ≤ N ≤ 100000 (shards are numbered from 1)"
            ));
        }
        Ok(Shard { index, count })
    }

    /// Whether this shard owns the unit at `position` (0-based) of the run's order.
    pub fn owns(&self, position: usize) -> bool {
        position % self.count == self.index - 1
    }

    /// A folder-friendly name: `I-of-N`.
    pub fn dir_name(&self) -> String {
        format!("{}-of-{}", self.index, self.count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// `shard.json`: what a shard is part of and which units it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardFile {
    /// What was sharded (`plan`).
    pub kind: String,
    /// The whole run's id (a plan's `run_id`: the same in every shard and in the unsharded run).
    pub run_id: String,
    pub shard: Shard,
    /// The units this shard holds (a plan's seeds).
    pub seeds: Vec<u64>,
    /// sha256 of the run's `config.json` (every shard of one run writes the same bytes).
    pub config_sha256: String,
}

impl ShardFile {
    /// Read `DIR/shard.json`; an error names the file.
    pub fn read(dir: &Path) -> anyhow::Result<ShardFile> {
        let path = dir.join(SHARD_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            anyhow::anyhow!(
                "{}: cannot read ({e}); is {} a shard (written by `plan --shard I/N`)?",
                path.display(),
                dir.display()
            )
        })?;
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: not a shard file: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_partition() {
        let s = Shard::parse("2/3").unwrap();
        assert_eq!((s.index, s.count), (2, 3));
        assert_eq!(s.to_string(), "2/3");
        assert_eq!(s.dir_name(), "2-of-3");
        for bad in ["0/3", "4/3", "1/0", "x/2", "3", "1/2/3", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        // Every position is owned by exactly one shard; sizes differ by at most one.
        for n in 1..7 {
            let shards: Vec<Shard> = (1..=n).map(|i| Shard { index: i, count: n }).collect();
            let mut sizes = vec![0; n];
            for p in 0..23 {
                let owners: Vec<usize> = (0..n).filter(|&k| shards[k].owns(p)).collect();
                assert_eq!(owners.len(), 1);
                sizes[owners[0]] += 1;
            }
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        }
    }
}
