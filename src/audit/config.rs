//! The audit's configuration file (`pertaudit audit CONFIG.toml`): one file for the whole
//! study. Paths are relative to the file's own folder. Unknown keys are errors (a typo must
//! not silently drop a setting from a pre-registered design).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    pub study: Study,
    /// One or more screens, each with the pathways whose held-out knock-downs are scored.
    pub screens: Vec<ScreenCfg>,
    pub design: Design,
    pub planner: Option<PlannerCfg>,
    pub judges: Option<JudgesCfg>,
    pub ablation: Option<AblationCfg>,
    #[serde(default)]
    pub stats: StatsCfg,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Study {
    /// Names the run directory (`runs/<name>`) and prefixes the run id.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Base seed of every random stream (plan splits and ensembles, blinding, bootstrap).
    #[serde(default)]
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreenCfg {
    /// Short label, used in run folders and contexts.
    pub name: String,
    /// Screen file (any format `plan --screen` reads).
    pub screen: PathBuf,
    /// Gene sets (GMT).
    pub gene_sets: PathBuf,
    /// Pathways (gene-set names) whose held-out knock-downs are the test sets.
    pub pathways: Vec<String>,
    pub network: Option<PathBuf>,
    pub go: Option<PathBuf>,
    /// Another screen of the same knock-downs (IterPert's cross-cell-line kernel).
    #[serde(default)]
    pub cross_screen: Option<PathBuf>,
    /// Give the predictor the cross-screen kernel's spectral embedding as features.
    #[serde(default)]
    pub cross_embedding: bool,
    pub annotations: Option<PathBuf>,
    pub genes: Option<PathBuf>,
    pub control: Option<String>,
    pub control_vector: Option<PathBuf>,
    /// The screen is simulated (the report says so on its first line).
    #[serde(default)]
    pub simulated: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Design {
    pub strategies: Vec<String>,
    pub rounds: usize,
    pub batch: usize,
    pub seeds: usize,
    pub initial: Option<usize>,
    pub test_fraction: Option<f64>,
    pub members: Option<usize>,
    pub lambda: Option<f64>,
    pub pca_dim: Option<usize>,
    pub feature_fraction: Option<f64>,
    /// `ensemble` (default) or `ridge-loo`.
    pub predictor: Option<crate::predict::ensemble::Predictor>,
    pub prior_dim: Option<usize>,
    pub min_score: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannerCfg {
    /// Model file of the LLM re-ranker.
    pub model: PathBuf,
    #[serde(default)]
    pub sequential: bool,
    pub shortlist_factor: Option<usize>,
    pub reprompts: Option<usize>,
    /// Template folder (rerank.j2); the embedded template when absent.
    pub prompts: Option<PathBuf>,
    /// More planner model files: strategy or arm `ARM@STEM` plans with the file whose stem is
    /// STEM (backbones head to head in one study).
    #[serde(default)]
    pub backbones: Vec<PathBuf>,
    /// Answers per state (temperature > 0): the LLM's own variance beside the seeds'.
    pub samples: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgesCfg {
    /// Judge model files.
    pub models: Vec<PathBuf>,
    /// Strategies whose batches are judged (default: every design strategy).
    pub strategies: Option<Vec<String>>,
    /// Acquisition rounds judged, 1 = the first batch acquired (default: all).
    pub rounds: Option<Vec<u64>>,
    #[serde(default)]
    pub sorted: bool,
    pub planner_family: Option<String>,
    pub cost_cap_usd: Option<f64>,
    /// Significance level of the blinding-integrity check.
    pub integrity_alpha: Option<f64>,
    /// Template folder (judge_system.j2, judge_pairwise.j2); embedded templates when absent.
    pub prompts: Option<PathBuf>,
    /// Trials per task and judge (reliability; judges need temperature > 0).
    pub repeats: Option<usize>,
    /// Also ask every task with the reworded template (the paraphrase arm).
    #[serde(default)]
    pub paraphrase: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AblationCfg {
    /// LLM arms compared (llm, llm-masked, llm-symbols, llm-shuffled, llm-names, llm-permuted,
    /// llm-zeroshot); bald is always added as the shortlist's own order.
    pub arms: Vec<String>,
    /// Pathways of the first screen (default: all of them).
    pub pathways: Option<Vec<String>>,
    /// Ask the de-masking probe in every round of the identity-hiding arms.
    #[serde(default)]
    pub probe: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsCfg {
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default = "default_resamples")]
    pub resamples: usize,
    /// Primary predictive metric (a column of metrics.csv).
    #[serde(default = "default_metric")]
    pub metric: String,
    /// Equivalence margins of a judged win rate, [low, high] (TOST; "equivalent" only when the
    /// win rate is shown to lie inside).
    #[serde(default = "default_win_margin")]
    pub win_rate_margin: [f64; 2],
    /// Equivalence margin δ of an AUC difference on the metric's scale (|ΔAUC| < δ); without
    /// it no equivalence is claimed for predictive performance.
    pub auc_margin: Option<f64>,
    /// The smallest AUC difference worth detecting (metric scale), for the preflight's power.
    pub effect: Option<f64>,
    /// SD of per-seed AUC differences from a pilot, turning `effect` into a standardised one.
    pub pilot_sd: Option<f64>,
    /// When a primary decision cannot reach α with this design: `warn` (default) or `refuse`
    /// (stop before the lock and before any LLM call).
    #[serde(default)]
    pub preflight: PreflightMode,
}

/// What the preflight does with an unreachable primary decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreflightMode {
    #[default]
    Warn,
    Refuse,
}

fn default_win_margin() -> [f64; 2] {
    [0.4, 0.6]
}

fn default_alpha() -> f64 {
    0.05
}
fn default_resamples() -> usize {
    10_000
}
fn default_metric() -> String {
    "pearson_delta".into()
}

impl Default for StatsCfg {
    fn default() -> Self {
        StatsCfg {
            alpha: default_alpha(),
            resamples: default_resamples(),
            metric: default_metric(),
            win_rate_margin: default_win_margin(),
            auc_margin: None,
            effect: None,
            pilot_sd: None,
            preflight: PreflightMode::Warn,
        }
    }
}

pub const METRICS: &[&str] = &[
    "pearson_delta",
    "top20_pearson",
    "top20_mse",
    "auroc_de",
    "auprc_de",
    "direction_accuracy",
];

const NAME_CHARS: &str = "letters, digits, `-`, `_` and `.`";

fn safe_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl AuditConfig {
    /// Parse and check a config; errors name the file and the field.
    pub fn parse(text: &str, path: &Path) -> Result<AuditConfig> {
        let c: AuditConfig = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            match line {
                Some(l) => anyhow::anyhow!("{}:{l}: {}", path.display(), e.message()),
                None => anyhow::anyhow!("{}: {}", path.display(), e.message()),
            }
        })?;
        let bad = |field: &str, msg: String| -> Result<()> {
            bail!("{}: field `{field}`: {msg}", path.display())
        };
        if !safe_name(&c.study.name) {
            bad("study.name", format!("use only {NAME_CHARS}"))?;
        }
        if c.screens.is_empty() {
            bad("screens", "give at least one [[screens]] table".into())?;
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, s) in c.screens.iter().enumerate() {
            if !safe_name(&s.name) {
                bad(
                    &format!("screens[{i}].name"),
                    format!("use only {NAME_CHARS}"),
                )?;
            }
            if !names.insert(&s.name) {
                bad(
                    &format!("screens[{i}].name"),
                    format!("{:?} is used twice", s.name),
                )?;
            }
            if s.pathways.is_empty() {
                bad(
                    &format!("screens[{i}].pathways"),
                    "list at least one pathway".into(),
                )?;
            }
            for p in &s.pathways {
                if !safe_name(p) {
                    bad(
                        &format!("screens[{i}].pathways"),
                        format!("{p:?}: use only {NAME_CHARS}"),
                    )?;
                }
            }
        }
        let d = &c.design;
        if d.strategies.len() < 2 {
            bad("design.strategies", "list at least two strategies".into())?;
        }
        if d.rounds == 0 || d.batch == 0 || d.seeds == 0 {
            bad(
                "design",
                "rounds, batch and seeds must be at least 1".into(),
            )?;
        }
        let uses_llm = d
            .strategies
            .iter()
            .chain(c.ablation.iter().flat_map(|a| a.arms.iter()))
            .any(|s| crate::planner::spec::StrategyKind::is_llm(s));
        if uses_llm && c.planner.is_none() {
            bad(
                "planner",
                "an LLM strategy or ablation arm needs a [planner] with `model`".into(),
            )?;
        }
        if let Some(j) = &c.judges {
            if j.models.is_empty() {
                bad("judges.models", "list at least one judge model file".into())?;
            }
            if let Some(st) = &j.strategies {
                if st.len() < 2 {
                    bad("judges.strategies", "list at least two strategies".into())?;
                }
                for s in st {
                    if !d.strategies.contains(s) {
                        bad(
                            "judges.strategies",
                            format!("{s:?} is not in design.strategies"),
                        )?;
                    }
                }
            }
            if let Some(r) = &j.rounds {
                if let Some(x) = r.iter().find(|&&x| x as usize > d.rounds || x == 0) {
                    bad(
                        "judges.rounds",
                        format!("round {x} is outside 1..={}", d.rounds),
                    )?;
                }
            }
        }
        if let Some(a) = &c.ablation {
            if a.arms.is_empty() {
                bad("ablation.arms", "list at least one LLM arm".into())?;
            }
            for arm in &a.arms {
                if !crate::planner::spec::StrategyKind::is_llm(arm) {
                    bad(
                        "ablation.arms",
                        format!(
                            "{arm:?} is not an LLM arm ({})",
                            crate::planner::llm::Arm::ALL
                                .map(|a| a.strategy())
                                .join(", ")
                        ),
                    )?;
                }
            }
            if let Some(ps) = &a.pathways {
                for p in ps {
                    if !c.screens[0].pathways.contains(p) {
                        bad(
                            "ablation.pathways",
                            format!("{p:?} is not a pathway of screen {:?}", c.screens[0].name),
                        )?;
                    }
                }
            }
        }
        let s = &c.stats;
        if !(s.alpha > 0.0 && s.alpha < 1.0) {
            bad("stats.alpha", "must be in (0, 1)".into())?;
        }
        if s.resamples < 100 {
            bad("stats.resamples", "use at least 100".into())?;
        }
        if let Err(e) = crate::stats::check_resamples(s.resamples) {
            bad("stats.resamples", e)?;
        }
        if let Err(e) = crate::stats::check_win_margin(s.win_rate_margin[0], s.win_rate_margin[1]) {
            bad("stats.win_rate_margin", e)?;
        }
        for (name, v) in [
            ("stats.auc_margin", s.auc_margin),
            ("stats.effect", s.effect),
            ("stats.pilot_sd", s.pilot_sd),
        ] {
            if let Some(Err(e)) = v.map(crate::stats::check_delta) {
                bad(name, e)?;
            }
        }
        if let Some(j) = &c.judges {
            if let Some(a) = j.integrity_alpha {
                if let Err(e) = crate::stats::check_alpha(a) {
                    bad("judges.integrity_alpha", e)?;
                }
            }
            if let Some(r) = j.repeats {
                if !(1..=100).contains(&r) {
                    bad(
                        "judges.repeats",
                        format!("must be between 1 and 100, got {r}"),
                    )?;
                }
            }
            if let Some(cap) = j.cost_cap_usd {
                if let Err(e) = crate::stats::check_cost_cap(cap) {
                    bad("judges.cost_cap_usd", e)?;
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &d.strategies {
            if !seen.insert(s) {
                bad("design.strategies", format!("{s:?} is listed twice"))?;
            }
        }
        if !METRICS.contains(&s.metric.as_str()) {
            bad(
                "stats.metric",
                format!("{:?} is not one of {}", s.metric, METRICS.join(", ")),
            )?;
        }
        Ok(c)
    }

    pub fn load(path: &Path) -> Result<(AuditConfig, String)> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let text = crate::data::textio::strip_bom(&text).to_string();
        Ok((AuditConfig::parse(&text, path)?, text))
    }

    pub fn ablation_pathways(&self) -> Vec<String> {
        match &self.ablation {
            None => Vec::new(),
            Some(a) => a
                .pathways
                .clone()
                .unwrap_or_else(|| self.screens[0].pathways.clone()),
        }
    }

    /// Judged strategies.
    pub fn judged_strategies(&self) -> Vec<String> {
        self.judges
            .as_ref()
            .and_then(|j| j.strategies.clone())
            .unwrap_or_else(|| self.design.strategies.clone())
    }

    pub fn simulated(&self) -> bool {
        self.screens.iter().any(|s| s.simulated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
[study]
name = "t"
[[screens]]
name = "sim"
screen = "s.tsv"
gene_sets = "p.gmt"
pathways = ["P1"]
[design]
strategies = ["random", "bald"]
rounds = 2
batch = 4
seeds = 2
"#;

    #[test]
    fn minimal_config_parses_with_defaults() {
        let c = AuditConfig::parse(OK, Path::new("a.toml")).unwrap();
        assert_eq!(c.stats.alpha, 0.05);
        assert_eq!(c.stats.metric, "pearson_delta");
        assert!(c.judges.is_none());
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let e = AuditConfig::parse(&OK.replace("rounds = 2", "roundz = 2"), Path::new("a.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("a.toml:"), "{e}");
        assert!(e.contains("roundz"), "{e}");
        let e = AuditConfig::parse(
            &OK.replace("\"random\", \"bald\"", "\"random\", \"llm\""),
            Path::new("a.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("field `planner`"), "{e}");
        let e = AuditConfig::parse(
            &format!("{OK}[stats]\nmetric = \"r2\"\n"),
            Path::new("a.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("field `stats.metric`"), "{e}");
        let e = AuditConfig::parse(
            &OK.replace("name = \"t\"", "name = \"../x\""),
            Path::new("a.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("field `study.name`"), "{e}");
    }
}
