//! The typed audit files: the pre-registration lock (`lock.json`), the deviation log
//! (`deviations.jsonl`) and the run summary (`audit.json`). Every writer and reader goes
//! through these structs; the field order is the file's key order.

use super::config::AuditConfig;
use super::DEVIATIONS;
use crate::data::runfile::{sha256_bytes, sha256_file};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The tool that wrote a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    pub fn this() -> Tool {
        Tool {
            name: "pertaudit".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// A file of the run and its sha256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    pub path: String,
    pub sha256: String,
}

/// A locked input file: its role (`screens.NAME.network`), its path as the config wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedInput {
    pub role: String,
    pub path: String,
    pub sha256: String,
}

/// A locked model file, with what it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedModel {
    pub role: String,
    pub path: String,
    pub sha256: String,
    pub name: String,
    pub provider: String,
    pub model: String,
    pub family: String,
}

/// A local model's weights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedWeights {
    pub model: String,
    pub sha256: String,
}

/// A prompt template (embedded or from a folder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedTemplate {
    pub name: String,
    pub source: String,
    pub sha256: String,
}

/// `lock.json`: the hashes of everything the results depend on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// Format version.
    pub lock: u32,
    pub study: String,
    pub simulated: bool,
    pub tool: Tool,
    pub config: FileHash,
    pub analysis_plan: FileHash,
    pub inputs: Vec<LockedInput>,
    pub models: Vec<LockedModel>,
    pub weights: Vec<LockedWeights>,
    pub templates: Vec<LockedTemplate>,
}

impl Lock {
    /// Every (what, sha256), flattened for comparison.
    pub fn items(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("config".to_string(), self.config.sha256.clone()),
            (
                "analysis plan".to_string(),
                self.analysis_plan.sha256.clone(),
            ),
            ("tool version".to_string(), self.tool.version.clone()),
        ];
        out.extend(
            self.inputs
                .iter()
                .map(|e| (format!("inputs: {}", e.role), e.sha256.clone())),
        );
        out.extend(
            self.models
                .iter()
                .map(|e| (format!("models: {}", e.role), e.sha256.clone())),
        );
        out.extend(
            self.templates
                .iter()
                .map(|e| (format!("templates: {}", e.name), e.sha256.clone())),
        );
        out.extend(
            self.weights
                .iter()
                .map(|e| (format!("weights: {}", e.model), e.sha256.clone())),
        );
        out
    }

    /// Whether every model of a role prefix (`planner.`, `judges.`) is the embedded one.
    pub fn all_local(&self, role: &str) -> bool {
        self.models
            .iter()
            .filter(|m| m.role.starts_with(role))
            .all(|m| m.provider == "local")
    }
}

/// One line of `deviations.jsonl`: what changed, why, and the lock state now accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deviation {
    pub changes: Vec<String>,
    pub reason: String,
    pub lock: Lock,
}

/// One step of an audit in `audit.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// `plan`, `ablation` or `judge`.
    pub step: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pathway: Option<String>,
    /// The step's folder, relative to the run.
    pub dir: String,
    /// The judge step's tasks folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<String>,
}

/// `audit.json`: the run's id, its lock, and what each step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditSummary {
    pub run_id: String,
    pub study: String,
    pub lock_sha256: String,
    pub simulated: bool,
    /// False while the audit runs (a crash leaves it false; the report refuses it).
    pub complete: bool,
    pub steps: Vec<Step>,
    /// Where the config's relative paths were resolved from (not part of any report).
    pub config_dir: String,
}

/// One locked input: its role, its path as the config wrote it, and its sha256.
pub(crate) fn entry(role: &str, shown: &str, path: &Path) -> Result<LockedInput> {
    let sha =
        sha256_file(path).with_context(|| format!("{}: cannot read ({role})", path.display()))?;
    Ok(LockedInput {
        role: role.to_string(),
        path: shown.to_string(),
        sha256: sha,
    })
}

pub(crate) fn shown(p: &Path) -> String {
    p.display().to_string()
}

/// Resolved paths of one screen.
pub(crate) fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The weights' hash when a replay runs without them (they are not needed to answer from a
/// ledger); a lock never holds it, and a comparison skips it.
pub(crate) const UNAVAILABLE: &str = "unavailable in a replay";

/// The lock: hashes of everything the results depend on, with paths as the config wrote them.
/// `replay`: missing local model weights are not an error (a replay does not load them).
pub fn build_lock(
    c: &AuditConfig,
    config_text: &str,
    plan_text: &str,
    base: &Path,
    replay: bool,
) -> Result<Lock> {
    let mut inputs = Vec::new();
    for s in &c.screens {
        let files: [(&str, Option<&PathBuf>); 8] = [
            ("screen", Some(&s.screen)),
            ("gene_sets", Some(&s.gene_sets)),
            ("network", s.network.as_ref()),
            ("go", s.go.as_ref()),
            ("annotations", s.annotations.as_ref()),
            ("genes", s.genes.as_ref()),
            ("control_vector", s.control_vector.as_ref()),
            ("cross_screen", s.cross_screen.as_ref()),
        ];
        for (k, p) in files {
            if let Some(p) = p {
                inputs.push(entry(
                    &format!("screens.{}.{k}", s.name),
                    &shown(p),
                    &resolve(base, p),
                )?);
            }
        }
    }
    let mut models = Vec::new();
    let mut templates = Vec::new();
    let mut weights = std::collections::BTreeMap::new();
    let mut model = |role: String, p: &Path| -> Result<()> {
        let path = resolve(base, p);
        let m = crate::llm::ModelConfig::load(&path)?;
        models.push(LockedModel {
            role,
            path: shown(p),
            sha256: sha256_file(&path)?,
            name: m.name.clone(),
            provider: m.provider.as_str().to_string(),
            model: m.model.clone(),
            family: m.family.clone(),
        });
        if m.provider == crate::llm::Provider::Local {
            // Resolved as the client resolves it.
            let w = m
                .model_path
                .as_ref()
                .map(PathBuf::from)
                .unwrap_or_else(crate::llm::embedded::default_model_path);
            if replay && !w.is_file() {
                weights.insert(m.model.clone(), UNAVAILABLE.to_string());
            } else if !weights.contains_key(&m.model) {
                let sha = sha256_file(&w).with_context(|| {
                    format!(
                        "{}: the local model's weights are missing (run `pertaudit model fetch`)",
                        w.display()
                    )
                })?;
                weights.insert(m.model.clone(), sha);
            }
        }
        Ok(())
    };
    if let Some(p) = &c.planner {
        model("planner.model".into(), &p.model)?;
        for (i, b) in p.backbones.iter().enumerate() {
            model(format!("planner.backbones[{i}]"), b)?;
        }
    }
    if let Some(j) = &c.judges {
        for (i, p) in j.models.iter().enumerate() {
            model(format!("judges.models[{i}]"), p)?;
        }
    }
    let mut template = |dir: Option<&PathBuf>, name: &str| -> Result<()> {
        let d = dir.map(|d| resolve(base, d));
        let (text, source) = crate::llm::prompt::template_text(d.as_deref(), name)?;
        let source = if source.starts_with("embedded:") {
            source
        } else {
            format!("{}/{name}", shown(dir.expect("a folder")))
        };
        templates.push(LockedTemplate {
            name: name.to_string(),
            source,
            sha256: sha256_bytes(text.as_bytes()),
        });
        Ok(())
    };
    if let Some(p) = &c.planner {
        template(p.prompts.as_ref(), crate::planner::llm::RERANK)?;
    }
    if let Some(j) = &c.judges {
        template(j.prompts.as_ref(), crate::llm::prompt::JUDGE_SYSTEM)?;
        template(j.prompts.as_ref(), crate::llm::prompt::JUDGE_PAIRWISE)?;
    }
    Ok(Lock {
        lock: 1,
        study: c.study.name.clone(),
        simulated: c.simulated(),
        tool: Tool::this(),
        config: FileHash {
            path: "audit.toml".into(),
            sha256: sha256_bytes(config_text.as_bytes()),
        },
        analysis_plan: FileHash {
            path: "analysis_plan.md".into(),
            sha256: sha256_bytes(plan_text.as_bytes()),
        },
        inputs,
        models,
        weights: weights
            .into_iter()
            .map(|(model, sha256)| LockedWeights { model, sha256 })
            .collect(),
        templates,
    })
}

/// What differs between the locked and the current hashes.
pub fn lock_changes(locked: &Lock, now: &Lock) -> Vec<String> {
    let a: std::collections::BTreeMap<_, _> = locked.items().into_iter().collect();
    let b: std::collections::BTreeMap<_, _> = now.items().into_iter().collect();
    let mut out = Vec::new();
    for (k, v) in &a {
        match b.get(k) {
            Some(w) if w == UNAVAILABLE => {}
            None => out.push(format!("{k}: removed")),
            Some(w) if w != v && k == "tool version" => out.push(format!("{k} {v} → {w}")),
            Some(w) if w != v => out.push(format!(
                "{k}: sha256 {} → {}",
                &v[..v.len().min(12)],
                &w[..w.len().min(12)]
            )),
            _ => {}
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        out.push(format!("{k}: added"));
    }
    out
}

/// The run id: the study name and the first 12 hex digits of the lock file's sha256.
pub fn run_id(name: &str, lock_bytes: &[u8]) -> String {
    format!("{name}-{}", &sha256_bytes(lock_bytes)[..12])
}

/// The hashes a run is held to: the lock, or the state its last recorded deviation accepted.
pub fn effective_lock(run: &Path) -> Result<Lock> {
    let dev = run.join(DEVIATIONS);
    if let Ok(t) = std::fs::read_to_string(&dev) {
        if let Some(last) = t.lines().rfind(|l| !l.trim().is_empty()) {
            let v: Deviation = serde_json::from_str(last)
                .with_context(|| format!("{}: last line is not a deviation", dev.display()))?;
            return Ok(v.lock);
        }
    }
    read_lock(run)
}

/// The run's `lock.json`.
pub fn read_lock(run: &Path) -> Result<Lock> {
    let p = run.join(super::LOCK);
    serde_json::from_slice(
        &std::fs::read(&p).with_context(|| format!("{}: cannot read", p.display()))?,
    )
    .with_context(|| format!("{}: not a lock", p.display()))
}
