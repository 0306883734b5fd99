//! The step runner: preflight, the lock, then plan → ablation → blind → judge, one shared
//! ledger, and `audit.json` kept current (a crash leaves it unfinished).

use super::config::{self, AuditConfig};
use super::lock::{build_lock, effective_lock, lock_changes, resolve, run_id};
use super::{analysis_plan, AuditSummary, Deviation, Step, DEVIATIONS, LOCK};
use crate::data::runfile::{sha256_bytes, write_atomic};
use crate::judge::{BlindSpec, JudgeSpec};
use crate::planner::spec::{parse_strategies, AblationSpec, PlanSpec, StrategyKind};
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// How to run an audit (besides its config).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Answer every LLM call from this run's ledger (a miss is an error).
    pub replay: Option<PathBuf>,
    /// Accept changed locked inputs, recording this reason as a deviation.
    pub deviation: Option<String>,
    /// Worker threads of the planner.
    pub threads: Option<usize>,
    /// Resolve the config's relative paths from here (default: the config's folder).
    pub inputs_from: Option<PathBuf>,
    /// Which part of the audit to do (default: all of it).
    pub stage: Stage,
}

/// The part of an audit one invocation does. Scale-out (the Snakemake workflow in
/// `examples/workflow/`): `Lock` once; every `PlanShard` anywhere (each into
/// `RUN/shards/plan/<screen>/<pathway>/<I>-of-<N>/`, with its own ledger); `Blind` (joins the
/// plan shards, runs the ablation, writes the tasks); every `JudgeShard` anywhere (one judge
/// endpoint's answers into `RUN/shards/judged/<judge>/`, its own ledger); then `All`, which
/// joins each plan's shards (`planner::merge`: the unsharded files, byte for byte), indexes
/// every shard ledger (`ledger merge`: its answers are served, never paid again) and runs the
/// rest as usual, so its outputs are the unsharded audit's.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Stage {
    #[default]
    All,
    /// Preflight and the pre-registration lock, nothing else.
    Lock,
    /// One seed shard of one (screen, pathway) plan, under an existing, unchanged lock.
    PlanShard {
        screen: String,
        pathway: String,
        shard: crate::data::shard::Shard,
    },
    /// Everything up to the judging tasks (plans, ablation, blind), nothing after.
    Blind,
    /// One judge endpoint (its model file's stem) on the existing tasks, under the lock.
    JudgeShard { judge: String },
}

/// Check that the run's lock exists and that the inputs still match it (a shard runs only
/// under the lock it belongs to).
fn require_lock(out: &Path, lock: &super::Lock) -> Result<Vec<u8>> {
    let lock_path = out.join(LOCK);
    if !lock_path.is_file() {
        bail!(
            "{}: no lock; run `pertaudit audit CONFIG --out {} --lock-only` first",
            lock_path.display(),
            out.display()
        );
    }
    let changes = lock_changes(&effective_lock(out)?, lock);
    if !changes.is_empty() {
        bail!(
            "{}: the pre-registered inputs changed ({}); a shard runs only under the lock it belongs to",
            lock_path.display(),
            changes.join("; ")
        );
    }
    Ok(std::fs::read(&lock_path)?)
}

/// Index the ledgers of the shard folders `dirs` (those holding a ledger), each named by its
/// path below `RUN/shards`.
fn index_shard_ledgers(out: &Path, dirs: &[PathBuf]) -> Result<()> {
    let root = out.join("shards");
    let sources: Vec<(String, PathBuf)> = dirs
        .iter()
        .filter(|d| d.join(crate::llm::ledger::LEDGER_FILE).is_file())
        .map(|d| {
            let rel = d.strip_prefix(&root).unwrap_or(d);
            (crate::llm::ledger_index::chain_name(rel, 8), d.clone())
        })
        .collect();
    if !sources.is_empty() {
        crate::llm::ledger_index::merge(out, &sources)?;
    }
    Ok(())
}

/// `Stage::JudgeShard`: one judge endpoint on the existing tasks, into its own folder and
/// ledger; takes no run-wide lock.
fn run_judge_shard(
    c: &AuditConfig,
    lock: &super::Lock,
    base: &Path,
    out: &Path,
    judge: &str,
    o: &RunOptions,
    progress: &dyn Progress,
) -> Result<Audited> {
    let lock_bytes = require_lock(out, lock)?;
    let j = c
        .judges
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("--judge {judge}: the config has no [judges]"))?;
    let model = j
        .models
        .iter()
        .map(|p| resolve(base, p))
        .find(|p| p.file_stem().is_some_and(|s| s == judge))
        .ok_or_else(|| {
            anyhow::anyhow!("--judge {judge}: no judge model file in the config has that stem")
        })?;
    if !out.join("tasks").join("tasks.jsonl").is_file() {
        bail!(
            "{}: no tasks; run `pertaudit audit CONFIG --out {} --until-blind` first",
            out.join("tasks").display(),
            out.display()
        );
    }
    let dir = out.join("shards").join("judged").join(judge);
    progress.note(&format!("== judge shard: {judge}"));
    crate::judge::judge(
        &JudgeSpec {
            tasks: out.join("tasks"),
            judges: vec![model],
            run: dir.join("judged"),
            prompts: j.prompts.as_ref().map(|d| resolve(base, d)),
            planner_family: j.planner_family.clone(),
            replay: o.replay.clone(),
            cost_cap: j.cost_cap_usd,
            seed: c.study.seed,
            ledger: Some(dir.clone()),
            one_at_a_time: lock.all_local("judges."),
            repeats: j.repeats.unwrap_or(1),
            paraphrase: j.paraphrase,
        },
        progress,
    )?;
    Ok(Audited {
        run_id: run_id(&c.study.name, &lock_bytes),
        dir,
    })
}

/// Where the shards of one plan go.
pub fn shard_root(out: &Path, screen: &str, pathway: &str) -> PathBuf {
    out.join("shards").join("plan").join(screen).join(pathway)
}

/// The shard folders of one plan (those holding a shard.json), in name order.
fn shard_dirs(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join(crate::data::shard::SHARD_FILE).is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `Stage::PlanShard`: one shard under the existing lock; takes no run-wide lock, so shards
/// run side by side.
fn run_plan_shard(
    c: &AuditConfig,
    lock: &super::Lock,
    base: &Path,
    out: &Path,
    o: &RunOptions,
    progress: &dyn Progress,
) -> Result<Audited> {
    let Stage::PlanShard {
        screen,
        pathway,
        shard,
    } = &o.stage
    else {
        unreachable!("a plan shard stage")
    };
    let lock_bytes = require_lock(out, lock)?;
    let s = c
        .screens
        .iter()
        .find(|s| s.name == *screen)
        .ok_or_else(|| {
            anyhow::anyhow!("--plan {screen}/{pathway}: the config has no screen named {screen:?}")
        })?;
    if !s.pathways.iter().any(|p| p == pathway) {
        bail!(
            "--plan {screen}/{pathway}: screen {screen:?} has no pathway {pathway:?} in the config"
        );
    }
    let dir = shard_root(out, screen, pathway).join(shard.dir_name());
    let mut a = plan_spec(c, s, pathway, base, &dir, &dir, o)?;
    a.shard = Some(*shard);
    progress.note(&format!("== plan shard {shard}: {screen} / {pathway}"));
    crate::planner::run::run_plan(&a, progress)
        .with_context(|| format!("plan {screen} / {pathway}, shard {shard}"))?;
    Ok(Audited {
        run_id: run_id(&c.study.name, &lock_bytes),
        dir,
    })
}

/// What can be checked before the lock is written: strategy names and that every pathway is
/// in its gene-set file (so a study that cannot run never gets a lock).
/// Everything the audit will read, loaded and checked before anything is written (the
/// pre-registration lock included): the settings' ranges, every screen, gene-set, network and
/// annotation file, each pathway's perturbed members and the budget against every seed's pool.
/// A bad input leaves no lock behind to refuse the corrected rerun.
fn preflight(
    c: &AuditConfig,
    config_path: &Path,
    base: &Path,
    out: &Path,
    o: &RunOptions,
) -> Result<()> {
    if let Err(e) = parse_strategies(&c.design.strategies) {
        bail!("{}: field `design.strategies`: {e}", config_path.display());
    }
    for (i, s) in c.screens.iter().enumerate() {
        let sets = crate::data::pathway::GeneSets::load(&resolve(base, &s.gene_sets))?;
        for p in &s.pathways {
            sets.find(p).map_err(|e| {
                anyhow::anyhow!(
                    "{}: field `screens[{i}].pathways`: {e}",
                    config_path.display()
                )
            })?;
        }
    }
    let mut specs = Vec::new();
    for s in &c.screens {
        for p in &s.pathways {
            let a = plan_spec(c, s, p, base, out, out, o)?;
            if let Err(e) = a.validate() {
                let (section, field) = match e.field {
                    "llm_samples" => ("planner", "samples"),
                    f => (
                        match f {
                            "shortlist_factor" | "reprompts" => "planner",
                            "seed" => "study",
                            _ => "design",
                        },
                        f,
                    ),
                };
                bail!(
                    "{}: field `{section}.{field}`: {}",
                    config_path.display(),
                    e.msg
                );
            }
            specs.push(a);
        }
    }
    // Each screen is loaded once for all its pathways.
    crate::planner::run::check_all(&specs)
        .with_context(|| format!("{}: checking the inputs", config_path.display()))?;
    Ok(())
}

/// The plan spec of one screen and pathway: the documented defaults, then the design.
fn plan_spec(
    c: &AuditConfig,
    s: &config::ScreenCfg,
    pathway: &str,
    base: &Path,
    out: &Path,
    run: &Path,
    o: &RunOptions,
) -> Result<PlanSpec> {
    let mut a = PlanSpec::default();
    let d = &c.design;
    a.screen = resolve(base, &s.screen);
    a.pathways = resolve(base, &s.gene_sets);
    a.pathway = pathway.to_string();
    a.strategies = parse_strategies(&d.strategies)?;
    a.rounds = d.rounds;
    a.batch = d.batch;
    a.seeds = d.seeds;
    a.seed = c.study.seed;
    a.out = Some(out.to_path_buf());
    a.network = s.network.as_ref().map(|p| resolve(base, p));
    a.go = s.go.as_ref().map(|p| resolve(base, p));
    a.cross_screen = s.cross_screen.as_ref().map(|p| resolve(base, p));
    a.cross_embedding = s.cross_embedding;
    a.annotations = s.annotations.as_ref().map(|p| resolve(base, p));
    a.genes = s.genes.as_ref().map(|p| resolve(base, p));
    a.control = s.control.clone();
    a.control_vector = s.control_vector.as_ref().map(|p| resolve(base, p));
    a.initial = d.initial;
    macro_rules! opt {
        ($($f:ident),*) => { $( if let Some(v) = d.$f { a.$f = v; } )* };
    }
    opt!(
        test_fraction,
        members,
        lambda,
        pca_dim,
        feature_fraction,
        predictor,
        prior_dim,
        min_score
    );
    a.threads = o.threads;
    a.prompts = None;
    if let Some(p) = &c.planner {
        a.llm_model = Some(resolve(base, &p.model));
        a.sequential = p.sequential;
        if let Some(f) = p.shortlist_factor {
            a.shortlist_factor = f;
        }
        if let Some(r) = p.reprompts {
            a.reprompts = r;
        }
        a.prompts = p.prompts.as_ref().map(|d| resolve(base, d));
        a.llm_backbones = p.backbones.iter().map(|b| resolve(base, b)).collect();
        if let Some(k) = p.samples {
            a.llm_samples = k;
        }
    }
    a.replay = o.replay.clone();
    a.ledger = Some(run.to_path_buf());
    Ok(a)
}

/// The ablation's arms (the config checked they are LLM arms).
fn ablation_arms(arms: &[String]) -> Result<Vec<StrategyKind>> {
    parse_strategies(arms)?
        .into_iter()
        .map(|k| {
            k.arm()
                .map(|_| k)
                .ok_or_else(|| anyhow::anyhow!("ablation arm {k} is not an LLM arm"))
        })
        .collect()
}

/// The audit's outcome.
pub struct Audited {
    pub run_id: String,
    pub dir: PathBuf,
}

/// Run (or resume) an audit. `config_path` is the config as given; `out` the run directory.
pub fn run_audit(
    config_path: &Path,
    out: &Path,
    o: &RunOptions,
    progress: &dyn Progress,
) -> Result<Audited> {
    let (c, text) = AuditConfig::load(config_path)?;
    let base = o.inputs_from.clone().unwrap_or_else(|| {
        config_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    });
    let plan_text = analysis_plan(&c);
    let lock = build_lock(&c, &text, &plan_text, &base, o.replay.is_some())?;
    if matches!(o.stage, Stage::PlanShard { .. }) {
        let o = &RunOptions {
            threads: o
                .threads
                .or((c.planner.is_some() && lock.all_local("planner.")).then_some(1)),
            ..o.clone()
        };
        return run_plan_shard(&c, &lock, &base, out, o, progress);
    }
    if let Stage::JudgeShard { judge } = &o.stage {
        return run_judge_shard(&c, &lock, &base, out, judge, o, progress);
    }
    preflight(&c, config_path, &base, out, o)?;
    // What the design can decide, before the lock and before any LLM call.
    let reach = super::analysis::preflight(&c);
    let warnings = reach.warnings();
    if !warnings.is_empty() && c.stats.preflight == config::PreflightMode::Refuse {
        bail!(
            "{}: field `stats.preflight` is \"refuse\" and {}; nothing written",
            config_path.display(),
            warnings.join("; ")
        );
    }
    for w in &warnings {
        progress.note(&format!("preflight: {w}"));
    }
    // One writer per run: a second audit (or plan, judge) on this folder stops here.
    let _run_lock = crate::data::runlock::RunLock::acquire(out)?;
    let lock_path = out.join(LOCK);
    let lock_bytes = (serde_json::to_string_pretty(&lock)? + "\n").into_bytes();
    let locked_bytes = match std::fs::read(&lock_path) {
        Ok(b) => {
            let locked = effective_lock(out)?;
            let changes = lock_changes(&locked, &lock);
            if changes.is_empty() {
                progress.note(&format!(
                    "resuming {}: every locked input is unchanged",
                    out.display()
                ));
            } else {
                let Some(reason) = &o.deviation else {
                    bail!(
                        "{}: the pre-registered inputs changed ({}); rerun with --deviation \"REASON\" to record the change as a deviation, or use a new --out",
                        lock_path.display(),
                        changes.join("; ")
                    );
                };
                let mut log = std::fs::read_to_string(out.join(DEVIATIONS)).unwrap_or_default();
                log.push_str(&serde_json::to_string(&Deviation {
                    changes: changes.clone(),
                    reason: reason.clone(),
                    lock: lock.clone(),
                })?);
                log.push('\n');
                write_atomic(&out.join(DEVIATIONS), log.as_bytes())?;
                let n = log.lines().count();
                write_atomic(&out.join(format!("audit.{n}.toml")), text.as_bytes())?;
                // The outputs made under the lock are kept, moved aside; the ledger stays (its
                // answers are still valid for the requests they answer).
                let aside = out.join("superseded").join(n.to_string());
                for d in ["plan", "ablation", "tasks", "judged"] {
                    if out.join(d).exists() {
                        std::fs::create_dir_all(&aside)?;
                        std::fs::rename(out.join(d), aside.join(d)).with_context(|| {
                            format!("{}: cannot move aside", out.join(d).display())
                        })?;
                    }
                }
                progress.note(&format!(
                    "deviation recorded: {} (earlier outputs moved to {})",
                    changes.join("; "),
                    aside.display()
                ));
            }
            b
        }
        Err(_) => {
            if out.join("ledger.jsonl").exists() {
                bail!(
                    "{}: has a ledger but no lock; use a new --out",
                    out.display()
                );
            }
            // The lock goes first, before any step (and so before any LLM call).
            write_atomic(&out.join("audit.toml"), text.as_bytes())?;
            write_atomic(&out.join("analysis_plan.md"), plan_text.as_bytes())?;
            write_atomic(&lock_path, &lock_bytes)?;
            lock_bytes.clone()
        }
    };
    let id = run_id(&c.study.name, &locked_bytes);
    // Whether the models of a role (`planner.`, `judges.`) are all the embedded one, from the
    // lock just built (it read every model file).
    let all_local = |role: &str| lock.all_local(role);
    // A local planner answers one request at a time: planning one job at a time keeps the
    // ledger's order (and so its head hash) the same on every run, at no cost in speed.
    let o = &RunOptions {
        threads: o
            .threads
            .or((c.planner.is_some() && all_local("planner.")).then_some(1)),
        ..o.clone()
    };
    if c.simulated() {
        progress
            .note("NOTE: the screen is SIMULATED (a documented generative model, not real data)");
    }
    progress.note(&format!(
        "audit {id}: pre-registration lock {}",
        &sha256_bytes(&locked_bytes)[..16]
    ));

    let summary = |steps: &[Step], complete: bool| -> Result<()> {
        let v = AuditSummary {
            run_id: id.clone(),
            study: c.study.name.clone(),
            lock_sha256: sha256_bytes(&locked_bytes),
            simulated: c.simulated(),
            complete,
            steps: steps.to_vec(),
            config_dir: base.display().to_string(),
        };
        write_atomic(
            &out.join("audit.json"),
            (serde_json::to_string_pretty(&v)? + "\n").as_bytes(),
        )?;
        Ok(())
    };
    summary(&[], false)?;
    if o.stage == Stage::Lock {
        return Ok(Audited {
            run_id: id,
            dir: out.to_path_buf(),
        });
    }
    let mut steps = Vec::new();
    let mut plan_dirs = Vec::new();
    for s in &c.screens {
        for p in &s.pathways {
            let dir = out.join("plan").join(&s.name).join(p);
            progress.note(&format!("== plan: {} / {p}", s.name));
            let shards = shard_dirs(&shard_root(out, &s.name, p));
            if shards.is_empty() {
                let a = plan_spec(&c, s, p, &base, &dir, out, o)?;
                crate::planner::run::run_plan(&a, progress)
                    .with_context(|| format!("plan {} / {p}", s.name))?;
            } else {
                // Run elsewhere as shards: join them, and index their ledgers beside the run's.
                let m = crate::planner::merge::merge_plan_shards(&shards, &dir)
                    .with_context(|| format!("plan {} / {p}: joining its shards", s.name))?;
                progress.note(&format!("   joined {} shards", m.shards));
                index_shard_ledgers(out, &m.ledgers)?;
            }
            steps.push(Step {
                step: "plan".into(),
                screen: Some(s.name.clone()),
                pathway: Some(p.clone()),
                dir: format!("plan/{}/{p}", s.name),
                tasks: None,
            });
            plan_dirs.push(dir);
        }
    }
    if let Some(ab) = &c.ablation {
        let s = &c.screens[0];
        for p in c.ablation_pathways() {
            let dir = out.join("ablation").join(&s.name).join(&p);
            progress.note(&format!(
                "== ablation: {} / {p} ({})",
                s.name,
                ab.arms.join(", ")
            ));
            let mut plan = plan_spec(&c, s, &p, &base, &dir, out, o)?;
            plan.probe = ab.probe;
            let spec = AblationSpec {
                plan,
                arms: ablation_arms(&ab.arms)?,
            };
            crate::planner::run::run_ablation(&spec, progress)
                .with_context(|| format!("ablation {} / {p}", s.name))?;
            steps.push(Step {
                step: "ablation".into(),
                screen: Some(s.name.clone()),
                pathway: Some(p.clone()),
                dir: format!("ablation/{}/{p}", s.name),
                tasks: None,
            });
        }
    }
    if let Some(j) = &c.judges {
        let first = &c.screens[0];
        progress.note("== blind");
        crate::judge::blind(
            &BlindSpec {
                runs: plan_dirs.clone(),
                out: out.join("tasks"),
                annotations: first.annotations.as_ref().map(|p| resolve(&base, p)),
                strategies: Some(c.judged_strategies()),
                // Acquisition rounds 1..=R are the selections' rounds 0..R-1.
                rounds: j.rounds.as_ref().map(|r| r.iter().map(|x| x - 1).collect()),
                sorted: j.sorted,
                seed: c.study.seed,
                alpha: j.integrity_alpha.unwrap_or(0.01),
            },
            progress,
        )?;
        if o.stage == Stage::Blind {
            return Ok(Audited {
                run_id: id,
                dir: out.to_path_buf(),
            });
        }
        // Judge endpoints run elsewhere as shards: their answers, indexed, are served below.
        let judged_shards: Vec<PathBuf> = std::fs::read_dir(out.join("shards").join("judged"))
            .map(|rd| {
                let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                v.sort();
                v
            })
            .unwrap_or_default();
        index_shard_ledgers(out, &judged_shards)?;
        let models: Vec<PathBuf> = j.models.iter().map(|p| resolve(&base, p)).collect();
        progress.note(&format!("== judge ({} judges)", models.len()));
        crate::judge::judge(
            &JudgeSpec {
                tasks: out.join("tasks"),
                judges: models,
                run: out.join("judged"),
                prompts: j.prompts.as_ref().map(|d| resolve(&base, d)),
                planner_family: j.planner_family.clone(),
                replay: o.replay.clone(),
                cost_cap: j.cost_cap_usd,
                seed: c.study.seed,
                ledger: Some(out.to_path_buf()),
                one_at_a_time: all_local("judges."),
                repeats: j.repeats.unwrap_or(1),
                paraphrase: j.paraphrase,
            },
            progress,
        )?;
        steps.push(Step {
            step: "judge".into(),
            screen: None,
            pathway: None,
            dir: "judged".into(),
            tasks: Some("tasks".into()),
        });
    }
    summary(&steps, true)?;
    Ok(Audited {
        run_id: id,
        dir: out.to_path_buf(),
    })
}
