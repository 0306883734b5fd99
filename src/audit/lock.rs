//! The typed audit files: the pre-registration lock (`lock.json`), the deviation log
//! (`deviations.jsonl`) and the run summary (`audit.json`). Every writer and reader goes
//! through these structs; the field order is the file's key order.

use serde::{Deserialize, Serialize};

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
