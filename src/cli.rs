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
}

#[derive(Debug, Args, Clone)]
pub struct StatsArgs {
    /// A plain verdict CSV: item,judge,order,strategy_a,strategy_b,winner (A/B/tie/failure).
    #[arg(long)]
    pub verdicts: PathBuf,
    /// Print every figure as JSON.
    #[arg(long)]
    pub json: bool,
    /// Cluster-bootstrap resamples.
    #[arg(long, default_value_t = 10_000)]
    pub resamples: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
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
}
