//! What a plan run is asked to do, as plain data: the CLI converts its flags into a
//! [`PlanSpec`] and the audit builds one from its config, so neither depends on the other and
//! a library caller needs no command line.

use crate::planner::llm::Arm;
use serde::{Serialize, Serializer};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// An LLM backbone named by its model file's stem (`llm@gpt-4o` plans with `gpt-4o.toml`).
/// Interned so that [`StrategyKind`] stays `Copy` and its names `&'static str`; ordered and
/// compared by the stem, never by interning order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backbone(u16);

fn interned() -> &'static std::sync::Mutex<Vec<&'static str>> {
    static STEMS: std::sync::OnceLock<std::sync::Mutex<Vec<&'static str>>> =
        std::sync::OnceLock::new();
    STEMS.get_or_init(Default::default)
}

/// Interned full strategy names (`llm-masked@stem`).
fn interned_names() -> &'static std::sync::Mutex<std::collections::HashMap<(Arm, u16), &'static str>>
{
    static NAMES: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<(Arm, u16), &'static str>>,
    > = std::sync::OnceLock::new();
    NAMES.get_or_init(Default::default)
}

impl Backbone {
    /// The backbone of a model-file stem (letters, digits, `.`, `_`, `-`).
    pub fn new(stem: &str) -> Option<Backbone> {
        let ok = !stem.is_empty()
            && stem.len() <= 64
            && stem
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !ok {
            return None;
        }
        let mut v = interned().lock().expect("backbone table");
        let i = match v.iter().position(|s| *s == stem) {
            Some(i) => i,
            None => {
                v.push(Box::leak(stem.to_string().into_boxed_str()));
                v.len() - 1
            }
        };
        Some(Backbone(
            u16::try_from(i).expect("fewer than 65536 backbones"),
        ))
    }

    pub fn stem(self) -> &'static str {
        interned().lock().expect("backbone table")[self.0 as usize]
    }
}

impl PartialOrd for Backbone {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Backbone {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.stem().cmp(other.stem())
    }
}

/// A strategy, parsed once from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StrategyKind {
    Random,
    Prior,
    Bald,
    Coreset,
    Iterpert,
    /// IterPert with uncertainty-weighted distances (this tool's earlier `iterpert`).
    IterpertUnc,
    /// Random within the pathway's STRING neighbourhood.
    RandomPathway,
    /// Target-aware expected variance reduction on the pathway's perturbations.
    Evr,
    /// The LLM-guided planner in one of its arms (`llm`, `llm-masked`, …), on the default
    /// planner model or on a named backbone (`llm@stem`, `llm-masked@stem`).
    Llm(Arm, Option<Backbone>),
}

impl StrategyKind {
    /// Every built-in strategy (no LLM), in their documented order.
    pub const ALL_BUILTIN: [StrategyKind; 8] = [
        StrategyKind::Random,
        StrategyKind::Prior,
        StrategyKind::Bald,
        StrategyKind::Coreset,
        StrategyKind::Iterpert,
        StrategyKind::IterpertUnc,
        StrategyKind::RandomPathway,
        StrategyKind::Evr,
    ];

    /// The default strategies of a plan.
    pub const BUILTIN: [StrategyKind; 5] = [
        StrategyKind::Random,
        StrategyKind::Prior,
        StrategyKind::Bald,
        StrategyKind::Coreset,
        StrategyKind::Iterpert,
    ];

    /// The name used on the command line, in configs and in every run file.
    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::Random => "random",
            StrategyKind::Prior => "prior",
            StrategyKind::Bald => "bald",
            StrategyKind::Coreset => "coreset",
            StrategyKind::Iterpert => "iterpert",
            StrategyKind::IterpertUnc => "iterpert-unc",
            StrategyKind::RandomPathway => "random-pathway",
            StrategyKind::Evr => "evr",
            StrategyKind::Llm(arm, None) => arm.strategy(),
            StrategyKind::Llm(arm, Some(b)) => {
                let mut names = interned_names().lock().expect("strategy names");
                let name = names.entry((arm, b.0)).or_insert_with(|| {
                    Box::leak(format!("{}@{}", arm.strategy(), b.stem()).into_boxed_str())
                });
                let name: &'static str = name;
                name
            }
        }
    }

    /// Whether `name` names an LLM strategy (any arm, on any backbone).
    pub fn is_llm(name: &str) -> bool {
        name.parse::<StrategyKind>()
            .is_ok_and(|k| k.arm().is_some())
    }

    /// The LLM arm, for the LLM strategies.
    pub fn arm(self) -> Option<Arm> {
        match self {
            StrategyKind::Llm(a, _) => Some(a),
            _ => None,
        }
    }

    /// The named backbone of an LLM strategy (None: the default planner model).
    pub fn backbone(self) -> Option<Backbone> {
        match self {
            StrategyKind::Llm(_, b) => b,
            _ => None,
        }
    }

    /// The same arm on `llm` (the reference a control is tested against).
    pub fn reference(self) -> Option<StrategyKind> {
        match self {
            StrategyKind::Llm(_, b) => Some(StrategyKind::Llm(Arm::Full, b)),
            _ => None,
        }
    }

    /// Every known name, for error messages.
    pub fn known() -> String {
        StrategyKind::ALL_BUILTIN
            .iter()
            .map(|s| s.name())
            .chain(Arm::ALL.iter().map(|a| a.strategy()))
            .collect::<Vec<_>>()
            .join(", ")
            + " (an LLM arm on another backbone: ARM@MODEL-FILE-STEM)"
    }
}

/// An unknown strategy name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStrategy(pub String);

impl fmt::Display for UnknownStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown strategy {:?} (known: {})",
            self.0,
            StrategyKind::known()
        )
    }
}

impl std::error::Error for UnknownStrategy {}

impl FromStr for StrategyKind {
    type Err = UnknownStrategy;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StrategyKind::ALL_BUILTIN
            .into_iter()
            .find(|k| k.name() == s)
            .or_else(|| {
                let (arm, backbone) = match s.split_once('@') {
                    Some((a, stem)) => (a, Some(Backbone::new(stem)?)),
                    None => (s, None),
                };
                Arm::from_strategy(arm).map(|a| StrategyKind::Llm(a, backbone))
            })
            .ok_or_else(|| UnknownStrategy(s.to_string()))
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for StrategyKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Parse a list of strategy names.
pub fn parse_strategies<S: AsRef<str>>(names: &[S]) -> Result<Vec<StrategyKind>, UnknownStrategy> {
    names.iter().map(|n| n.as_ref().parse()).collect()
}

/// One plan run: inputs, design, predictor, priors and (for the LLM strategies) the planner.
/// `Default` carries the documented defaults (the CLI's flags default to the same values).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSpec {
    /// Screen file: ranked DEG list, labelled pairs, dense matrix or `.h5ad`.
    pub screen: PathBuf,
    /// Gene sets (GMT).
    pub pathways: PathBuf,
    /// The pathway whose held-out perturbations are the test set.
    pub pathway: String,
    pub strategies: Vec<StrategyKind>,
    pub rounds: usize,
    pub batch: usize,
    /// Number of seeds: `seed`, `seed`+1, …
    pub seeds: usize,
    /// Base seed.
    pub seed: u64,
    /// Run directory (default: `runs/<run-id>`).
    pub out: Option<PathBuf>,
    /// Prior network (STRING TSV) and the minimum score kept (file units).
    pub network: Option<PathBuf>,
    pub min_score: f64,
    /// Direct gene → GO annotations.
    pub go: Option<PathBuf>,
    /// Another screen of the same knock-downs (e.g. another cell line): its response
    /// similarities are one more prior kernel (IterPert's cross-cell-line Perturb-seq kernel).
    pub cross_screen: Option<PathBuf>,
    /// Also give the predictor the cross-screen kernel's spectral embedding as features (the
    /// linear baseline's strongest variant: a perturbation embedding from another screen).
    pub cross_embedding: bool,
    /// Initial measured set size (default: the batch size).
    pub initial: Option<usize>,
    /// Fraction of the pathway's perturbed members held out as the test set.
    pub test_fraction: f64,
    /// Ensemble members, ridge penalty, PCA components, feature fraction per member.
    pub members: usize,
    pub lambda: f64,
    pub pca_dim: usize,
    pub feature_fraction: f64,
    /// What is scored: the ensemble mean or the full-data ridge with a leave-one-out penalty.
    pub predictor: crate::predict::ensemble::Predictor,
    /// Eigenvectors kept per prior embedding.
    pub prior_dim: usize,
    /// Control perturbation name / control vector for a dense matrix.
    pub control: Option<String>,
    pub control_vector: Option<PathBuf>,
    /// Worker threads (default: all cores). The output does not depend on it.
    pub threads: Option<usize>,
    /// Model file of the LLM planner (needed by the LLM strategies).
    pub llm_model: Option<PathBuf>,
    /// One-line gene context and the gene table with aliases (prompts, masking).
    pub annotations: Option<PathBuf>,
    pub genes: Option<PathBuf>,
    /// LLM shortlist size as a multiple of the batch.
    pub shortlist_factor: usize,
    /// Re-prompts after an invalid answer before the recorded fallback.
    pub reprompts: usize,
    /// Re-rank one gene per call instead of the whole batch in one call.
    pub sequential: bool,
    /// Ask the de-masking probe in every round of the identity-hiding arms (`llm-masked`,
    /// `llm-names`): the planner's model names the gene behind each opaque ID.
    pub probe: bool,
    /// More planner model files: strategy `ARM@STEM` plans with the file whose stem is STEM
    /// (two backbones in one study, each with its own arms and ledger tags).
    pub llm_backbones: Vec<PathBuf>,
    /// Answers asked per state from the LLM planner (`--llm-samples K`, needs temperature > 0):
    /// the first is acted on, the others are scored as alternatives (the LLM's own variance).
    pub llm_samples: usize,
    /// Template folder (`rerank.j2`); the embedded copy when `None` or when it lacks the file.
    pub prompts: Option<PathBuf>,
    /// Answer every LLM request from this run's ledger (a miss is an error).
    pub replay: Option<PathBuf>,
    /// Record LLM calls in this run directory's ledger (default: the output directory).
    pub ledger: Option<PathBuf>,
    /// Run only this shard's seeds (`plan --shard I/N`); `pertaudit merge` joins the shards
    /// into the unsharded run's files, byte for byte.
    pub shard: Option<crate::data::shard::Shard>,
}

impl Default for PlanSpec {
    fn default() -> Self {
        PlanSpec {
            screen: PathBuf::new(),
            pathways: PathBuf::new(),
            pathway: String::new(),
            strategies: StrategyKind::BUILTIN.to_vec(),
            rounds: 5,
            batch: 32,
            seeds: 5,
            seed: 0,
            out: None,
            network: None,
            min_score: 0.0,
            go: None,
            cross_screen: None,
            cross_embedding: false,
            initial: None,
            test_fraction: 0.5,
            members: 10,
            lambda: 1.0,
            pca_dim: 16,
            feature_fraction: 0.8,
            predictor: Default::default(),
            prior_dim: 16,
            control: None,
            control_vector: None,
            threads: None,
            llm_model: None,
            annotations: None,
            genes: None,
            shortlist_factor: 3,
            reprompts: 2,
            sequential: false,
            probe: false,
            llm_backbones: Vec::new(),
            llm_samples: 1,
            prompts: None,
            replay: None,
            ledger: None,
            shard: None,
        }
    }
}

/// A setting out of its range: the setting's name (as in a config's `[design]`; on the command
/// line with `--` and dashes) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadSetting {
    pub field: &'static str,
    pub msg: String,
}

impl fmt::Display for BadSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--{}: {}", self.field.replace('_', "-"), self.msg)
    }
}

impl std::error::Error for BadSetting {}

impl PlanSpec {
    /// Every numeric setting within its range, the strategies without repeats. The same ranges
    /// hold on the command line and in audit configs (which build this spec).
    pub fn validate(&self) -> Result<(), BadSetting> {
        let bad = |field: &'static str, msg: String| Err(BadSetting { field, msg });
        let int = |field: &'static str, v: usize, lo: usize, hi: usize| {
            if v < lo || v > hi {
                bad(field, format!("must be between {lo} and {hi}, got {v}"))
            } else {
                Ok(())
            }
        };
        int("rounds", self.rounds, 1, 10_000)?;
        int("batch", self.batch, 1, 1_000_000)?;
        int("seeds", self.seeds, 1, 100_000)?;
        if self.seed.checked_add(self.seeds as u64).is_none() {
            bad(
                "seed",
                format!("{} + {} seeds overflows", self.seed, self.seeds),
            )?;
        }
        if let Some(i) = self.initial {
            int("initial", i, 2, 1_000_000)?;
        }
        int("members", self.members, 1, 1_000)?;
        int("pca_dim", self.pca_dim, 1, 1_000)?;
        int("prior_dim", self.prior_dim, 1, 1_000)?;
        int("shortlist_factor", self.shortlist_factor, 1, 100)?;
        int("reprompts", self.reprompts, 0, 100)?;
        int("llm_samples", self.llm_samples, 1, 100)?;
        if let Some(t) = self.threads {
            int("threads", t, 1, 4_096)?;
        }
        let real = |field: &'static str, v: f64, ok: bool, range: &str| {
            if ok && v.is_finite() {
                Ok(())
            } else {
                bad(field, format!("must be {range}, got {v}"))
            }
        };
        real(
            "test_fraction",
            self.test_fraction,
            self.test_fraction > 0.0 && self.test_fraction < 1.0,
            "in (0, 1)",
        )?;
        real(
            "lambda",
            self.lambda,
            self.lambda > 0.0 && self.lambda <= 1e12,
            "in (0, 1e12]",
        )?;
        real(
            "feature_fraction",
            self.feature_fraction,
            self.feature_fraction > 0.0 && self.feature_fraction <= 1.0,
            "in (0, 1]",
        )?;
        real(
            "min_score",
            self.min_score,
            self.min_score >= 0.0,
            "a finite number ≥ 0",
        )?;
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.strategies {
            if !seen.insert(s.name()) {
                bad("strategies", format!("{} is named twice", s.name()))?;
            }
        }
        if self.strategies.is_empty() {
            bad("strategies", "name at least one".into())?;
        }
        Ok(())
    }

    /// The strategy names, as written into run files.
    pub fn strategy_names(&self) -> Vec<String> {
        self.strategies
            .iter()
            .map(|s| s.name().to_string())
            .collect()
    }
}

/// The masking ablation: bald (the shortlist's own order) against LLM arms, on one plan.
#[derive(Debug, Clone, PartialEq)]
pub struct AblationSpec {
    /// The plan; its strategies are replaced by `bald` followed by `arms`.
    pub plan: PlanSpec,
    /// LLM strategies (any arm, on any backbone).
    pub arms: Vec<StrategyKind>,
}

impl AblationSpec {
    /// The default arms: all four.
    pub fn new(plan: PlanSpec) -> Self {
        AblationSpec {
            plan,
            arms: Arm::ALL.map(|a| StrategyKind::Llm(a, None)).to_vec(),
        }
    }

    /// The plan with the ablation's strategies.
    pub fn plan_spec(&self) -> PlanSpec {
        let mut p = self.plan.clone();
        p.strategies = std::iter::once(StrategyKind::Bald)
            .chain(self.arms.iter().copied())
            .collect();
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in StrategyKind::ALL_BUILTIN
            .into_iter()
            .chain(Arm::ALL.map(|a| StrategyKind::Llm(a, None)))
            .chain(Arm::ALL.map(|a| StrategyKind::Llm(a, Backbone::new("gpt-4o"))))
        {
            assert_eq!(k.name().parse::<StrategyKind>(), Ok(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.name())
            );
        }
        assert_eq!(
            "llm-masked@gpt-4o"
                .parse::<StrategyKind>()
                .unwrap()
                .backbone()
                .unwrap()
                .stem(),
            "gpt-4o"
        );
        assert!("llm@".parse::<StrategyKind>().is_err());
        assert!("llm@a/b".parse::<StrategyKind>().is_err());
        assert!("bald@x".parse::<StrategyKind>().is_err());
        let e = "randm".parse::<StrategyKind>().unwrap_err().to_string();
        assert!(e.contains("randm") && e.contains("llm-shuffled"), "{e}");
    }
}
