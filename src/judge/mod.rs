//! The blinded judge panel: `pertaudit blind` and `pertaudit judge`.

pub mod blind;
pub mod calibration;
pub mod manifest;
pub mod panel;
pub mod preference;
pub mod reliability;
pub mod validate;
pub mod validity;
pub mod verdict;

use crate::data::annotation::Annotations;
use crate::data::pathway::GeneSets;
use crate::data::rows::{write_csv, VerdictRow};
use crate::data::runfile::{canonical_json, sha256_bytes, sha256_file, write_atomic};
use crate::llm::prompt;
use crate::llm::{ChatRequest, Client, ClientOptions, Job, Ledger, Message, ModelConfig};
use crate::numeric::seed::stream;
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use blind::{BlindBatch, GeneOrder, RawBatch};
use manifest::{JudgeInfo, JudgeManifest, TasksRef, TemplateRef, Templates, ToolInfo};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use verdict::{Failure, Label};

/// The pathway as judges see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShownPathway {
    pub name: String,
    pub description: String,
    pub members: Vec<String>,
}

/// One judging task: an item (one context, one strategy pair) in one order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub task: String,
    pub item: String,
    /// `1` or `2`: the two orders of an item.
    pub order: String,
    pub pathway: ShownPathway,
    pub a: BlindBatch,
    pub b: BlindBatch,
}

/// The un-blinding key: never read by the judging step until every answer is in.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Key {
    /// batch id → (context, strategy)
    pub batches: BTreeMap<String, (String, String)>,
    /// item → context
    pub items: BTreeMap<String, String>,
}

/// `blind`: which plan runs, which batches, and how they are blinded.
#[derive(Debug, Clone, PartialEq)]
pub struct BlindSpec {
    /// Plan run directories.
    pub runs: Vec<PathBuf>,
    /// Output folder (tasks, key, manifest).
    pub out: PathBuf,
    /// One-line gene context shown to judges.
    pub annotations: Option<PathBuf>,
    /// Only these strategies (default: all).
    pub strategies: Option<Vec<String>>,
    /// Only these selection rounds (0-based; default: all).
    pub rounds: Option<Vec<u64>>,
    /// Genes sorted alphabetically instead of in a seeded random order.
    pub sorted: bool,
    pub seed: u64,
    /// Level of the blinding-integrity check.
    pub alpha: f64,
}

impl Default for BlindSpec {
    fn default() -> Self {
        BlindSpec {
            runs: Vec::new(),
            out: PathBuf::new(),
            annotations: None,
            strategies: None,
            rounds: None,
            sorted: false,
            seed: 0,
            alpha: 0.01,
        }
    }
}

/// What `blind` wrote.
#[derive(Debug, Clone)]
pub struct BlindOutcome {
    pub out: PathBuf,
    pub tasks: usize,
    pub items: usize,
    pub contexts: usize,
    pub strategies: usize,
    pub key_sha256: String,
}

/// `judge`: the tasks, the panel, and where the answers go.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JudgeSpec {
    /// The tasks folder written by `blind`.
    pub tasks: PathBuf,
    /// Judge model files.
    pub judges: Vec<PathBuf>,
    /// Output folder (verdicts, judgements, manifest).
    pub run: PathBuf,
    /// Template folder; the embedded copies when `None` or when it lacks a file.
    pub prompts: Option<PathBuf>,
    /// The planner's model family (judges of it are flagged); default: from the plan runs.
    pub planner_family: Option<String>,
    /// Answer every request from this run's ledger (a miss is an error).
    pub replay: Option<PathBuf>,
    pub cost_cap: Option<f64>,
    pub seed: u64,
    /// The run directory whose ledger records the calls (default: `run`).
    pub ledger: Option<PathBuf>,
    /// Ask one question at a time (a fixed ledger order; for the embedded model).
    pub one_at_a_time: bool,
    /// Trials per (task, judge): trial 0 is the verdict; trials 1.. move the request seed
    /// (sampling judges only, temperature > 0). 0 or 1: one trial.
    pub repeats: usize,
    /// Also ask every task once with the reworded template (`judge_pairwise_paraphrase.j2`).
    pub paraphrase: bool,
}

/// What `judge` wrote.
#[derive(Debug, Clone)]
pub struct JudgeOutcome {
    pub run: PathBuf,
    pub judgements: usize,
    pub tasks: usize,
    pub judges: usize,
    /// Answers taken from the ledger without a call.
    pub cached: usize,
    /// Per judge: outcome category → count.
    pub outcomes: BTreeMap<String, BTreeMap<String, usize>>,
    pub flagged: Vec<String>,
}

/// Read the batches of plan runs: (context, strategy) → genes in the planner's order, with the
/// pathway of each run.
/// What the plan runs hold: batches, pathways, and the model families of their LLM planners.
type RunContents = (
    Vec<RawBatch>,
    BTreeMap<String, ShownPathway>,
    BTreeSet<String>,
);

/// A plan run's input file, found by its recorded path and checked by its recorded sha256.
/// The path was recorded as given on the plan's command line (relative to the folder the plan
/// ran in), so a relative path is tried from here, then from the run directory and each of its
/// ancestors: a run can be moved or read from elsewhere. The hash decides, never the name.
fn find_recorded_input(
    run: &std::path::Path,
    recorded: &std::path::Path,
    want: &str,
) -> Result<std::path::PathBuf> {
    let mut tried = vec![recorded.to_path_buf()];
    if recorded.is_relative() {
        let mut dir = Some(run);
        while let Some(d) = dir {
            tried.push(d.join(recorded));
            dir = d.parent().filter(|p| !p.as_os_str().is_empty());
        }
    }
    let mut changed = None;
    for p in &tried {
        match sha256_file(p) {
            Ok(got) if got == want => return Ok(p.clone()),
            Ok(got) => {
                changed.get_or_insert((p.clone(), got));
            }
            Err(_) => {}
        }
    }
    match changed {
        Some((p, got)) => bail!(
            "{}: sha256 {got} differs from the run's record {want} (the file changed since the run)",
            p.display()
        ),
        None => bail!(
            "{}: the run's pathway file is not there (looked from here and from {} and its parent folders)",
            recorded.display(),
            run.display()
        ),
    }
}

fn read_runs(runs: &[std::path::PathBuf]) -> Result<RunContents> {
    // The same run twice would count every item twice.
    let mut seen = BTreeSet::new();
    for r in runs {
        let key = r.canonicalize().unwrap_or_else(|_| r.clone());
        if !seen.insert(key) {
            bail!("{}: the same plan run is given twice", r.display());
        }
    }
    let mut batches = Vec::new();
    let mut pathways = BTreeMap::new();
    let mut families = BTreeSet::new();
    for run in runs {
        let cfg_path = run.join("config.json");
        let cfg: Value =
            serde_json::from_str(&std::fs::read_to_string(&cfg_path).with_context(|| {
                format!("{}: cannot read (is this a plan run?)", cfg_path.display())
            })?)
            .with_context(|| format!("{}: not JSON", cfg_path.display()))?;
        let field = |p: &str| -> Result<String> {
            cfg.pointer(p)
                .and_then(Value::as_str)
                .map(str::to_string)
                .with_context(|| {
                    format!(
                        "{}: field `{}` is missing",
                        cfg_path.display(),
                        p.trim_start_matches('/').replace('/', ".")
                    )
                })
        };
        if let Some(f) = cfg
            .pointer("/llm/model/family")
            .and_then(Value::as_str)
            .filter(|f| !f.is_empty())
        {
            families.insert(f.to_ascii_lowercase());
        }
        let screen = field("/screen/name")?;
        let pathway = field("/pathway/name")?;
        let recorded = std::path::PathBuf::from(field("/inputs/pathways/path")?);
        let want = field("/inputs/pathways/sha256")?;
        let gmt = find_recorded_input(run, &recorded, &want)?;
        let sets = GeneSets::load(&gmt)?;
        let set = sets.find(&pathway)?;
        let description = if set.description.starts_with("http") {
            String::new()
        } else {
            set.description.clone()
        };
        let mut members = set.genes.clone();
        members.sort();
        members.dedup();
        let sel_path = run.join("selections.jsonl");
        let text = std::fs::read_to_string(&sel_path)
            .with_context(|| format!("{}: cannot read", sel_path.display()))?;
        let mut grouped: BTreeMap<(u64, u64, String), Vec<(u64, String)>> = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(line).map_err(|e| {
                anyhow::anyhow!("{}: line {}: not JSON ({e})", sel_path.display(), i + 1)
            })?;
            let get_u = |k: &str| {
                v.get(k).and_then(Value::as_u64).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: line {}, field `{k}`: missing or not an integer",
                        sel_path.display(),
                        i + 1
                    )
                })
            };
            let get_s = |k: &str| {
                v.get(k)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "{}: line {}, field `{k}`: missing or not a string",
                            sel_path.display(),
                            i + 1
                        )
                    })
            };
            grouped
                .entry((get_u("seed")?, get_u("round")?, get_s("strategy")?))
                .or_default()
                .push((get_u("rank")?, get_s("target")?));
        }
        for ((seed, round, strategy), mut genes) in grouped {
            genes.sort();
            batches.push(RawBatch {
                context: format!("{screen}|{pathway}|seed{seed}|round{round}"),
                strategy,
                genes: genes.into_iter().map(|(_, g)| g).collect(),
            });
        }
        pathways.insert(
            format!("{screen}|{pathway}"),
            ShownPathway {
                name: pathway.clone(),
                description,
                members,
            },
        );
    }
    Ok((batches, pathways, families))
}

/// Blind the batches of plan runs into judging tasks (refused when surface features alone tell
/// the strategies apart).
pub fn blind(a: &BlindSpec, progress: &dyn Progress) -> Result<BlindOutcome> {
    let (raw, pathways, planner_families) = read_runs(&a.runs)?;
    let mut ann = Annotations::default();
    if let Some(p) = &a.annotations {
        ann.load_context(p)?;
    }
    let wanted: Option<BTreeSet<&String>> = a.strategies.as_ref().map(|s| s.iter().collect());
    let raw: Vec<RawBatch> = raw
        .into_iter()
        .filter(|b| wanted.as_ref().is_none_or(|w| w.contains(&b.strategy)))
        .filter(|b| {
            let round = b
                .context
                .rsplit('|')
                .next()
                .and_then(|r| r.strip_prefix("round"));
            a.rounds.as_ref().is_none_or(|want| {
                round
                    .and_then(|r| r.parse::<u64>().ok())
                    .is_some_and(|r| want.contains(&r))
            })
        })
        .collect();
    // Contexts where every chosen strategy has a batch.
    let mut by_ctx: BTreeMap<String, BTreeMap<String, &RawBatch>> = BTreeMap::new();
    for b in &raw {
        by_ctx
            .entry(b.context.clone())
            .or_default()
            .insert(b.strategy.clone(), b);
    }
    let all: BTreeSet<String> = raw.iter().map(|b| b.strategy.clone()).collect();
    if all.len() < 2 {
        bail!("need batches from at least two strategies; found {:?}", all);
    }
    by_ctx.retain(|_, m| m.len() == all.len());
    if by_ctx.is_empty() {
        bail!(
            "no context (screen, pathway, seed, round) has a batch from every strategy {:?}",
            all
        );
    }
    let order = if a.sorted {
        GeneOrder::Sorted
    } else {
        GeneOrder::Shuffled
    };
    let annotate = |s: &str| ann.context.get(s).cloned();
    let mut ids = stream(a.seed, "blind/ids");
    let mut key = Key::default();
    let mut shown: BTreeMap<(String, String), BlindBatch> = BTreeMap::new();
    let mut for_check = Vec::new();
    let mut neutralised = 0;
    for (ctx, m) in &by_ctx {
        for (s, b) in m {
            let (genes, n) = blind::canonical(
                &b.genes,
                &annotate,
                order,
                &mut blind::order_stream(a.seed, ctx, s),
            );
            neutralised += n;
            let id = blind::opaque_id(&mut ids);
            key.batches.insert(id.clone(), (ctx.clone(), s.clone()));
            for_check.push((s.clone(), genes.clone()));
            shown.insert((ctx.clone(), s.clone()), BlindBatch { id, genes });
        }
    }
    let integrity = blind::integrity(&for_check, a.alpha, a.seed);
    for f in &integrity.features {
        progress.note(&format!(
            "integrity: {:<18} accuracy {:.3} ({}/{}) vs chance {:.3}, Holm p {:.4}{}",
            f.feature,
            f.accuracy,
            f.correct,
            f.n,
            f.chance,
            f.p_holm,
            if f.blocking {
                ""
            } else {
                " (content-linked: reported, not blocking)"
            }
        ));
    }
    if !integrity.passed() {
        bail!(
            "blinding-integrity check failed: strategies can be told apart by {} alone (exact binomial test against 1/{} at α = {}); nothing written",
            integrity.leaks.join(", "),
            integrity.strategies,
            a.alpha
        );
    }
    let strategies: Vec<&String> = all.iter().collect();
    let mut pair_rng = stream(a.seed, "blind/pairs");
    let mut tasks = Vec::new();
    for ctx in by_ctx.keys() {
        let pw_key = ctx.rsplitn(3, '|').nth(2).unwrap_or(ctx).to_string();
        let pathway = pathways
            .get(&pw_key)
            .cloned()
            .with_context(|| format!("no pathway for {ctx}"))?;
        for i in 0..strategies.len() {
            for j in i + 1..strategies.len() {
                let item = format!(
                    "i{}",
                    &sha256_bytes(
                        format!("{}|{ctx}|{}|{}", a.seed, strategies[i], strategies[j]).as_bytes()
                    )[..12]
                );
                key.items.insert(item.clone(), ctx.clone());
                let (mut x, mut y) = (
                    &shown[&(ctx.clone(), strategies[i].clone())],
                    &shown[&(ctx.clone(), strategies[j].clone())],
                );
                if rand::RngExt::random::<bool>(&mut pair_rng) {
                    std::mem::swap(&mut x, &mut y);
                }
                for (order, (p, q)) in [("1", (x, y)), ("2", (y, x))] {
                    tasks.push(Task {
                        task: String::new(),
                        item: item.clone(),
                        order: order.into(),
                        pathway: pathway.clone(),
                        a: p.clone(),
                        b: q.clone(),
                    });
                }
            }
        }
    }
    tasks.shuffle(&mut stream(a.seed, "blind/tasks"));
    for (i, t) in tasks.iter_mut().enumerate() {
        t.task = format!("t{:05}", i + 1);
    }
    let mut lines = String::new();
    for t in &tasks {
        lines.push_str(&serde_json::to_string(t)?);
        lines.push('\n');
    }
    let key_json = serde_json::to_string_pretty(&key)?;
    let manifest = json!({
        "command": "blind",
        "tool": {"name": "pertaudit", "version": env!("CARGO_PKG_VERSION")},
        "seed": a.seed,
        "gene_order": order,
        "runs": a.runs.iter().map(|r| json!({"path": r.display().to_string(),
            "config_sha256": sha256_file(&r.join("config.json")).unwrap_or_default(),
            "selections_sha256": sha256_file(&r.join("selections.jsonl")).unwrap_or_default()})).collect::<Vec<_>>(),
        "annotations": a.annotations.as_ref().map(|p| json!({"path": p.display().to_string(), "sha256": sha256_file(p).unwrap_or_default()})),
        "strategies": all,
        "planner_families": planner_families,
        "contexts": by_ctx.len(),
        "items": key.items.len(),
        "tasks": tasks.len(),
        "neutralised_annotations": neutralised,
        "max_annotation_chars": blind::MAX_ANNOTATION,
        "integrity": integrity,
        "tasks_sha256": sha256_bytes(lines.as_bytes()),
        "key_sha256": sha256_bytes(key_json.as_bytes()),
    });
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("{}: cannot create", a.out.display()))?;
    write_atomic(&a.out.join("tasks.jsonl"), lines.as_bytes())?;
    write_atomic(&a.out.join("key.json"), key_json.as_bytes())?;
    write_atomic(
        &a.out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )?;
    Ok(BlindOutcome {
        out: a.out.clone(),
        tasks: tasks.len(),
        items: key.items.len(),
        contexts: by_ctx.len(),
        strategies: all.len(),
        key_sha256: manifest["key_sha256"].as_str().unwrap_or("").to_string(),
    })
}

/// Load a tasks folder (tasks only: the key stays closed until the answers are in).
pub fn load_tasks(dir: &Path) -> Result<(Vec<Task>, Value)> {
    let mpath = dir.join("manifest.json");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(&mpath)
            .with_context(|| format!("{}: cannot read", mpath.display()))?,
    )
    .with_context(|| format!("{}: not JSON", mpath.display()))?;
    let tpath = dir.join("tasks.jsonl");
    let text = std::fs::read_to_string(&tpath)
        .with_context(|| format!("{}: cannot read", tpath.display()))?;
    if manifest["tasks_sha256"].as_str() != Some(sha256_bytes(text.as_bytes()).as_str()) {
        bail!(
            "{}: sha256 differs from manifest.json (the tasks were edited after blinding)",
            tpath.display()
        );
    }
    let tasks = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| anyhow::anyhow!("{}: line {}: {e}", tpath.display(), i + 1))
        })
        .collect::<Result<Vec<Task>>>()?;
    Ok((tasks, manifest))
}

pub(crate) fn load_key(dir: &Path, manifest: &Value) -> Result<Key> {
    let kpath = dir.join("key.json");
    let text = std::fs::read_to_string(&kpath)
        .with_context(|| format!("{}: cannot read", kpath.display()))?;
    if manifest["key_sha256"].as_str() != Some(sha256_bytes(text.as_bytes()).as_str()) {
        bail!(
            "{}: sha256 differs from the hash recorded at blinding",
            kpath.display()
        );
    }
    Ok(serde_json::from_str(&text)?)
}

/// The two messages of a judge request for a task.
pub fn judge_request(system: &str, user_template: &str, t: &Task) -> Result<ChatRequest> {
    let user = prompt::render(
        prompt::JUDGE_PAIRWISE,
        user_template,
        &json!({"pathway": t.pathway, "a": t.a, "b": t.b}),
    )?;
    Ok(ChatRequest {
        messages: vec![
            Message::system(system.trim_end()),
            Message::user(user.trim_end()),
        ],
        schema: Some(verdict::schema()),
        sample: 0,
    })
}

/// One judge's reading of one task, un-blinded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub task: String,
    pub item: String,
    pub context: String,
    pub order: String,
    pub judge: String,
    pub strategy_a: String,
    pub strategy_b: String,
    pub winner: Option<Label>,
    pub failure: Option<Failure>,
    pub reason: Option<String>,
    pub request: String,
}

/// The trajectory of a context `screen|pathway|seedK|roundR`: the context without its round
/// (the rounds of one seed share batches; seeds are independent).
pub fn trajectory_of(context: &str) -> &str {
    match context.rsplit_once('|') {
        Some((head, last)) if last.starts_with("round") => head,
        _ => context,
    }
}

/// The round of a context `…|roundR` (None for another form).
pub fn round_of(context: &str) -> Option<u64> {
    context
        .rsplit('|')
        .next()?
        .strip_prefix("round")?
        .parse()
        .ok()
}

/// Read a judge run's `judgements.jsonl` (`None` when the file is absent); errors name the file
/// and line.
pub fn read_judgements(path: &Path) -> Result<Option<Vec<Judgement>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => bail!("{}: cannot read: {e}", path.display()),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| anyhow::anyhow!("{}: line {}: {e}", path.display(), i + 1))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// The reason recorded for a tie between identical batches (no judge was asked).
pub const IDENTICAL: &str = "identical batches: a tie by construction, no judge asked";

/// Ask every judge both orders of every item; write verdicts, judgements and the manifest.
/// Items whose two batches hold the same genes are recorded as ties without a call.
pub fn judge(a: &JudgeSpec, progress: &dyn Progress) -> Result<JudgeOutcome> {
    let (tasks, manifest) = load_tasks(&a.tasks)?;
    if a.judges.is_empty() {
        bail!("give at least one --judges model file");
    }
    let judges: Vec<ModelConfig> = a
        .judges
        .iter()
        .map(|p| ModelConfig::load(p))
        .collect::<Result<_>>()?;
    let (system, system_src) = prompt::template_text(a.prompts.as_deref(), prompt::JUDGE_SYSTEM)?;
    let (user_t, user_src) = prompt::template_text(a.prompts.as_deref(), prompt::JUDGE_PAIRWISE)?;
    let system = prompt::render(prompt::JUDGE_SYSTEM, &system, &json!({}))?;
    let repeats = a.repeats.max(1);
    if repeats > 1 {
        if let Some(j) = judges.iter().find(|j| j.temperature <= 0.0) {
            bail!(
                "--repeats {repeats}: judge {} has temperature {}, so every trial would repeat one answer; give it a temperature > 0 in its model file",
                j.name,
                j.temperature
            );
        }
    }
    let paraphrase_t = if a.paraphrase {
        Some(prompt::template_text(
            a.prompts.as_deref(),
            prompt::JUDGE_PARAPHRASE,
        )?)
    } else {
        None
    };
    // Identical batches (the same genes from two strategies) are a tie by construction: no
    // judge is asked, and the tie is recorded as such.
    let identical = |t: &Task| {
        let set = |b: &BlindBatch| -> BTreeSet<String> {
            b.genes.iter().map(|g| g.symbol.clone()).collect()
        };
        set(&t.a) == set(&t.b)
    };
    let mut jobs = Vec::new();
    // The task index of every job, in job order.
    let mut slots = Vec::new();
    for (ti, t) in tasks.iter().enumerate() {
        if identical(t) {
            continue;
        }
        let req = judge_request(&system, &user_t, t)?;
        for j in &judges {
            jobs.push(Job {
                endpoint: j.name.clone(),
                request: req.clone(),
                tag: format!("{}/{}", t.task, j.name),
            });
            slots.push(ti);
        }
    }
    // Extra trials after the verdicts (so the verdicts' ledger order is unchanged): (job,
    // task index, trial, template).
    let primary = jobs.len();
    let mut extra: Vec<(usize, u32, &'static str)> = Vec::new();
    for (ti, t) in tasks.iter().enumerate() {
        if identical(t) {
            continue;
        }
        let req = judge_request(&system, &user_t, t)?;
        for k in 1..repeats as u32 {
            for j in &judges {
                let mut r = req.clone();
                r.sample = k;
                jobs.push(Job {
                    endpoint: j.name.clone(),
                    request: r,
                    tag: format!("{}/{}/trial{k}", t.task, j.name),
                });
                extra.push((ti, k, "original"));
            }
        }
        if let Some((text, _)) = &paraphrase_t {
            let user = prompt::render(
                prompt::JUDGE_PARAPHRASE,
                text,
                &json!({"pathway": t.pathway, "a": t.a, "b": t.b}),
            )?;
            let r = ChatRequest {
                messages: vec![
                    Message::system(system.trim_end()),
                    Message::user(user.trim_end()),
                ],
                schema: Some(verdict::schema()),
                sample: 0,
            };
            for j in &judges {
                jobs.push(Job {
                    endpoint: j.name.clone(),
                    request: r.clone(),
                    tag: format!("{}/{}/paraphrase", t.task, j.name),
                });
                extra.push((ti, 0, "paraphrase"));
            }
        }
    }
    let _run_lock = crate::data::runlock::RunLock::acquire(&a.run)?;
    let ledger = Arc::new(Ledger::open(a.ledger.as_ref().unwrap_or(&a.run))?);
    let client = Client::new(
        ledger.clone(),
        &judges,
        ClientOptions {
            cost_cap_usd: a.cost_cap,
            replay: a.replay.clone(),
            seed: a.seed,
        },
    )?;
    progress.phase("judge", jobs.len() as u64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let answers = if a.one_at_a_time {
        let mut out = Vec::with_capacity(jobs.len());
        for j in &jobs {
            out.push(rt.block_on(client.complete(&j.endpoint, &j.request, &j.tag))?);
            progress.inc(1);
        }
        out
    } else {
        rt.block_on(client.complete_all(&jobs, |_| progress.inc(1)))?
    };
    progress.done();

    // Every answer is in: open the key.
    let key = load_key(&a.tasks, &manifest)?;
    let strategy = |id: &str| {
        key.batches
            .get(id)
            .map(|(_, s)| s.clone())
            .with_context(|| format!("batch {id} is not in the key"))
    };
    let mut rows = Vec::new();
    // One judgement row of task `t` by `judge`, un-blinded through the key.
    let judgement =
        |t: &Task, judge: &str, r: verdict::Reading, request: String| -> Result<Judgement> {
            Ok(Judgement {
                task: t.task.clone(),
                item: t.item.clone(),
                context: key.items.get(&t.item).cloned().unwrap_or_default(),
                order: t.order.clone(),
                judge: judge.to_string(),
                strategy_a: strategy(&t.a.id)?,
                strategy_b: strategy(&t.b.id)?,
                winner: r.label,
                failure: r.failure,
                reason: r.reason,
                request,
            })
        };
    for t in tasks.iter().filter(|t| identical(t)) {
        for j in &judges {
            let tie = verdict::Reading {
                label: Some(Label::Tie),
                failure: None,
                reason: Some(IDENTICAL.to_string()),
            };
            rows.push(judgement(t, &j.name, tie, String::new())?);
        }
    }
    // Every trial, the verdict's among them, when there is more than one per task.
    let mut trial_rows = Vec::new();
    if repeats > 1 || a.paraphrase {
        let all = slots
            .iter()
            .map(|&ti| (ti, 0u32, "original"))
            .chain(extra.iter().copied());
        for ((job, ans), (ti, k, template)) in jobs.iter().zip(&answers).zip(all) {
            let r = judgement(
                &tasks[ti],
                &job.endpoint,
                verdict::read(&ans.exchange),
                String::new(),
            )?;
            trial_rows.push(crate::data::rows::TrialRow {
                item: r.item,
                judge: r.judge,
                order: r.order,
                trial: k,
                template: template.to_string(),
                strategy_a: r.strategy_a,
                strategy_b: r.strategy_b,
                winner: match r.winner {
                    Some(Label::A) => "A",
                    Some(Label::B) => "B",
                    Some(Label::Tie) => "tie",
                    None => "failure",
                }
                .to_string(),
            });
        }
        trial_rows.sort_by(|x, y| {
            (&x.item, &x.judge, &x.order, &x.template, x.trial).cmp(&(
                &y.item,
                &y.judge,
                &y.order,
                &y.template,
                y.trial,
            ))
        });
    }
    for ((job, ans), &ti) in jobs[..primary].iter().zip(&answers).zip(&slots) {
        rows.push(judgement(
            &tasks[ti],
            &job.endpoint,
            verdict::read(&ans.exchange),
            ans.exchange.request.clone(),
        )?);
    }
    rows.sort_by(|x, y| (&x.item, &x.judge, &x.order).cmp(&(&y.item, &y.judge, &y.order)));
    let mut verdict_rows = Vec::with_capacity(rows.len());
    let mut jl = String::new();
    for r in &rows {
        let w = match (r.winner, r.failure) {
            (Some(Label::A), _) => "A",
            (Some(Label::B), _) => "B",
            (Some(Label::Tie), _) => "tie",
            (None, _) => "failure",
        };
        verdict_rows.push(VerdictRow {
            item: r.item.clone(),
            judge: r.judge.clone(),
            order: r.order.clone(),
            strategy_a: r.strategy_a.clone(),
            strategy_b: r.strategy_b.clone(),
            winner: w.to_string(),
            trajectory: Some(trajectory_of(&r.context).to_string()),
            context: Some(r.context.clone()),
        });
        jl.push_str(&serde_json::to_string(r)?);
        jl.push('\n');
    }
    // The planner's family: given, or recorded from the plan runs' LLM model files at blinding.
    let planner_families: BTreeSet<String> = match &a.planner_family {
        Some(f) => [f.to_ascii_lowercase()].into(),
        None => manifest["planner_families"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect(),
    };
    let flagged: Vec<String> = judges
        .iter()
        .filter(|j| {
            !j.family.is_empty() && planner_families.contains(&j.family.to_ascii_lowercase())
        })
        .map(|j| j.name.clone())
        .collect();
    let mut failures: BTreeMap<String, BTreeMap<&str, usize>> = BTreeMap::new();
    for r in &rows {
        let e = failures.entry(r.judge.clone()).or_default();
        *e.entry(r.failure.map_or("verdict", Failure::as_str))
            .or_default() += 1;
    }
    let judge_manifest = JudgeManifest {
        command: "judge".into(),
        tool: ToolInfo {
            name: "pertaudit".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        tasks: TasksRef {
            path: a.tasks.display().to_string(),
            manifest_sha256: sha256_bytes(canonical_json(&manifest).as_bytes()),
            tasks_sha256: manifest["tasks_sha256"].as_str().map(str::to_string),
            key_sha256: manifest["key_sha256"].as_str().map(str::to_string),
            count: tasks.len(),
        },
        templates: Templates {
            system: TemplateRef {
                source: system_src,
                sha256: sha256_bytes(system.as_bytes()),
            },
            pairwise: TemplateRef {
                source: user_src,
                sha256: sha256_bytes(user_t.as_bytes()),
            },
            paraphrase: paraphrase_t.as_ref().map(|(text, src)| TemplateRef {
                source: src.clone(),
                sha256: sha256_bytes(text.as_bytes()),
            }),
        },
        judges: judges
            .iter()
            .map(|j| JudgeInfo {
                name: j.name.clone(),
                provider: j.provider.as_str().to_string(),
                model: j.model.clone(),
                family: j.family.clone(),
                temperature: j.temperature,
                max_tokens: j.max_tokens,
                seed: j.seed,
                self_preference_flag: flagged.contains(&j.name),
            })
            .collect(),
        planner_families,
        flagged_judges: flagged.clone(),
        outcomes: failures
            .iter()
            .map(|(j, m)| {
                (
                    j.clone(),
                    m.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                )
            })
            .collect(),
        ledger_head: ledger.head(),
        repeats,
    };
    write_csv(&a.run.join("verdicts.csv"), &verdict_rows)?;
    if !trial_rows.is_empty() {
        write_csv(&a.run.join("trials.csv"), &trial_rows)?;
    }
    write_atomic(&a.run.join("judgements.jsonl"), jl.as_bytes())?;
    write_atomic(
        &a.run.join("judge_manifest.json"),
        serde_json::to_string_pretty(&judge_manifest)?.as_bytes(),
    )?;
    let cached = answers.iter().filter(|x| x.cached).count();
    Ok(JudgeOutcome {
        run: a.run.clone(),
        judgements: rows.len(),
        tasks: tasks.len(),
        judges: judges.len(),
        cached,
        outcomes: failures
            .iter()
            .map(|(j, m)| {
                (
                    j.clone(),
                    m.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                )
            })
            .collect(),
        flagged,
    })
}
