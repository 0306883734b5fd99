//! `pertaudit merge`: join the shards of one plan run (`plan --shard I/N`) into the files the
//! unsharded run writes, byte for byte: `config.json`, `splits.jsonl`, `metrics.csv`,
//! `selections.jsonl`, and the summaries over every seed (`curve.csv`, `comparison.json`)
//! recomputed from the joined rows.
//!
//! Before writing anything it checks that the shards are one run (the same `config.json`
//! bytes and run id), that they are `1/N … N/N` exactly once, and that together they hold
//! every seed of the config exactly once, with every (seed, strategy) job complete. Rows keep
//! the unsharded order: seeds in the config's order, strategies in its order, a job's rounds
//! and picks as the job wrote them. Numbers are read back to the same bits (the run files'
//! shortest round-trip decimals), so the recomputed summaries are the unsharded ones.

use crate::data::rows::{read_csv, MetricsRow};
use crate::data::runfile::{sha256_bytes, write_atomic};
use crate::data::shard::{ShardFile, SHARD_FILE};
use crate::planner::active::RoundRecord;
use crate::planner::comparison;
use crate::planner::run::{write_summaries, PRIMARY_METRIC};
use crate::predict::metrics::Scores;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// What a merge wrote.
#[derive(Debug, Clone)]
pub struct Merged {
    pub out: PathBuf,
    pub run_id: String,
    pub shards: usize,
    pub seeds: usize,
    /// Shards whose folder holds an LLM ledger (`pertaudit ledger merge` indexes them).
    pub ledgers: Vec<PathBuf>,
}

/// The (seed, strategy) a JSON line belongs to.
fn job_of(line: &str, path: &Path, no: usize) -> Result<(u64, Option<String>)> {
    let v: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| anyhow::anyhow!("{}: line {no}: not JSON: {e}", path.display()))?;
    let seed = v["seed"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("{}: line {no}: field `seed` missing", path.display()))?;
    Ok((seed, v["strategy"].as_str().map(str::to_string)))
}

fn lines_of(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(text.lines().map(str::to_string).collect())
}

/// Join `shards` (plan shard folders) into `out`.
pub fn merge_plan_shards(shards: &[PathBuf], out: &Path) -> Result<Merged> {
    if shards.is_empty() {
        bail!("merge: name the shard folders to join");
    }
    let mut infos = Vec::new();
    for d in shards {
        infos.push(ShardFile::read(d)?);
    }
    let config_path = shards[0].join("config.json");
    let config_bytes = std::fs::read(&config_path)
        .with_context(|| format!("{}: cannot read", config_path.display()))?;
    let count = infos[0].shard.count;
    let mut seen = vec![None; count];
    for (d, i) in shards.iter().zip(&infos) {
        let here = d.join(SHARD_FILE);
        if i.kind != "plan" {
            bail!(
                "{}: field `kind`: {:?} is not a plan shard",
                here.display(),
                i.kind
            );
        }
        if i.run_id != infos[0].run_id || i.shard.count != count {
            bail!(
                "{}: shard {} of run {} does not belong with {} (shard {} of run {})",
                here.display(),
                i.shard,
                i.run_id,
                shards[0].display(),
                infos[0].shard,
                infos[0].run_id
            );
        }
        let bytes = std::fs::read(d.join("config.json"))
            .with_context(|| format!("{}: cannot read", d.join("config.json").display()))?;
        if bytes != config_bytes || sha256_bytes(&bytes) != i.config_sha256 {
            bail!(
                "{}: config.json differs from {} (or from its shard.json): not one run",
                d.display(),
                config_path.display()
            );
        }
        if let Some(other) = seen[i.shard.index - 1].replace(d.clone()) {
            bail!(
                "{}: shard {} is also {}",
                d.display(),
                i.shard,
                other.display()
            );
        }
    }
    if let Some(missing) = seen.iter().position(Option::is_none) {
        bail!(
            "merge: shard {}/{count} of run {} is missing",
            missing + 1,
            infos[0].run_id
        );
    }
    let config: serde_json::Value = serde_json::from_slice(&config_bytes)
        .map_err(|e| anyhow::anyhow!("{}: not JSON: {e}", config_path.display()))?;
    let seeds: Vec<u64> = config["seeds"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_u64()).collect())
        .unwrap_or_default();
    let strategies: Vec<String> = config["strategies"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let rounds_per_job = config["loop"]["rounds"].as_u64().unwrap_or(0) as usize + 1;
    let seed_at = |seed: u64| seeds.iter().position(|&s| s == seed);
    let strategy_at = |name: &str| strategies.iter().position(|s| s == name);

    // Every shard's seeds, disjoint and together the config's.
    let mut owner: Vec<Option<usize>> = vec![None; seeds.len()];
    for (k, i) in infos.iter().enumerate() {
        for &s in &i.seeds {
            let at = seed_at(s).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: seed {s} is not in the run's config",
                    shards[k].join(SHARD_FILE).display()
                )
            })?;
            if owner[at].replace(k).is_some() {
                bail!("merge: seed {s} is in two shards");
            }
        }
    }
    if let Some(at) = owner.iter().position(Option::is_none) {
        bail!("merge: no shard holds seed {}", seeds[at]);
    }

    // Rows keyed by (seed position, strategy position); a stable sort keeps each job's order.
    let mut splits: Vec<(usize, String)> = Vec::new();
    let mut selections: Vec<((usize, usize), String)> = Vec::new();
    let mut metrics: Vec<((usize, usize), MetricsRow)> = Vec::new();
    let mut ledgers = Vec::new();
    for (k, d) in shards.iter().enumerate() {
        let key = |seed: u64, strategy: &str, path: &Path, no: usize| -> Result<(usize, usize)> {
            let s = seed_at(seed)
                .filter(|&p| owner[p] == Some(k))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: line {no}: seed {seed} is not one of this shard's seeds",
                        path.display()
                    )
                })?;
            let t = strategy_at(strategy).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: line {no}: strategy {strategy:?} is not in the run's config",
                    path.display()
                )
            })?;
            Ok((s, t))
        };
        let p = d.join("splits.jsonl");
        for (n, line) in lines_of(&p)?.into_iter().enumerate() {
            let (seed, _) = job_of(&line, &p, n + 1)?;
            let s = key(seed, &strategies[0], &p, n + 1)?.0;
            splits.push((s, line));
        }
        let p = d.join("selections.jsonl");
        for (n, line) in lines_of(&p)?.into_iter().enumerate() {
            let (seed, strategy) = job_of(&line, &p, n + 1)?;
            let strategy = strategy.ok_or_else(|| {
                anyhow::anyhow!("{}: line {}: field `strategy` missing", p.display(), n + 1)
            })?;
            selections.push((key(seed, &strategy, &p, n + 1)?, line));
        }
        let p = d.join("metrics.csv");
        for (n, row) in read_csv::<MetricsRow>(&p)?.into_iter().enumerate() {
            metrics.push((key(row.seed, &row.strategy, &p, n + 2)?, row));
        }
        if d.join(crate::llm::ledger::LEDGER_FILE).exists() {
            ledgers.push(d.clone());
        }
    }
    splits.sort_by_key(|(s, _)| *s);
    if splits.len() != seeds.len() || splits.iter().enumerate().any(|(i, (s, _))| *s != i) {
        bail!("merge: splits.jsonl of the shards do not hold every seed exactly once");
    }
    metrics.sort_by_key(|(k, _)| *k);
    selections.sort_by_key(|(k, _)| *k);
    let mut per_job = vec![0usize; seeds.len() * strategies.len()];
    for ((s, t), _) in &metrics {
        per_job[s * strategies.len() + t] += 1;
    }
    for s in 0..seeds.len() {
        for t in 0..strategies.len() {
            let n = per_job[s * strategies.len() + t];
            if n != rounds_per_job {
                bail!(
                    "merge: seed {} × {} has {n} rows in metrics.csv, expected {rounds_per_job} (an unfinished shard?)",
                    seeds[s],
                    strategies[t]
                );
            }
        }
    }

    let _lock = crate::data::runlock::RunLock::acquire(out)?;
    let cfg_out = out.join("config.json");
    if let Ok(existing) = std::fs::read(&cfg_out) {
        if existing != config_bytes {
            bail!(
                "{}: holds a different run; choose another --out",
                out.display()
            );
        }
    }
    let rounds: Vec<RoundRecord> = metrics.iter().map(|(_, m)| round_record(m)).collect();
    let cmp = comparison::compare(
        &rounds,
        &strategies,
        PRIMARY_METRIC,
        |r| r.model.pearson_delta,
        0.05,
    );
    let joined = |v: Vec<String>| {
        let mut t = String::new();
        for l in v {
            t.push_str(&l);
            t.push('\n');
        }
        t
    };
    write_atomic(&cfg_out, &config_bytes)?;
    write_atomic(
        &out.join("splits.jsonl"),
        joined(splits.into_iter().map(|(_, l)| l).collect()).as_bytes(),
    )?;
    crate::data::rows::write_csv(
        &out.join("metrics.csv"),
        &metrics.into_iter().map(|(_, m)| m).collect::<Vec<_>>(),
    )?;
    write_atomic(
        &out.join("selections.jsonl"),
        joined(selections.into_iter().map(|(_, l)| l).collect()).as_bytes(),
    )?;
    write_summaries(out, &rounds, &strategies, &cmp)?;
    Ok(Merged {
        out: out.to_path_buf(),
        run_id: infos[0].run_id.clone(),
        shards: count,
        seeds: seeds.len(),
        ledgers,
    })
}

/// A round record from its `metrics.csv` row: every score the summaries read (the baseline's
/// AUPRC and direction accuracy are not written, and no summary reads them).
fn round_record(m: &MetricsRow) -> RoundRecord {
    RoundRecord {
        seed: m.seed,
        strategy: m.strategy.clone(),
        round: m.round,
        n_train: m.n_train,
        model: Scores {
            pearson_delta: m.pearson_delta.0,
            top20_pearson: m.top20_pearson.0,
            top20_mse: m.top20_mse.0,
            auroc_de: m.auroc_de.0,
            auprc_de: m.auprc_de.0,
            direction_accuracy: m.direction_accuracy.0,
        },
        baseline: Scores {
            pearson_delta: m.baseline_pearson_delta.0,
            top20_pearson: m.baseline_top20_pearson.0,
            top20_mse: m.baseline_top20_mse.0,
            auroc_de: m.baseline_auroc_de.0,
            auprc_de: f64::NAN,
            direction_accuracy: f64::NAN,
        },
        calibration: m.calibration_spearman.0,
    }
}
