//! `judge_manifest.json`, typed: what a judged run asked, of whom, with which templates, and
//! how each judge's answers came out. Written by `judge`, read by `stats` and the report.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The tool that wrote the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

/// The tasks judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TasksRef {
    pub path: String,
    /// sha256 of the tasks manifest's canonical JSON.
    pub manifest_sha256: String,
    pub tasks_sha256: Option<String>,
    pub key_sha256: Option<String>,
    pub count: usize,
}

/// A template's source and sha256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateRef {
    pub source: String,
    pub sha256: String,
}

/// The system and pairwise templates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Templates {
    pub system: TemplateRef,
    pub pairwise: TemplateRef,
    /// The reworded template of `--paraphrase`, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paraphrase: Option<TemplateRef>,
}

/// One judge as it was asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeInfo {
    pub name: String,
    pub provider: String,
    pub model: String,
    pub family: String,
    pub temperature: f64,
    pub max_tokens: u32,
    pub seed: Option<u64>,
    /// Same family as the planner (its verdicts are also reported without it).
    pub self_preference_flag: bool,
}

/// `judge_manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeManifest {
    /// Always `judge`.
    pub command: String,
    pub tool: ToolInfo,
    pub tasks: TasksRef,
    pub templates: Templates,
    pub judges: Vec<JudgeInfo>,
    pub planner_families: BTreeSet<String>,
    pub flagged_judges: Vec<String>,
    /// Per judge: outcome category (`verdict`, `parse_error`, `truncated`, …) → count.
    pub outcomes: BTreeMap<String, BTreeMap<String, usize>>,
    /// The ledger's head hash when the manifest was written.
    pub ledger_head: String,
    /// Trials per task and judge (`--repeats`; written when more than one).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub repeats: usize,
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

impl JudgeManifest {
    /// Read a judged run's manifest.
    pub fn read(path: &std::path::Path) -> anyhow::Result<JudgeManifest> {
        use anyhow::Context;
        let t = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        serde_json::from_str(&t)
            .with_context(|| format!("{}: not a judge manifest", path.display()))
    }
}
