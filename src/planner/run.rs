//! `run_plan`: one plan run from a [`PlanSpec`], start to finish, printing nothing. It loads
//! and validates the inputs, builds the priors, runs every (seed, strategy) job on a pool of
//! threads (the output does not depend on their number), writes the run directory and returns
//! what the caller may want to show. `run_ablation` adds the masking ablation on top.

use crate::data::annotation::Annotations;
use crate::data::network::Network;
use crate::data::pathway::{GeneSet, GeneSets};
use crate::data::rows::{write_csv, CurveRow, MetricsRow, Num};
use crate::data::runfile::{canonical_json, sha256_bytes, sha256_file, write_atomic};
use crate::data::screen_file::{self, LoadOptions};
use crate::planner::active::{self, JobInput, LoopConfig, RoundRecord, SelectionRecord, Split};
use crate::planner::comparison::{self, Comparison};
use crate::planner::spec::{AblationSpec, Backbone, PlanSpec, StrategyKind};
use crate::planner::strategy::{self, Strategy};
use crate::predict::ensemble::{EnsembleConfig, Workspace};
use crate::predict::prior::{self, PriorConfig};
use crate::progress::Progress;
use crate::screen::Screen;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The metric every plan run summarises (learning curve, AUC, best strategy).
pub const PRIMARY_METRIC: &str = "pearson_delta";

/// What a plan run produced (its files are in `out`).
#[derive(Debug, Clone)]
pub struct PlanOutcome {
    pub out: PathBuf,
    pub run_id: String,
    pub pathway: String,
    pub strategies: Vec<String>,
    pub seeds: Vec<u64>,
    pub rounds: Vec<RoundRecord>,
    pub selections: Vec<SelectionRecord>,
    /// The learning curve of the primary metric.
    pub curve: Vec<active::CurvePoint>,
    pub comparison: Comparison,
    /// What the screen's responses are (names the primary metric honestly).
    pub response: crate::screen::Response,
    /// Mean skill over seeds per (strategy, round), and the cells where it is negative.
    pub skill: Vec<active::CurvePoint>,
    /// Wall seconds per phase (load, hash, priors, gram, loop, statistics, output), for
    /// `bench plan`;
    /// never written to a run file.
    pub timings: Vec<(&'static str, f64)>,
    /// Whether the prior embeddings came from the cache.
    pub prior_cache_hit: bool,
    /// The shard this run was (`plan --shard`): its rounds hold only the shard's seeds.
    pub shard: Option<crate::data::shard::Shard>,
}

impl PlanOutcome {
    /// The (strategy, round, mean skill) cells where the model is worse than the baseline.
    pub fn negative_skill(&self) -> Vec<(&str, usize, f64)> {
        self.skill
            .iter()
            .filter(|p| p.mean < 0.0)
            .map(|p| (p.strategy.as_str(), p.round, p.mean))
            .collect()
    }
}

/// What an ablation produced: its plan run and the ablation written beside it.
#[derive(Debug, Clone)]
pub struct AblationOutcome {
    pub plan: PlanOutcome,
    pub arms: Vec<String>,
    pub ablation: crate::planner::llm::ablation::Ablation,
}

/// Everything a plan run reads, loaded and validated.
struct PlanInputs {
    screen: Screen,
    pathway: GeneSet,
    network: Option<Network>,
    annotations: Option<Annotations>,
    cross_screen: Option<Screen>,
}

/// The spec's own consistency checks that need no file.
fn check_spec(a: &PlanSpec) -> Result<()> {
    let stems: Vec<String> = a
        .llm_backbones
        .iter()
        .map(|p| {
            p.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    for (i, s) in stems.iter().enumerate() {
        if stems[..i].contains(s) {
            bail!("--llm-backbone: two model files share the stem {s:?}; strategies name a backbone by its file stem");
        }
    }
    if a.llm_samples > 1 && a.sequential {
        bail!("--llm-samples: samples are drawn for whole-batch answers; drop --sequential or use --llm-samples 1");
    }
    for s in &a.strategies {
        match (s.arm(), s.backbone()) {
            (Some(_), None) if a.llm_model.is_none() => {
                bail!(
                    "--strategies: {s} needs --llm-model FILE.toml (e.g. judges/local-smollm.toml)"
                );
            }
            (Some(_), Some(b)) if !stems.iter().any(|x| x == b.stem()) => {
                bail!(
                    "--strategies: {s} needs --llm-backbone {}.toml (a model file with that stem)",
                    b.stem()
                );
            }
            _ => {}
        }
    }
    Ok(())
}

/// Every input but the screen: the pathway, network, annotations and cross screen.
type Others = (
    GeneSet,
    Option<Network>,
    Option<Annotations>,
    Option<Screen>,
);

fn load_others(a: &PlanSpec) -> Result<Others> {
    let sets = GeneSets::load(&a.pathways)?;
    let pathway = sets.find(&a.pathway)?.clone();
    // The network, the annotations and the cross screen are independent files: each read on
    // its own thread. Errors are reported in the order the files are listed here, as when
    // they were read one after another.
    let load_annotations = || -> Result<Option<Annotations>> {
        if a.go.is_none() && a.annotations.is_none() && a.genes.is_none() {
            return Ok(None);
        }
        let mut ann = Annotations::default();
        if let Some(p) = &a.go {
            ann.load_gene2go(p)?;
        }
        if let Some(p) = &a.annotations {
            ann.load_context(p)?;
        }
        if let Some(p) = &a.genes {
            ann.load_gene_table(p)?;
        }
        Ok(Some(ann))
    };
    let (network, annotations, cross_screen) = std::thread::scope(|s| {
        let ann = s.spawn(load_annotations);
        let cross = s.spawn(|| {
            a.cross_screen
                .as_deref()
                .map(|p| screen_file::load(p, &LoadOptions::default()))
                .transpose()
        });
        let network = a
            .network
            .as_deref()
            .map(|p| Network::load(p, a.min_score))
            .transpose();
        (
            network,
            ann.join().expect("annotation loader"),
            cross.join().expect("cross-screen loader"),
        )
    });
    Ok((pathway, network?, annotations?, cross_screen?))
}

fn screen_options(a: &PlanSpec) -> LoadOptions {
    LoadOptions {
        control: a.control.clone(),
        control_vector: a.control_vector.clone(),
    }
}

fn load_inputs(a: &PlanSpec) -> Result<PlanInputs> {
    check_spec(a)?;
    // The screen beside the other inputs (its error first when both fail, as before).
    let (screen, others) = std::thread::scope(|s| {
        let others = s.spawn(|| load_others(a));
        let screen = screen_file::load(&a.screen, &screen_options(a));
        (screen, others.join().expect("input loader"))
    });
    let screen = screen?;
    let (pathway, network, annotations, cross_screen) = others?;
    Ok(PlanInputs {
        screen,
        pathway,
        network,
        annotations,
        cross_screen,
    })
}

fn input_entry(path: &Path) -> Result<serde_json::Value> {
    Ok(
        json!({ "path": path.display().to_string(), "sha256": sha256_file(path).with_context(|| format!("{}: cannot read", path.display()))? }),
    )
}

type JobResult = Result<(Vec<RoundRecord>, Vec<SelectionRecord>), active::PlanError>;

/// A plan spec's inputs loaded and checked, with its loop settings, seeds and splits: all a
/// run needs before it writes anything.
struct Prepared {
    inputs: PlanInputs,
    cfg: LoopConfig,
    seeds: Vec<u64>,
    splits: Vec<Split>,
}

fn prepare(a: &PlanSpec) -> Result<Prepared> {
    a.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let inputs = load_inputs(a)?;
    let (cfg, seeds, splits) = plan_splits(a, &inputs.screen.targets, &inputs.pathway)?;
    Ok(Prepared {
        inputs,
        cfg,
        seeds,
        splits,
    })
}

/// The loop settings, seeds and each seed's split (which checks the pathway's members and the
/// budget against the pool), and the planner's model file read: what `prepare` and `check_all`
/// both need once the inputs are loaded.
fn plan_splits(
    a: &PlanSpec,
    targets: &[String],
    pathway: &GeneSet,
) -> Result<(LoopConfig, Vec<u64>, Vec<Split>)> {
    let cfg = loop_config(a);
    let seeds: Vec<u64> = (0..a.seeds as u64).map(|i| a.seed + i).collect();
    let splits: Vec<Split> = seeds
        .iter()
        .map(|&s| active::split(targets, pathway, s, &cfg))
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}", a.screen.display()))?;
    if let Some(p) = &a.llm_model {
        crate::llm::ModelConfig::load(p)?;
    }
    Ok((cfg, seeds, splits))
}

/// Load and check everything the plan specs name (files, settings, the budget against each
/// seed's pool) without running or writing anything: an audit's preflight. Each distinct
/// screen is loaded once (an audit's pathways of one screen share it); every other input is
/// loaded per spec, as a run would.
pub fn check_all(specs: &[PlanSpec]) -> Result<()> {
    type Key = (PathBuf, Option<String>, Option<PathBuf>);
    let mut screens: Vec<(Key, Screen)> = Vec::new();
    for a in specs {
        a.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        check_spec(a)?;
        let key = (
            a.screen.clone(),
            a.control.clone(),
            a.control_vector.clone(),
        );
        let at = match screens.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                screens.push((key, screen_file::load(&a.screen, &screen_options(a))?));
                screens.len() - 1
            }
        };
        let (pathway, ..) = load_others(a)?;
        plan_splits(a, &screens[at].1.targets, &pathway)?;
    }
    Ok(())
}

/// The loop settings of a spec.
fn loop_config(a: &PlanSpec) -> LoopConfig {
    LoopConfig {
        rounds: a.rounds,
        batch: a.batch,
        initial: a.initial.unwrap_or(a.batch),
        test_fraction: a.test_fraction,
        ensemble: EnsembleConfig {
            members: a.members,
            lambda: a.lambda,
            pca_dim: a.pca_dim,
            feature_fraction: a.feature_fraction,
            predictor: a.predictor,
        },
    }
}

/// One plan run. `progress` sees one phase of (jobs × (rounds + 1)) steps.
pub fn run_plan(a: &PlanSpec, progress: &dyn Progress) -> Result<PlanOutcome> {
    let clock = std::time::Instant::now();
    let mut timings: Vec<(&'static str, f64)> = Vec::new();
    let mut lap = {
        let mut last = clock;
        move |name: &'static str, timings: &mut Vec<(&'static str, f64)>| {
            let now = std::time::Instant::now();
            timings.push((name, (now - last).as_secs_f64()));
            last = now;
        }
    };
    let Prepared {
        inputs,
        cfg,
        seeds,
        splits,
    } = prepare(a)?;
    lap("load", &mut timings);
    let screen = &inputs.screen;
    let names = a.strategy_names();

    let mut inputs_json = serde_json::Map::new();
    inputs_json.insert("screen".into(), input_entry(&a.screen)?);
    inputs_json.insert("pathways".into(), input_entry(&a.pathways)?);
    for (k, p) in [
        ("network", &a.network),
        ("go", &a.go),
        ("cross_screen", &a.cross_screen),
        ("control_vector", &a.control_vector),
        ("annotations", &a.annotations),
        ("genes", &a.genes),
    ] {
        if let Some(p) = p {
            inputs_json.insert(k.into(), input_entry(p)?);
        }
    }
    lap("hash", &mut timings);
    let n_members = screen
        .targets
        .iter()
        .filter(|t| inputs.pathway.genes.contains(t))
        .count();
    let mut config = json!({
        "command": "plan",
        "tool": { "name": "pertaudit", "version": env!("CARGO_PKG_VERSION") },
        "inputs": inputs_json,
        "screen": { "name": screen.name, "perturbations": screen.n_perts(), "readout_genes": screen.n_genes(),
                    "labelled_pairs": screen.labels.as_ref().map(|l| l.len()),
                    "response": screen.response, "metric_label": screen.response.pearson_label() },
        "pathway": { "name": inputs.pathway.name, "genes": inputs.pathway.genes.len(), "perturbed_members": n_members },
        "strategies": names,
        "seeds": seeds,
        "loop": cfg,
        "prior": { "dim": a.prior_dim, "kernels": [], "min_score": a.min_score },
        "control": a.control,
    });
    let uses_llm = a.strategies.iter().any(|s| s.arm().is_some());
    // The planner models: the default (`--llm-model`) and each backbone, by file stem.
    let llm_cfg = if uses_llm {
        let mut models: Vec<(Option<Backbone>, crate::llm::ModelConfig)> = Vec::new();
        if let Some(p) = &a.llm_model {
            models.push((None, crate::llm::ModelConfig::load(p)?));
        }
        for p in &a.llm_backbones {
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let b = Backbone::new(&stem).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: a backbone's file stem must be letters, digits, '.', '_' or '-'",
                    p.display()
                )
            })?;
            models.push((Some(b), crate::llm::ModelConfig::load(p)?));
        }
        if a.llm_samples > 1 {
            if let Some((_, m)) = models.iter().find(|(_, m)| m.temperature == 0.0) {
                bail!(
                    "--llm-samples {}: planner model {:?} has temperature 0, so every sample would be the same answer; set temperature > 0 in its model file",
                    a.llm_samples,
                    m.name
                );
            }
        }
        for (i, (_, m)) in models.iter().enumerate() {
            if models[..i].iter().any(|(_, x)| x.name == m.name) {
                bail!(
                    "two planner model files share the name {:?}; give each its own `name`",
                    m.name
                );
            }
        }
        let (template, source) =
            crate::llm::prompt::template_text(a.prompts.as_deref(), crate::llm::prompt::RERANK)?;
        let describe = |m: &crate::llm::ModelConfig| {
            json!({"name": m.name, "provider": m.provider.as_str(), "model": m.model, "family": m.family,
                   "temperature": m.temperature, "max_tokens": m.max_tokens, "seed": m.seed})
        };
        let mut llm = json!({
            "template": {"source": source, "sha256": sha256_bytes(template.as_bytes())},
            "shortlist_factor": a.shortlist_factor,
            "reprompts": a.reprompts,
            "sequential": a.sequential,
            "probe": a.probe,
        });
        if a.llm_samples > 1 {
            llm["samples"] = json!(a.llm_samples);
        }
        if let Some((_, m)) = models.iter().find(|(b, _)| b.is_none()) {
            llm["model"] = describe(m);
        }
        let backbones: serde_json::Map<String, serde_json::Value> = models
            .iter()
            .filter_map(|(b, m)| b.map(|b| (b.stem().to_string(), describe(m))))
            .collect();
        if !backbones.is_empty() {
            llm["backbones"] = serde_json::Value::Object(backbones);
        }
        config["llm"] = llm;
        Some((models, template))
    } else {
        None
    };
    let prior_cfg = PriorConfig { dim: a.prior_dim };
    // The embeddings depend on the targets, the network and GO files, the edge threshold and
    // the dimension (and the algorithm's version): the cache key hashes exactly those.
    let prior_key = {
        let mut k = format!(
            "prior-embeddings v4\ndim {}\nmin_score {}\n",
            a.prior_dim,
            a.min_score.to_bits()
        );
        for name in ["network", "go"] {
            // The files' hashes, as recorded for config.json above.
            if let Some(h) = config["inputs"][name]["sha256"].as_str() {
                k += &format!("{name} {h}\n");
            }
        }
        k += &screen.targets.join("\n");
        sha256_bytes(k.as_bytes())
    };
    // The Gram matrix of the responses depends on the screen alone: built on its own thread
    // while the priors are read or computed (the embeddings' products leave a core idle).
    let (priors, prior_cache_hit, gram) = std::thread::scope(|s| -> Result<_> {
        let gram = s.spawn(|| crate::predict::ensemble::Gram::new(&screen.values));
        let cached = crate::data::cache::load(&prior_key);
        let prior_cache_hit = cached.is_some();
        let parts = match cached {
            Some(parts) => parts,
            None => {
                let parts = prior::embeddings(
                    &screen.targets,
                    inputs.network.as_ref(),
                    inputs.annotations.as_ref(),
                    &prior_cfg,
                )
                .context("building prior embeddings")?;
                crate::data::cache::store(&prior_key, &parts);
                parts
            }
        };
        let mut priors = prior::assemble(
            screen,
            &inputs.pathway,
            inputs.network.as_ref(),
            inputs.annotations.as_ref(),
            parts,
        );
        if let Some(other) = &inputs.cross_screen {
            let kernel = prior::cross_screen_kernel(screen, other);
            if a.cross_embedding {
                let e = prior::kernel_embedding(&kernel, a.prior_dim)
                    .context("building the cross-screen embedding")?;
                prior::append_embedding(&mut priors, &e);
            }
            priors
                .kernels
                .push(("cross_screen".to_string(), prior::Kernel::Dense(kernel)));
        } else if a.cross_embedding {
            bail!("--cross-embedding needs --cross-screen");
        }
        if a.cross_embedding {
            config["prior"]["cross_embedding"] = json!(true);
        }
        let gram = gram.join().expect("the Gram thread does not panic");
        Ok((priors, prior_cache_hit, gram))
    })?;
    config["prior"]["kernels"] = json!(priors
        .kernels
        .iter()
        .map(|(n, _)| n.clone())
        .collect::<Vec<_>>());
    let run_id = format!(
        "plan-{}",
        &sha256_bytes(canonical_json(&config).as_bytes())[..12]
    );
    config["run_id"] = json!(run_id);
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&run_id));
    // One writer per run directory (a second process stops here, naming the first).
    let _run_lock = crate::data::runlock::RunLock::acquire(&out)?;

    // The LLM planner's client writes its ledger into the run directory.
    let llm_runtime;
    // One setup per backbone; they share the client (one ledger, one cache).
    let llm_setups: Vec<(
        Option<Backbone>,
        std::sync::Arc<crate::planner::llm::LlmSetup>,
    )> = match llm_cfg {
        Some((models, template)) => {
            llm_runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let ledger = std::sync::Arc::new(crate::llm::Ledger::open(
                a.ledger.as_deref().unwrap_or(&out),
            )?);
            let configs: Vec<crate::llm::ModelConfig> =
                models.iter().map(|(_, m)| m.clone()).collect();
            let client = std::sync::Arc::new(crate::llm::Client::new(
                ledger,
                &configs,
                crate::llm::ClientOptions {
                    cost_cap_usd: None,
                    replay: a.replay.clone(),
                    seed: a.seed,
                },
            )?);
            let annotations = std::sync::Arc::new(inputs.annotations.clone().unwrap_or_default());
            let network = inputs.network.clone().map(std::sync::Arc::new);
            models
                .into_iter()
                .map(|(b, m)| {
                    (
                        b,
                        std::sync::Arc::new(crate::planner::llm::LlmSetup {
                            kit: crate::planner::llm::PromptKit {
                                annotations: annotations.clone(),
                                network: network.clone(),
                                template: template.clone(),
                                seed: a.seed,
                            },
                            client: client.clone(),
                            endpoint: m.name.clone(),
                            handle: llm_runtime.handle().clone(),
                            factor: a.shortlist_factor,
                            reprompts: a.reprompts,
                            sequential: a.sequential,
                            probe: a.probe,
                            samples: a.llm_samples,
                        }),
                    )
                })
                .collect()
        }
        None => Vec::new(),
    };
    let make_strategy = |kind: StrategyKind| -> Box<dyn Strategy> {
        let setup = llm_setups
            .iter()
            .find(|(b, _)| *b == kind.backbone())
            .map(|(_, s)| s);
        match (kind.arm(), setup) {
            (Some(arm), Some(setup)) => Box::new(crate::planner::llm::LlmPlanner::new(
                arm,
                kind.name(),
                setup.clone(),
            )),
            _ => strategy::builtin(kind).expect("a built-in strategy"),
        }
    };
    lap("priors", &mut timings);
    let ws = Workspace::with_gram(screen, &priors.embedding, gram);
    lap("gram", &mut timings);
    // A shard runs the jobs of its seeds only (the config, and so the run id, stay the
    // unsharded run's).
    let owned = |si: usize| a.shard.is_none_or(|sh| sh.owns(si));
    let jobs: Vec<(usize, usize)> = (0..splits.len())
        .filter(|&s| owned(s))
        .flat_map(|s| (0..a.strategies.len()).map(move |k| (s, k)))
        .collect();
    if jobs.is_empty() {
        bail!(
            "--shard {}: no seed falls in this shard ({} seeds); use at most {} shards",
            a.shard.map(|s| s.to_string()).unwrap_or_default(),
            splits.len(),
            splits.len()
        );
    }
    progress.phase("plan", (jobs.len() * (cfg.rounds + 1)) as u64);
    let results: Mutex<Vec<Option<JobResult>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let threads = a
        .threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .clamp(1, jobs.len().max(1));
    let tick = || progress.inc(1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let j = next.fetch_add(1, Ordering::SeqCst);
                if j >= jobs.len() {
                    break;
                }
                let (si, ki) = jobs[j];
                let mut strat: Box<dyn Strategy> = make_strategy(a.strategies[ki]);
                let input = JobInput {
                    ws: &ws,
                    priors: &priors,
                    pathway: &inputs.pathway,
                    split: &splits[si],
                    cfg: &cfg,
                };
                let r = active::run_job(&input, strat.as_mut(), &tick);
                results.lock().expect("results")[j] = Some(r);
            });
        }
    });
    progress.done();
    lap("loop", &mut timings);
    let mut rounds = Vec::new();
    let mut selections = Vec::new();
    for r in results.into_inner().expect("results") {
        let (r, s) = r.expect("every job ran")?;
        rounds.extend(r);
        selections.extend(s);
    }
    let curve = active::learning_curve(&rounds, &names, |r| r.model.pearson_delta);
    let skill_curve = active::learning_curve(&rounds, &names, skill);
    let cmp = comparison::compare(
        &rounds,
        &names,
        PRIMARY_METRIC,
        |r| r.model.pearson_delta,
        0.05,
    );
    lap("statistics", &mut timings);
    let own_splits: Vec<Split> = splits
        .iter()
        .enumerate()
        .filter(|(si, _)| owned(*si))
        .map(|(_, s)| s.clone())
        .collect();
    write_plan_outputs(&out, &config, &own_splits, &rounds, &selections, screen)?;
    match a.shard {
        // The whole run's summaries need every seed: `merge` writes them.
        Some(shard) => {
            let info = crate::data::shard::ShardFile {
                kind: "plan".into(),
                run_id: run_id.clone(),
                shard,
                seeds: own_splits.iter().map(|s| s.seed).collect(),
                config_sha256: sha256_bytes(config_text(&config)?.as_bytes()),
            };
            write_atomic(
                &out.join(crate::data::shard::SHARD_FILE),
                (serde_json::to_string_pretty(&info)? + "\n").as_bytes(),
            )?;
        }
        None => write_summaries(&out, &rounds, &names, &cmp)?,
    }
    lap("output", &mut timings);
    Ok(PlanOutcome {
        out,
        run_id,
        pathway: inputs.pathway.name.clone(),
        strategies: names,
        seeds,
        rounds,
        selections,
        curve,
        comparison: cmp,
        response: screen.response,
        skill: skill_curve,
        timings,
        prior_cache_hit,
        shard: a.shard,
    })
}

/// The text of a run's `config.json`.
fn config_text(config: &serde_json::Value) -> Result<String> {
    Ok(serde_json::to_string_pretty(config)? + "\n")
}

/// The files that summarise every seed: `curve.csv` and `comparison.json`.
pub fn write_summaries(
    out: &Path,
    rounds: &[RoundRecord],
    strategies: &[String],
    cmp: &Comparison,
) -> Result<()> {
    write_csv(&out.join("curve.csv"), &curve_rows(rounds, strategies))?;
    write_atomic(
        &out.join("comparison.json"),
        (serde_json::to_string_pretty(cmp)? + "\n").as_bytes(),
    )?;
    Ok(())
}

fn write_plan_outputs(
    out: &Path,
    config: &serde_json::Value,
    splits: &[Split],
    rounds: &[RoundRecord],
    selections: &[SelectionRecord],
    screen: &Screen,
) -> Result<()> {
    let cfg_path = out.join("config.json");
    let cfg_text = config_text(config)?;
    if let Ok(existing) = std::fs::read_to_string(&cfg_path) {
        if existing != cfg_text {
            bail!(
                "{}: holds a different run; choose another --out",
                out.display()
            );
        }
    }
    write_atomic(&cfg_path, cfg_text.as_bytes())?;
    let mut sp = String::new();
    for s in splits {
        let names = |v: &[usize]| {
            v.iter()
                .map(|&i| screen.perturbations[i].clone())
                .collect::<Vec<_>>()
        };
        sp += &serde_json::to_string(
            &json!({"seed": s.seed, "test": names(&s.test), "initial": names(&s.initial)}),
        )?;
        sp.push('\n');
    }
    write_atomic(&out.join("splits.jsonl"), sp.as_bytes())?;
    write_csv(&out.join("metrics.csv"), &metrics_rows(rounds))?;
    let mut sel = String::new();
    for s in selections {
        sel += &serde_json::to_string(s)?;
        sel.push('\n');
    }
    write_atomic(&out.join("selections.jsonl"), sel.as_bytes())?;
    Ok(())
}

/// The `metrics.csv` rows of a run.
pub fn metrics_rows(rounds: &[RoundRecord]) -> Vec<MetricsRow> {
    rounds
        .iter()
        .map(|r| {
            let (m, b) = (&r.model, &r.baseline);
            MetricsRow {
                seed: r.seed,
                strategy: r.strategy.clone(),
                round: r.round,
                n_train: r.n_train,
                pearson_delta: Num(m.pearson_delta),
                top20_pearson: Num(m.top20_pearson),
                top20_mse: Num(m.top20_mse),
                auroc_de: Num(m.auroc_de),
                auprc_de: Num(m.auprc_de),
                direction_accuracy: Num(m.direction_accuracy),
                baseline_pearson_delta: Num(b.pearson_delta),
                baseline_top20_pearson: Num(b.top20_pearson),
                baseline_top20_mse: Num(b.top20_mse),
                baseline_auroc_de: Num(b.auroc_de),
                calibration_spearman: Num(r.calibration),
            }
        })
        .collect()
}

type Metric = fn(&RoundRecord) -> f64;

/// Skill: the model's primary metric minus the mean-of-training baseline's. A model that does
/// not beat predicting the average measured response has nothing to design for.
pub fn skill(r: &RoundRecord) -> f64 {
    r.model.pearson_delta - r.baseline.pearson_delta
}

/// The `curve.csv` rows: mean and SE over seeds of each summarised metric.
pub fn curve_rows(rounds: &[RoundRecord], strategies: &[String]) -> Vec<CurveRow> {
    let metrics: [(&str, Metric); 7] = [
        ("pearson_delta", |r| r.model.pearson_delta),
        ("top20_pearson", |r| r.model.top20_pearson),
        ("top20_mse", |r| r.model.top20_mse),
        ("auroc_de", |r| r.model.auroc_de),
        ("baseline_pearson_delta", |r| r.baseline.pearson_delta),
        ("skill_pearson_delta", skill),
        ("calibration_spearman", |r| r.calibration),
    ];
    let mut out = Vec::new();
    for (name, f) in metrics {
        for p in active::learning_curve(rounds, strategies, f) {
            out.push(CurveRow {
                metric: name.to_string(),
                strategy: p.strategy,
                round: p.round,
                n_train: Num(p.n_train),
                n_seeds: p.n_seeds,
                mean: Num(p.mean),
                se: Num(p.se),
            });
        }
    }
    out
}

/// The masking ablation: the plan with bald and the arms, then the ablation's overlaps and
/// paired tests, written to `ablation.json` beside the plan's files.
pub fn run_ablation(spec: &AblationSpec, progress: &dyn Progress) -> Result<AblationOutcome> {
    let plan_spec = spec.plan_spec();
    if plan_spec.shard.is_some() {
        bail!("an ablation compares its arms over every seed; it cannot be sharded");
    }
    let plan = run_plan(&plan_spec, progress)?;
    let ab =
        crate::planner::llm::ablation::ablation(&plan.rounds, &plan.selections, &plan.strategies);
    write_atomic(
        &plan.out.join("ablation.json"),
        (serde_json::to_string_pretty(&ab)? + "\n").as_bytes(),
    )?;
    Ok(AblationOutcome {
        arms: plan.strategies[1..].to_vec(),
        plan,
        ablation: ab,
    })
}
