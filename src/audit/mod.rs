//! `pertaudit audit CONFIG.toml`: the whole study from one file, and `pertaudit demo`, the
//! same on a simulated screen with the embedded model.
//!
//! Run directory (`runs/<study name>` unless `--out`):
//!
//! | file | what |
//! |---|---|
//! | `audit.toml` | the config, byte for byte |
//! | `analysis_plan.md` | the analysis plan, written from the config before anything runs |
//! | `lock.json` | the pre-registration lock: sha256 of the config, analysis plan, every data file, template, model file and local model weights; written once, before the first LLM call |
//! | `deviations.jsonl` | every later change to a locked input, with the reason given |
//! | `ledger.jsonl`, `bodies/` | every LLM call of every step (planner and judges share it) |
//! | `plan/<screen>/<pathway>/` | the plan runs (`pertaudit plan` outputs) |
//! | `ablation/<screen>/<pathway>/` | the masking-ablation runs (with `ablation.json`) |
//! | `tasks/`, `judged/` | the blinded tasks and the un-blinded verdicts |
//! | `audit.json` | run id, lock hash and what each step produced |
//!
//! Every step is deterministic and every LLM answer is in the ledger, so running the audit
//! again resumes: finished work is recomputed from the ledger without a call, and only what
//! is missing is asked.

pub mod config;
pub mod demo;
pub mod lock;
pub mod verify;

use crate::data::runfile::{sha256_bytes, sha256_file, write_atomic};
use crate::judge::{BlindSpec, JudgeSpec};
use crate::planner::llm::Arm;
use crate::planner::spec::{parse_strategies, AblationSpec, PlanSpec};
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
pub use config::AuditConfig;
pub use lock::{AuditSummary, Deviation, Lock, Step};
use lock::{FileHash, LockedInput, LockedModel, LockedTemplate, LockedWeights, Tool};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub const LOCK: &str = "lock.json";
pub const DEVIATIONS: &str = "deviations.jsonl";

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
}

/// One locked input: its role, its path as the config wrote it, and its sha256.
fn entry(role: &str, shown: &str, path: &Path) -> Result<LockedInput> {
    let sha =
        sha256_file(path).with_context(|| format!("{}: cannot read ({role})", path.display()))?;
    Ok(LockedInput {
        role: role.to_string(),
        path: shown.to_string(),
        sha256: sha,
    })
}

fn shown(p: &Path) -> String {
    p.display().to_string()
}

/// The analysis plan, written from the config: what will be computed and how it is decided.
pub fn analysis_plan(c: &AuditConfig) -> String {
    let d = &c.design;
    let s = &c.stats;
    let mut t = String::new();
    let _ = writeln!(t, "# Analysis plan: {}\n", c.study.name);
    if c.simulated() {
        let _ = writeln!(
            t,
            "**The screen is SIMULATED** (a documented generative model; not real data).\n"
        );
    }
    let _ = writeln!(t, "## Predictive performance (primary)\n");
    let _ = writeln!(
        t,
        "For every screen and pathway: {} strategies ({}) × {} seeds (base seed {}) × {} rounds of {} knock-downs. \
The endpoint is the area under the learning curve of `{}` on the held-out knock-downs of the pathway (trapezoid over rounds 0..{}, divided by {}). \
The best strategy has the highest mean AUC; it is called significantly best only if its paired Wilcoxon signed-rank test over seeds against every other strategy, Holm-adjusted across those comparisons, is below α = {}.\n",
        d.strategies.len(),
        d.strategies.join(", "),
        d.seeds,
        c.study.seed,
        d.rounds,
        d.batch,
        s.metric,
        d.rounds,
        d.rounds,
        s.alpha
    );
    if let Some(j) = &c.judges {
        let _ = writeln!(t, "## Judged coherence\n");
        let _ = writeln!(
            t,
            "The batches of {} in {} are blinded (opaque ids, canonical gene lists, clipped and neutralised annotations; a blinding-integrity check at α = {} refuses designs whose surface features reveal the strategy), \
both orders of every pair go to {} judge(s). Failures (parse errors, refusals, provider errors, truncations) are counted, never imputed. \
Per pair: the panel's win rate with a cluster-bootstrap CI ({} resamples), an exact sign test on decisive items, Holm-adjusted across pairs at α = {}. \
Also: Bradley–Terry strengths (Davidson ties) with bootstrap CIs, Fleiss' κ, Krippendorff's α and Cohen's κ per judge pair, first-position rates (exact binomial) and order consistency (McNemar). \
Judges of the planner's model family are flagged and every figure is also given without them.\n",
            c.judged_strategies().join(", "),
            match &j.rounds {
                Some(r) => format!("rounds {}", r.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
                None => "every round".into(),
            },
            j.integrity_alpha.unwrap_or(0.01),
            j.models.len(),
            s.resamples,
            s.alpha
        );
    }
    if let Some(a) = &c.ablation {
        let _ = writeln!(t, "## Symbol-masking ablation (exploratory)\n");
        let _ = writeln!(
            t,
            "Arms {} against bald (the shortlist's own order) on {}: Jaccard overlap of batches per seed and round, paired Wilcoxon per round on `pearson_delta`, Benjamini–Hochberg across arm pairs × rounds; fallback rates per arm.\n",
            a.arms.join(", "),
            c.ablation_pathways().join(", ")
        );
    }
    let _ = writeln!(t, "Anything not named here is exploratory.");
    t
}

/// Resolved paths of one screen.
fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The weights' hash when a replay runs without them (they are not needed to answer from a
/// ledger); a lock never holds it, and a comparison skips it.
const UNAVAILABLE: &str = "unavailable in a replay";

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
        let files: [(&str, Option<&PathBuf>); 7] = [
            ("screen", Some(&s.screen)),
            ("gene_sets", Some(&s.gene_sets)),
            ("network", s.network.as_ref()),
            ("go", s.go.as_ref()),
            ("annotations", s.annotations.as_ref()),
            ("genes", s.genes.as_ref()),
            ("control_vector", s.control_vector.as_ref()),
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

/// What can be checked before the lock is written: strategy names and that every pathway is
/// in its gene-set file (so a study that cannot run never gets a lock).
fn preflight(c: &AuditConfig, config_path: &Path, base: &Path) -> Result<()> {
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
    }
    a.replay = o.replay.clone();
    a.ledger = Some(run.to_path_buf());
    Ok(a)
}

/// The ablation's arms (the config checked they are LLM arms).
fn ablation_arms(arms: &[String]) -> Result<Vec<Arm>> {
    parse_strategies(arms)?
        .into_iter()
        .map(|k| {
            k.arm()
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
    preflight(&c, config_path, &base)?;
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
    let mut steps = Vec::new();
    let mut plan_dirs = Vec::new();
    for s in &c.screens {
        for p in &s.pathways {
            let dir = out.join("plan").join(&s.name).join(p);
            progress.note(&format!("== plan: {} / {p}", s.name));
            let a = plan_spec(&c, s, p, &base, &dir, out, o)?;
            crate::planner::run::run_plan(&a, progress)
                .with_context(|| format!("plan {} / {p}", s.name))?;
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
            let spec = AblationSpec {
                plan: plan_spec(&c, s, &p, &base, &dir, out, o)?,
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

/// The config as last accepted: the run's copy, or the copy saved with its last deviation.
pub fn current_config(run: &Path) -> PathBuf {
    let n = std::fs::read_to_string(run.join(DEVIATIONS)).map_or(0, |t| t.lines().count());
    if n > 0 {
        run.join(format!("audit.{n}.toml"))
    } else {
        run.join("audit.toml")
    }
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
    let p = run.join(LOCK);
    serde_json::from_slice(
        &std::fs::read(&p).with_context(|| format!("{}: cannot read", p.display()))?,
    )
    .with_context(|| format!("{}: not a lock", p.display()))
}

/// Check a run's locked inputs against the files as they are now (for `verify`).
pub fn verify_inputs(run: &Path, base: &Path) -> Result<Vec<String>> {
    let locked = effective_lock(run)?;
    let (c, text) = AuditConfig::load(&current_config(run))?;
    let now = build_lock(&c, &text, &analysis_plan(&c), base, false)?;
    Ok(lock_changes(&locked, &now))
}

/// The folder a run's config paths resolve from: given, else the one the audit used (when it
/// still exists), else the run directory.
pub fn inputs_base(run: &Path, given: Option<&Path>) -> PathBuf {
    if let Some(g) = given {
        return g.to_path_buf();
    }
    std::fs::read_to_string(run.join("audit.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<AuditSummary>(&t).ok())
        .map(|v| PathBuf::from(v.config_dir))
        .filter(|p| p.is_dir())
        .unwrap_or_else(|| run.to_path_buf())
}

/// Files a replay recomputes and must reproduce byte for byte.
fn derived_files(run: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut walk = vec![run.join("plan"), run.join("ablation")];
    while let Some(d) = walk.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk.push(p);
            } else if matches!(
                p.file_name().and_then(|n| n.to_str()),
                Some(
                    "metrics.csv"
                        | "curve.csv"
                        | "selections.jsonl"
                        | "splits.jsonl"
                        | "comparison.json"
                        | "ablation.json"
                )
            ) {
                out.push(p.strip_prefix(run).expect("inside").to_path_buf());
            }
        }
    }
    for f in [
        "tasks/tasks.jsonl",
        "tasks/key.json",
        "judged/verdicts.csv",
        "judged/judgements.jsonl",
    ] {
        if run.join(f).exists() {
            out.push(PathBuf::from(f));
        }
    }
    out.sort();
    out
}

/// A run recomputed from its ledger alone, in a scratch copy (`scratch`), with every derived
/// file checked byte for byte against the run's.
pub struct Recomputed {
    pub scratch: PathBuf,
    pub run_id: String,
    /// How many derived files were compared (all identical).
    pub files: usize,
}

/// Recompute every step of a run in a scratch copy answered from the run's ledger alone
/// (a miss is an error, so no LLM call), and check that every derived file is byte-identical
/// to the run's. The caller writes the report from the scratch copy, then removes it.
pub fn recompute(
    run: &Path,
    inputs_from: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Recomputed> {
    let base = inputs_base(run, inputs_from);
    let scratch = run.join(".replay");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("{}: cannot clear", scratch.display()))?;
    }
    let o = RunOptions {
        replay: Some(run.to_path_buf()),
        deviation: None,
        threads: None,
        inputs_from: Some(base),
    };
    // The scratch run starts from the run's lock and deviations, so it is held to the same
    // accepted state and keeps the run's id.
    std::fs::create_dir_all(&scratch)?;
    for e in std::fs::read_dir(run)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let keep = name == LOCK
            || name == DEVIATIONS
            || name == "analysis_plan.md"
            || (name.starts_with("audit.") && name.ends_with(".toml"));
        if keep {
            std::fs::copy(e.path(), scratch.join(&name))?;
        }
    }
    let config = scratch.join(current_config(run).file_name().expect("a file"));
    let done = run_audit(&config, &scratch, &o, progress)?;
    let mut differ = Vec::new();
    let files = derived_files(run);
    for f in &files {
        if std::fs::read(run.join(f)).ok() != std::fs::read(scratch.join(f)).ok() {
            differ.push(f.display().to_string());
        }
    }
    if !differ.is_empty() {
        bail!(
            "replay: recomputed outputs differ from the run's: {} (kept in {})",
            differ.join(", "),
            scratch.display()
        );
    }
    Ok(Recomputed {
        scratch,
        run_id: done.run_id,
        files: files.len(),
    })
}
