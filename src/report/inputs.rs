//! What the report reads from a run: files (with errors naming them), `metrics.csv` rows of the chosen metric, and the LLM planner's fallbacks.

use crate::data::rows::MetricsRow;
use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

pub(crate) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))
}

pub(crate) fn read_json(path: &Path) -> Result<Value> {
    serde_json::from_str(&read(path)?).with_context(|| format!("{}: not JSON", path.display()))
}

/// One row of a plan's metrics.csv for the chosen metric.
pub(crate) struct MetricRow {
    pub(crate) seed: u64,
    pub(crate) strategy: String,
    pub(crate) round: usize,
    pub(crate) value: f64,
}

/// The rows of a plan's `metrics.csv` (`path` names it in errors) for one metric.
pub(crate) fn metric_rows(
    rows: &[MetricsRow],
    path: &Path,
    metric: &str,
) -> Result<Vec<MetricRow>> {
    rows.iter()
        .map(|r| {
            let value = r
                .metric(metric)
                .with_context(|| format!("{}: line 1: no column `{metric}`", path.display()))?;
            Ok(MetricRow {
                seed: r.seed,
                strategy: r.strategy.clone(),
                round: r.round,
                value,
            })
        })
        .collect()
}

/// LLM rounds (seed × round batches) of each LLM strategy, and how many fell back.
pub(crate) fn fallbacks(path: &Path) -> Result<BTreeMap<String, (usize, usize)>> {
    let text = read(path)?;
    let mut batches: BTreeMap<(String, u64, u64), bool> = BTreeMap::new();
    for (i, l) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(l)
            .with_context(|| format!("{}: line {}: not JSON", path.display(), i + 1))?;
        let s = v["strategy"].as_str().unwrap_or("").to_string();
        if !crate::planner::spec::StrategyKind::is_llm(&s) {
            continue;
        }
        let fb = v["details"]["llm_fallback"].as_f64().unwrap_or(0.0) > 0.0;
        let e = batches
            .entry((
                s,
                v["seed"].as_u64().unwrap_or(0),
                v["round"].as_u64().unwrap_or(0),
            ))
            .or_default();
        *e |= fb;
    }
    let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for ((s, _, _), fb) in batches {
        let e = out.entry(s).or_default();
        e.0 += 1;
        e.1 += fb as usize;
    }
    Ok(out)
}

pub(crate) type Fallbacks = BTreeMap<String, (usize, usize)>;
