//! The LLM-guided two-stage planner. Stage 1 shortlists the `factor × batch` pool candidates
//! with the highest ensemble mutual information; stage 2 asks an LLM (through the client, cache
//! and ledger) to choose exactly `batch` of them with pathway context, annotations and explicit
//! diversity criteria, one rationale per pick. Bad answers are re-prompted with the specific
//! error (bounded), then the uncertainty order is used and the fallback recorded.
//!
//! Seven arms ([`Arm`]): `llm` (full context and the measured outcomes of acquired knock-downs),
//! the memorisation controls `llm-masked` (every gene only as a stable opaque ID: symbols,
//! aliases, database ids and full names hidden; annotation content kept), `llm-names` (symbols
//! hidden, full names kept), `llm-symbols` (no annotations), `llm-shuffled` (annotations,
//! stripped of every candidate's names, shuffled across candidates), and the feedback controls
//! `llm-permuted` (outcomes permuted across the acquired genes) and `llm-zeroshot` (no outcomes).
//! Every masked or shuffled prompt is leak-checked before it is sent ([`LeakError`]). On a
//! named backbone an arm is `ARM@STEM`; `--llm-samples` draws more answers per state; the
//! de-masking probe asks the model to name the gene behind each ID.

pub mod ablation;
pub mod mask;

use crate::data::annotation::Annotations;
use crate::data::network::Network;
use crate::llm::{ChatRequest, Client, Message, Status};
use crate::numeric::seed::stream;
use crate::planner::strategy::{AcquisitionContext, Pick, Selection, Strategy, StrategyError};
use mask::Masker;
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub use crate::llm::prompt::RERANK;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// Symbols, annotations, network neighbours and measured outcomes.
    Full,
    /// Every gene shown only as an opaque ID: symbols, aliases, database ids and full names
    /// hidden; annotation content kept.
    Masked,
    /// Symbols only: no annotations or neighbours.
    SymbolsOnly,
    /// Annotations shuffled across candidates, each stripped of every candidate's names first.
    Shuffled,
    /// Symbols hidden behind IDs, full names kept (separates symbol from name memorisation).
    Names,
    /// The measured outcomes shown are permuted across the acquired genes (a feedback control).
    Permuted,
    /// No measured outcomes shown at all (zero-shot; a feedback control).
    Zeroshot,
}

impl Arm {
    pub const ALL: [Arm; 7] = [
        Arm::Full,
        Arm::Masked,
        Arm::SymbolsOnly,
        Arm::Shuffled,
        Arm::Names,
        Arm::Permuted,
        Arm::Zeroshot,
    ];

    pub fn strategy(self) -> &'static str {
        match self {
            Arm::Full => "llm",
            Arm::Masked => "llm-masked",
            Arm::SymbolsOnly => "llm-symbols",
            Arm::Shuffled => "llm-shuffled",
            Arm::Names => "llm-names",
            Arm::Permuted => "llm-permuted",
            Arm::Zeroshot => "llm-zeroshot",
        }
    }

    pub fn from_strategy(name: &str) -> Option<Arm> {
        Arm::ALL.into_iter().find(|a| a.strategy() == name)
    }

    /// What the arm's masker hides (None: genes are shown by symbol).
    pub fn hides(self) -> Option<mask::Hide> {
        match self {
            Arm::Masked => Some(mask::Hide::Identity),
            Arm::Names => Some(mask::Hide::Symbols),
            _ => None,
        }
    }
}

/// What a prompt is made from: annotations, network, the template, the masking seed.
pub struct PromptKit {
    pub annotations: Arc<Annotations>,
    pub network: Option<Arc<Network>>,
    pub template: String,
    /// Seed of the masking IDs and the annotation shuffle.
    pub seed: u64,
}

/// Everything the LLM strategies share within one plan run.
pub struct LlmSetup {
    pub kit: PromptKit,
    pub client: Arc<Client>,
    /// The model file's name in the client.
    pub endpoint: String,
    pub handle: tokio::runtime::Handle,
    /// Shortlist size = factor × batch.
    pub factor: usize,
    /// Re-prompts after a bad answer before the fallback.
    pub reprompts: usize,
    /// Ask for one gene per call (always a distinct, shortlisted gene; suits small models and
    /// servers that reuse the KV cache) instead of the whole batch in one call.
    pub sequential: bool,
    /// Ask the de-masking probe in every identity-hiding round (`ablate --probe`).
    pub probe: bool,
    /// Answers per state (`--llm-samples K`; 1 = just the one acted on).
    pub samples: usize,
}

/// The round as the re-ranker sees it (pure data: snapshot-testable).
pub struct RerankInput<'a> {
    pub pathway: &'a crate::data::pathway::GeneSet,
    /// Measured targets, in measurement order.
    pub measured: Vec<String>,
    /// The shortlist: (target symbol, mutual information), in uncertainty order.
    pub candidates: Vec<(String, f64)>,
    pub batch: usize,
    pub seed: u64,
    pub round: usize,
    /// The model's out-of-bag scores on the measured knock-downs (never the test set).
    pub pearson_delta: f64,
    pub top20_pearson: f64,
    /// Sequential mode: ask for one gene at a time; `chosen` holds the picks so far
    /// (symbol, rationale) and the schema's enum leaves them out.
    pub sequential: bool,
    pub chosen: Vec<(String, String)>,
    /// Measured outcomes of acquired knock-downs (training rows only), as shown.
    pub outcomes: Vec<Outcome>,
}

/// One acquired knock-down's measured outcome, as the planner is shown it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub gene: String,
    /// Percentile (0–100) of the response's size (L2 norm) among the measured knock-downs.
    pub strength: f64,
    /// Pearson correlation of the response with the centroid (mean response) of the measured
    /// pathway members (NaN when none is measured).
    pub likeness: f64,
}

pub struct LlmPlanner {
    arm: Arm,
    /// The strategy's name (`llm-masked`, or `llm-masked@stem` on a named backbone): the name
    /// its records and ledger tags carry.
    name: &'static str,
    setup: Arc<LlmSetup>,
}

impl LlmPlanner {
    pub fn new(arm: Arm, name: &'static str, setup: Arc<LlmSetup>) -> LlmPlanner {
        LlmPlanner { arm, name, setup }
    }
}

/// A shortlisted candidate as the prompt shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    pub id: String,
    pub annotation: String,
    pub neighbours: Vec<String>,
    pub uncertainty: String,
}

/// The rendered request and how to read its answer.
#[derive(Debug)]
pub struct Prompt {
    pub system: String,
    pub user: String,
    /// Shown id → position in the shortlist.
    pub ids: BTreeMap<String, usize>,
    pub schema: Value,
    /// Symbols of every gene named in the prompt.
    pub in_scope: Vec<String>,
    /// Shown id → symbol, for every shortlisted candidate.
    pub shown: BTreeMap<String, String>,
    /// Leak checks this prompt passed (0 for arms that show symbols openly).
    pub checks: usize,
}

/// A prompt that would have named a hidden gene: refused, never sent.
#[derive(Debug, Clone, PartialEq)]
pub struct LeakError {
    pub arm: &'static str,
    pub leaks: Vec<String>,
}

impl std::fmt::Display for LeakError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} prompt refused before sending: it still names {}",
            self.arm,
            self.leaks.join(", ")
        )
    }
}

impl std::error::Error for LeakError {}

fn fmt3(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "n/a".into()
    }
}

/// The raw context line of a gene (its table identity prefix "SYMBOL: name." included).
fn raw_annotation(ann: &Annotations, symbol: &str) -> String {
    ann.context
        .get(symbol)
        .cloned()
        .unwrap_or_else(|| "no annotation available".to_string())
}

/// The context line without its leading identity ("SYMBOL: full name. "), when it has one.
fn without_identity(ann: &Annotations, symbol: &str, line: &str) -> String {
    let name = ann.genes.get(symbol).map(|g| g.name.as_str()).unwrap_or("");
    let mut prefixes = vec![format!("{symbol}: ")];
    if !name.is_empty() {
        prefixes.insert(0, format!("{symbol}: {name}."));
    }
    for p in prefixes {
        if let Some(rest) = line.strip_prefix(p.as_str()) {
            return rest.trim_start().to_string();
        }
    }
    line.to_string()
}

/// An annotation as shown: neutralised (no template or role markup) and cut to 200 characters.
fn shown_annotation(text: &str) -> String {
    let (clean, _) = crate::llm::prompt::neutralise(text);
    if clean.chars().count() > 200 {
        format!("{}…", clean.chars().take(200).collect::<String>())
    } else {
        clean
    }
}

fn fmt_likeness(x: f64) -> String {
    if x.is_finite() {
        format!("{x:+.2}")
    } else {
        "n/a".into()
    }
}

/// Official symbols of the gene table named in free text (vocabulary words are not mentions).
fn mentioned(ann: &Annotations, text: &str, out: &mut Vec<String>) {
    for (_, t) in crate::data::annotation::tokens(text) {
        if ann.genes.contains_key(t) && !ann.vocabulary.contains(t) {
            out.push(t.to_string());
        }
    }
}

/// Build the prompt of one arm for one round. Masked arms rewrite only the gene-bearing
/// values (never the template), then every masked or shuffled prompt is leak-checked: a leak
/// is a [`LeakError`] and nothing is sent.
pub fn build_prompt(arm: Arm, kit: &PromptKit, input: &RerankInput) -> anyhow::Result<Prompt> {
    let ann = &kit.annotations;
    let members: BTreeSet<&str> = input.pathway.genes.iter().map(|g| g.as_str()).collect();
    let measured = &input.measured;
    let mut measured_members: Vec<String> = measured
        .iter()
        .filter(|g| members.contains(g.as_str()))
        .cloned()
        .collect();
    measured_members.sort();
    measured_members.dedup();
    let symbols: Vec<String> = input.candidates.iter().map(|(s, _)| s.clone()).collect();
    let mut candidates: Vec<Shown> = input
        .candidates
        .iter()
        .map(|(s, mi)| {
            let neighbours: Vec<String> = kit
                .network
                .as_ref()
                .map(|n| {
                    let mut v: Vec<(&str, f64)> = n
                        .neighbours(s)
                        .filter(|(g, _)| members.contains(*g))
                        .collect();
                    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
                    v.into_iter().take(5).map(|(g, _)| g.to_string()).collect()
                })
                .unwrap_or_default();
            let raw = raw_annotation(ann, s);
            Shown {
                id: s.clone(),
                annotation: match arm {
                    Arm::Masked | Arm::Shuffled => without_identity(ann, s, &raw),
                    _ => raw,
                },
                neighbours,
                uncertainty: fmt3(*mi),
            }
        })
        .collect();
    let mut outcomes = input.outcomes.clone();
    let mut checks = 0;
    match arm {
        Arm::SymbolsOnly => {
            for c in &mut candidates {
                c.annotation.clear();
                c.neighbours.clear();
            }
        }
        Arm::Shuffled => {
            // Strip every candidate's names from every annotation, then shuffle the bundles;
            // a neighbour list never names the candidate it is shown with.
            let strip = Masker::new(&symbols, ann, kit.seed, mask::Hide::Identity);
            let mut bundles: Vec<(String, Vec<String>)> = candidates
                .iter()
                .map(|c| {
                    (
                        strip.replace_all(&c.annotation, "(gene name removed)"),
                        c.neighbours.clone(),
                    )
                })
                .collect();
            bundles.shuffle(&mut stream(
                kit.seed,
                &format!("llm/shuffle/seed{}/round{}", input.seed, input.round),
            ));
            for (c, (a, n)) in candidates.iter_mut().zip(bundles) {
                c.annotation = a;
                c.neighbours = n.into_iter().filter(|g| *g != c.id).collect();
            }
            // The check: no candidate's annotation or neighbours name any candidate.
            for c in &candidates {
                let own = Masker::new(
                    std::slice::from_ref(&c.id),
                    ann,
                    kit.seed,
                    mask::Hide::Identity,
                );
                let leaks = strip.leaks(&c.annotation);
                let own_nb: Vec<String> = c
                    .neighbours
                    .iter()
                    .flat_map(|n| own.leaks(n))
                    .map(|l| l.to_string())
                    .collect();
                if !leaks.is_empty() || !own_nb.is_empty() {
                    return Err(LeakError {
                        arm: arm.strategy(),
                        leaks: leaks.iter().map(|l| l.to_string()).chain(own_nb).collect(),
                    }
                    .into());
                }
            }
            checks += 1;
        }
        Arm::Permuted => {
            let mut values: Vec<(f64, f64)> =
                outcomes.iter().map(|o| (o.strength, o.likeness)).collect();
            values.shuffle(&mut stream(
                kit.seed,
                &format!("llm/permute/seed{}/round{}", input.seed, input.round),
            ));
            for (o, (s, l)) in outcomes.iter_mut().zip(values) {
                o.strength = s;
                o.likeness = l;
            }
        }
        Arm::Zeroshot => outcomes.clear(),
        Arm::Full | Arm::Masked | Arm::Names => {}
    }
    // Shown in a seeded random order (the same for every arm and every pick of a round), so
    // the list's order does not tell the model the uncertainty ranking.
    let mut shown_order: Vec<usize> = (0..candidates.len()).collect();
    shown_order.shuffle(&mut stream(
        kit.seed,
        &format!("llm/order/seed{}/round{}", input.seed, input.round),
    ));
    let mut candidates: Vec<Shown> = shown_order.iter().map(|&i| candidates[i].clone()).collect();
    let recent: Vec<String> = measured.iter().rev().take(24).cloned().collect();
    let mut description = if input.pathway.description.starts_with("http") {
        String::new()
    } else {
        input.pathway.description.clone()
    };
    let mut pathway_name = input.pathway.name.clone();
    let mut pathway_members: Vec<String> = input.pathway.genes.clone();
    pathway_members.sort();
    pathway_members.dedup();
    let mut chosen: Vec<(String, String)> = input.chosen.clone();

    // Every gene the prompt names.
    let mut in_scope: Vec<String> = pathway_members.clone();
    in_scope.extend(measured.iter().cloned());
    in_scope.extend(outcomes.iter().map(|o| o.gene.clone()));
    for c in &candidates {
        in_scope.push(c.id.clone());
        in_scope.extend(c.neighbours.iter().cloned());
    }
    in_scope.extend(chosen.iter().map(|(g, _)| g.clone()));
    let mut recent = recent;
    let mut ids: BTreeMap<String, usize> = input
        .candidates
        .iter()
        .enumerate()
        .map(|(i, (s, _))| (s.clone(), i))
        .collect();
    let masker = arm.hides().map(|hide| {
        // Genes named in free text (an annotation, the description) are in scope too.
        for c in &candidates {
            mentioned(ann, &c.annotation, &mut in_scope);
        }
        mentioned(ann, &description, &mut in_scope);
        mentioned(ann, &pathway_name, &mut in_scope);
        for (_, r) in &chosen {
            mentioned(ann, r, &mut in_scope);
        }
        in_scope.sort();
        in_scope.dedup();
        Masker::new(&in_scope, ann, kit.seed, hide)
    });
    in_scope.sort();
    in_scope.dedup();
    if let Some(m) = &masker {
        let id = |g: &String| m.id(g).expect("in scope").to_string();
        let ids_of = |v: &mut Vec<String>| {
            for g in v.iter_mut() {
                *g = id(g);
            }
        };
        ids_of(&mut pathway_members);
        ids_of(&mut measured_members);
        ids_of(&mut recent);
        for o in &mut outcomes {
            o.gene = id(&o.gene);
        }
        for c in &mut candidates {
            c.id = id(&c.id);
            c.annotation = m.mask(&c.annotation);
            ids_of(&mut c.neighbours);
        }
        for (g, r) in &mut chosen {
            *g = id(g);
            // The model's own rationale: names masked, and an ID it mangled is no gene's.
            *r = m.replace_unknown_ids(&m.mask(r), "(unknown ID)");
        }
        description = m.mask(&description);
        pathway_name = m.mask(&pathway_name);
        ids = ids.into_iter().map(|(s, p)| (id(&s), p)).collect();
    }
    for c in &mut candidates {
        c.annotation = shown_annotation(&c.annotation);
    }
    let shown: BTreeMap<String, String> = ids
        .iter()
        .map(|(k, &p)| (k.clone(), input.candidates[p].0.clone()))
        .collect();
    let vars = json!({
        "pathway": {"name": pathway_name, "description": description, "members": pathway_members,
                    "measured_members": measured_members},
        "measured": {"count": measured.len(), "recent": recent},
        "performance": {"pearson_delta": fmt3(input.pearson_delta), "top20_pearson": fmt3(input.top20_pearson)},
        "show_performance": arm != Arm::Zeroshot,
        "outcomes": outcomes.iter().map(|o| json!({
            "gene": o.gene, "strength": format!("{:.0}", o.strength), "likeness": fmt_likeness(o.likeness)})).collect::<Vec<_>>(),
        "candidates": candidates,
        "batch": input.batch,
        "shortlist": input.candidates.len(),
        "show_annotations": arm != Arm::SymbolsOnly,
        "sequential": input.sequential,
        "chosen": chosen.iter().map(|(g, r)| json!({"id": g, "rationale": r})).collect::<Vec<_>>(),
    });
    let text = crate::llm::prompt::render(RERANK, &kit.template, &vars)?;
    let (system, user) = match text.split_once("\n---\n") {
        Some((s, u)) => (s.trim().to_string(), u.trim().to_string()),
        None => (String::new(), text.trim().to_string()),
    };
    if let Some(m) = &masker {
        // Every gene-bearing value strictly; the rendered text for names the template itself
        // does not contain (a template word such as "DE" may equal some gene's alias).
        let mut values: Vec<&str> = vec![&description, &pathway_name];
        for c in &candidates {
            values.push(&c.annotation);
        }
        for (_, r) in &chosen {
            values.push(r);
        }
        // A hidden gene's own symbol written into a template is a leak all the same.
        let template_words: BTreeSet<String> = m
            .leaks(&kit.template)
            .into_iter()
            .filter(|l| l.name != l.gene)
            .map(|l| l.name)
            .collect();
        let mut leaks: BTreeSet<String> = values
            .iter()
            .flat_map(|v| m.leaks(v))
            .map(|l| l.to_string())
            .collect();
        let rendered = format!("{system}\n{user}");
        leaks.extend(
            m.leaks(&rendered)
                .into_iter()
                .filter(|l| !template_words.contains(&l.name))
                .map(|l| l.to_string()),
        );
        leaks.extend(
            m.unknown_ids(&rendered)
                .into_iter()
                .map(|i| format!("{i} (an ID of no gene in scope)")),
        );
        if !leaks.is_empty() {
            return Err(LeakError {
                arm: arm.strategy(),
                leaks: leaks.into_iter().collect(),
            }
            .into());
        }
        checks += 1;
    }
    // The enum in the order the prompt lists the candidates.
    let position: BTreeMap<usize, usize> = shown_order
        .iter()
        .enumerate()
        .map(|(pos, &i)| (i, pos))
        .collect();
    let mut enum_ids: Vec<&String> = ids.keys().collect();
    enum_ids.sort_by_key(|k| position[&ids[*k]]);
    let schema = if input.sequential {
        // One gene, from those not chosen yet.
        let chosen: BTreeSet<usize> = input
            .chosen
            .iter()
            .filter_map(|(g, _)| input.candidates.iter().position(|(c, _)| c == g))
            .collect();
        let remaining: Vec<&String> = enum_ids
            .iter()
            .copied()
            .filter(|k| !chosen.contains(&ids[*k]))
            .collect();
        json!({"name": "pick", "schema": {
            "type": "object",
            "properties": {"gene": {"type": "string", "enum": remaining},
                           "rationale": {"type": "string", "maxLength": 100}},
            "required": ["gene", "rationale"], "additionalProperties": false}})
    } else {
        json!({"name": "picks", "schema": {
            "type": "object",
            "properties": {"picks": {"type": "array", "minItems": input.batch, "maxItems": input.batch, "items": {
                "type": "object",
                "properties": {"gene": {"type": "string", "enum": enum_ids},
                               "rationale": {"type": "string", "maxLength": 100}},
                "required": ["gene", "rationale"], "additionalProperties": false}}},
            "required": ["picks"], "additionalProperties": false}})
    };
    Ok(Prompt {
        system,
        user,
        ids,
        schema,
        in_scope,
        shown,
        checks,
    })
}

/// Check an answer: only shortlisted genes, no duplicates, exactly `batch`. Returns the picks
/// (pool positions with rationales) or the specific error to re-prompt with.
pub fn validate(
    text: &str,
    ids: &BTreeMap<String, usize>,
    batch: usize,
) -> Result<Vec<(usize, String)>, String> {
    let start = text.find('{');
    let v: Value = start
        .and_then(|s| serde_json::from_str(text[s..].trim()).ok())
        .or_else(|| serde_json::from_str(text.trim()).ok())
        .ok_or_else(|| {
            "the answer is not a JSON object of the form {\"picks\": [{\"gene\", \"rationale\"}, …]}"
                .to_string()
        })?;
    let picks = v
        .get("picks")
        .and_then(Value::as_array)
        .ok_or("the JSON object has no `picks` array")?;
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut unknown = Vec::new();
    let mut dups = Vec::new();
    for p in picks {
        let g = p
            .get("gene")
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or("");
        let Some(&pos) = ids.get(g) else {
            unknown.push(g.to_string());
            continue;
        };
        if !seen.insert(g.to_string()) {
            dups.push(g.to_string());
            continue;
        }
        let r = p
            .get("rationale")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string();
        out.push((pos, r));
    }
    if !unknown.is_empty() {
        return Err(format!(
            "not in the shortlist: {}; choose only from the shortlist",
            unknown.join(", ")
        ));
    }
    if !dups.is_empty() {
        return Err(format!("chosen more than once: {}", dups.join(", ")));
    }
    if out.len() != batch {
        return Err(format!(
            "{} genes chosen; exactly {batch} are needed",
            out.len()
        ));
    }
    Ok(out)
}

impl Strategy for LlmPlanner {
    fn name(&self) -> &str {
        self.name
    }

    fn select(
        &mut self,
        ctx: &AcquisitionContext,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Selection, StrategyError> {
        let setup = &self.setup;
        // Stage 1: the shortlist by ensemble mutual information (ties by pool order).
        let mut order: Vec<usize> = (0..ctx.pool.len()).collect();
        order.sort_by(|&a, &b| {
            ctx.uncertainty[b]
                .mutual_information
                .total_cmp(&ctx.uncertainty[a].mutual_information)
                .then(a.cmp(&b))
        });
        let m = (setup.factor * ctx.batch).min(order.len());
        let shortlist: Vec<usize> = order[..m].to_vec();
        if shortlist.len() <= ctx.batch {
            return Ok(Selection {
                picks: shortlist
                    .iter()
                    .map(|&p| fallback_pick(ctx, p, 0))
                    .collect(),
                notes: vec!["the pool is no larger than the batch: all taken".into()],
                alternatives: Vec::new(),
            });
        }
        // Stage 2: the LLM re-ranks.
        let input = RerankInput {
            pathway: ctx.pathway,
            measured: ctx
                .train
                .iter()
                .map(|&i| ctx.screen.targets[i].clone())
                .collect(),
            candidates: shortlist
                .iter()
                .map(|&p| {
                    (
                        ctx.screen.targets[ctx.pool[p]].clone(),
                        ctx.uncertainty[p].mutual_information,
                    )
                })
                .collect(),
            batch: ctx.batch,
            seed: ctx.seed,
            round: ctx.round,
            pearson_delta: ctx.measured.get().pearson_delta,
            top20_pearson: ctx.measured.get().top20_pearson,
            sequential: setup.sequential,
            chosen: Vec::new(),
            outcomes: measured_outcomes(ctx),
        };
        let mut tally = Tally::default();
        let mut selection = if setup.sequential {
            self.select_sequential(ctx, &shortlist, input, &mut tally)?
        } else {
            self.select_batch(ctx, &shortlist, &input, &mut tally)?
        };
        for p in &mut selection.picks {
            tally.record(&mut p.details);
        }
        Ok(selection)
    }
}

/// Per-round counts kept on every pick of the round: leak checks passed, answers received and
/// rejected, gene names in answers and those not on the shortlist (hallucinated or invalid),
/// and the de-masking probe's questions and recoveries.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    /// Valid batches among the `--llm-samples` answers (the first included; 0 when not asked).
    samples: usize,
    sample_jaccard: f64,
    leak_checks: usize,
    answers: usize,
    invalid: usize,
    named: usize,
    unknown: usize,
    probe_asked: usize,
    probe_recovered: usize,
}

impl Tally {
    fn record(&self, d: &mut BTreeMap<String, f64>) {
        for (k, v) in [
            ("leak_checks", self.leak_checks),
            ("llm_answers", self.answers),
            ("llm_invalid", self.invalid),
            ("llm_named", self.named),
            ("llm_unknown", self.unknown),
        ] {
            d.insert(k.into(), v as f64);
        }
        if self.samples > 0 {
            d.insert("llm_samples".into(), self.samples as f64);
            if self.sample_jaccard.is_finite() {
                d.insert("sample_jaccard".into(), self.sample_jaccard);
            }
        }
        if self.probe_asked > 0 {
            d.insert("probe_asked".into(), self.probe_asked as f64);
            d.insert("probe_recovered".into(), self.probe_recovered as f64);
        }
    }

    /// Count the gene names of one answer (valid or not).
    fn answer(&mut self, text: Option<&str>, ids: &BTreeMap<String, usize>, valid: bool) {
        self.answers += 1;
        if !valid {
            self.invalid += 1;
        }
        let Some(v) = text.and_then(|t| {
            t.find('{')
                .and_then(|s| serde_json::from_str::<Value>(t[s..].trim()).ok())
        }) else {
            return;
        };
        let genes: Vec<&str> = match v.get("picks").and_then(Value::as_array) {
            Some(a) => a
                .iter()
                .filter_map(|p| p.get("gene").and_then(Value::as_str))
                .collect(),
            None => v.get("gene").and_then(Value::as_str).into_iter().collect(),
        };
        self.named += genes.len();
        self.unknown += genes.iter().filter(|g| !ids.contains_key(g.trim())).count();
    }
}

/// Measured knock-downs whose outcomes the prompt shows.
pub const OUTCOME_ROWS: usize = 32;

/// What the planner is shown of the measured outcomes: the measured pathway members (most
/// recent first), then the most recent other knock-downs, [`OUTCOME_ROWS`] rows in all. Read
/// from the training rows only.
pub fn measured_outcomes(ctx: &AcquisitionContext) -> Vec<Outcome> {
    let train = ctx.train;
    if train.is_empty() {
        return Vec::new();
    }
    let members: BTreeSet<&String> = ctx.pathway.genes.iter().collect();
    let norm = |i: usize| ctx.screen.row(i).iter().map(|x| x * x).sum::<f64>().sqrt();
    let norms: Vec<f64> = train.iter().map(|&i| norm(i)).collect();
    let n = train.len();
    let strength = |k: usize| {
        if n < 2 {
            return 50.0;
        }
        let below = norms.iter().filter(|&&x| x < norms[k]).count();
        100.0 * below as f64 / (n - 1) as f64
    };
    let member_rows: Vec<usize> = (0..n)
        .filter(|&k| members.contains(&ctx.screen.targets[train[k]]))
        .collect();
    let g = ctx.screen.n_genes();
    // The centroid of the measured members' responses (a member counts in its own centroid, so
    // the first member measured reads 1.00: the pathway's only reference so far).
    let centroid: Option<Vec<f64>> = (!member_rows.is_empty()).then(|| {
        let mut mean = vec![0.0; g];
        for &j in &member_rows {
            for (m, x) in mean.iter_mut().zip(ctx.screen.row(train[j])) {
                *m += x / member_rows.len() as f64;
            }
        }
        mean
    });
    let likeness = |k: usize| {
        centroid.as_ref().map_or(f64::NAN, |c| {
            crate::predict::metrics::pearson(ctx.screen.row(train[k]), c)
        })
    };
    let mut rows: Vec<usize> = member_rows
        .iter()
        .rev()
        .copied()
        .take(OUTCOME_ROWS)
        .collect();
    for k in (0..n).rev() {
        if rows.len() >= OUTCOME_ROWS {
            break;
        }
        if !rows.contains(&k) {
            rows.push(k);
        }
    }
    rows.iter()
        .map(|&k| Outcome {
            gene: ctx.screen.targets[train[k]].clone(),
            strength: strength(k),
            likeness: likeness(k),
        })
        .collect()
}

/// The de-masking probe's request: the masked prompt, then the question.
const PROBE: &str = "The planning prompt below shows human genes only under opaque IDs. For each candidate ID in its shortlist, name the human gene you believe it is (its official HGNC symbol), or \"unknown\". Answer with one JSON object {\"guesses\": [{\"id\": \"<ID>\", \"symbol\": \"<symbol or unknown>\"}, …]} and nothing else.\n\n=== planning prompt ===\n";

/// Whether a probe guess names `symbol` (its symbol or an alias, case-insensitively).
pub fn recovered(ann: &Annotations, symbol: &str, guess: &str) -> bool {
    let g = guess.trim();
    g.eq_ignore_ascii_case(symbol)
        || ann
            .genes
            .get(symbol)
            .is_some_and(|i| i.aliases.iter().any(|a| a.eq_ignore_ascii_case(g)))
}

impl LlmPlanner {
    fn fail(&self, msg: String) -> StrategyError {
        StrategyError::Failed {
            strategy: self.name.to_string(),
            msg,
        }
    }

    /// The prompt, or the refusal to send it.
    fn prompt(&self, input: &RerankInput) -> Result<Prompt, StrategyError> {
        build_prompt(self.arm, &self.setup.kit, input).map_err(|e| self.fail(e.to_string()))
    }

    /// Ask the planner's model to name the gene behind each shown ID (identity-hiding arms
    /// only); counts questions and recoveries. Nothing from the answer reaches the picks.
    fn probe(
        &self,
        ctx: &AcquisitionContext,
        prompt: &Prompt,
        tally: &mut Tally,
    ) -> Result<(), StrategyError> {
        if !self.setup.probe || self.arm.hides().is_none() {
            return Ok(());
        }
        let ids: Vec<&String> = prompt.shown.keys().collect();
        let schema = json!({"name": "guesses", "schema": {
            "type": "object",
            "properties": {"guesses": {"type": "array", "items": {
                "type": "object",
                "properties": {"id": {"type": "string", "enum": ids},
                               "symbol": {"type": "string", "maxLength": 30}},
                "required": ["id", "symbol"], "additionalProperties": false}}},
            "required": ["guesses"], "additionalProperties": false}});
        let messages = vec![Message::user(format!("{PROBE}{}", prompt.user))];
        let tag = format!("{}/seed{}/round{}/probe", self.name, ctx.seed, ctx.round);
        let x = self.ask(&messages, &schema, &tag, 0)?;
        tally.probe_asked += prompt.shown.len();
        let guesses: BTreeMap<String, String> = answered(&x)
            .ok()
            .and_then(|t| {
                t.find('{')
                    .and_then(|s| serde_json::from_str::<Value>(t[s..].trim()).ok())
            })
            .and_then(|v| v.get("guesses").and_then(Value::as_array).cloned())
            .into_iter()
            .flatten()
            .filter_map(|g| {
                Some((
                    g.get("id")?.as_str()?.trim().to_string(),
                    g.get("symbol")?.as_str()?.to_string(),
                ))
            })
            .collect();
        tally.probe_recovered += prompt
            .shown
            .iter()
            .filter(|(id, sym)| {
                guesses
                    .get(*id)
                    .is_some_and(|g| recovered(&self.setup.kit.annotations, sym, g))
            })
            .count();
        Ok(())
    }

    /// `--llm-samples K`: K − 1 more answers to the same opening prompt (sample index k moves
    /// the request's seed); the valid ones are the alternatives the loop scores, and the mean
    /// pairwise Jaccard of all valid batches (the first included) is recorded.
    fn samples(
        &self,
        ctx: &AcquisitionContext,
        prompt: &Prompt,
        chosen: &[usize],
        tally: &mut Tally,
    ) -> Result<Vec<Vec<usize>>, StrategyError> {
        let k = self.setup.samples;
        if k <= 1 {
            return Ok(Vec::new());
        }
        let messages = opening(prompt);
        let mut alternatives = Vec::new();
        for sample in 1..k {
            let tag = format!(
                "{}/seed{}/round{}/sample{sample}",
                self.name, ctx.seed, ctx.round
            );
            let x = self.ask(&messages, &prompt.schema, &tag, sample as u32)?;
            if let Ok(p) = answered(&x).and_then(|t| validate(t, &prompt.ids, ctx.batch)) {
                alternatives.push(p.into_iter().map(|(p, _)| ctx.pool[p]).collect());
            }
        }
        let mut all: Vec<BTreeSet<usize>> = vec![chosen.iter().copied().collect()];
        all.extend(
            alternatives
                .iter()
                .map(|a: &Vec<usize>| a.iter().copied().collect()),
        );
        let mut js = Vec::new();
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                let u = all[i].union(&all[j]).count();
                js.push(all[i].intersection(&all[j]).count() as f64 / u.max(1) as f64);
            }
        }
        tally.samples = all.len();
        tally.sample_jaccard = if js.is_empty() {
            f64::NAN
        } else {
            js.iter().sum::<f64>() / js.len() as f64
        };
        Ok(alternatives)
    }

    /// The whole batch in one call, re-prompted with the specific error (bounded), then the
    /// recorded fallback to the uncertainty order.
    fn select_batch(
        &self,
        ctx: &AcquisitionContext,
        shortlist: &[usize],
        input: &RerankInput,
        tally: &mut Tally,
    ) -> Result<Selection, StrategyError> {
        let setup = &self.setup;
        let mut prompt = self.prompt(input)?;
        tally.leak_checks += prompt.checks;
        self.probe(ctx, &prompt, tally)?;
        // Shortlist positions → pool positions.
        for v in prompt.ids.values_mut() {
            *v = shortlist[*v];
        }
        let mut messages = opening(&prompt);
        let mut last_err = String::new();
        for attempt in 0..=setup.reprompts {
            let tag = format!(
                "{}/seed{}/round{}/attempt{}",
                self.name, ctx.seed, ctx.round, attempt
            );
            let x = self.ask(&messages, &prompt.schema, &tag, 0)?;
            let result = answered(&x).and_then(|t| validate(t, &prompt.ids, ctx.batch));
            if x.status != Status::Error {
                tally.answer(x.text.as_deref(), &prompt.ids, result.is_ok());
            }
            match result {
                Ok(picks) => {
                    let rank: BTreeMap<usize, usize> =
                        shortlist.iter().enumerate().map(|(r, &p)| (p, r)).collect();
                    let mut notes = Vec::new();
                    if attempt > 0 {
                        notes.push(format!(
                            "valid after {attempt} re-prompt(s); last error: {last_err}"
                        ));
                    }
                    let chosen: Vec<usize> = picks.iter().map(|(p, _)| ctx.pool[*p]).collect();
                    let alternatives = self.samples(ctx, &prompt, &chosen, tally)?;
                    return Ok(Selection {
                        picks: picks
                            .into_iter()
                            .map(|(p, r)| llm_pick(ctx, p, rank[&p], attempt, r))
                            .collect(),
                        notes,
                        alternatives,
                    });
                }
                Err(e) => {
                    correct(&mut messages, &x, format!(
                        "That answer is invalid: {e}. Answer again with exactly {} genes from the shortlist, as the JSON object {{\"picks\": [{{\"gene\": ..., \"rationale\": ...}}]}}.",
                        ctx.batch
                    ));
                    last_err = e;
                }
            }
        }
        // The recorded fallback: the uncertainty order.
        Ok(Selection {
            picks: shortlist[..ctx.batch]
                .iter()
                .map(|&p| fallback_pick(ctx, p, setup.reprompts + 1))
                .collect(),
            notes: vec![format!(
                "fallback to the uncertainty order after {} invalid answer(s); last error: {last_err}",
                setup.reprompts + 1
            )],
            alternatives: Vec::new(),
        })
    }

    /// One request through the client (cache, ledger); only a client failure is an error here.
    fn ask(
        &self,
        messages: &[Message],
        schema: &Value,
        tag: &str,
        sample: u32,
    ) -> Result<crate::llm::Exchange, StrategyError> {
        let setup = &self.setup;
        let req = ChatRequest {
            messages: messages.to_vec(),
            schema: Some(schema.clone()),
            sample,
        };
        setup
            .handle
            .block_on(setup.client.complete(&setup.endpoint, &req, tag))
            .map(|a| a.exchange)
            .map_err(|e| self.fail(e.to_string()))
    }

    /// One call per pick: the enum holds the shortlisted genes not chosen yet, so every valid
    /// answer is a new shortlisted gene. A pick that stays invalid after the re-prompts ends
    /// the LLM's part: the rest of the batch comes from the uncertainty order, recorded.
    fn select_sequential(
        &self,
        ctx: &AcquisitionContext,
        shortlist: &[usize],
        mut input: RerankInput,
        tally: &mut Tally,
    ) -> Result<Selection, StrategyError> {
        let setup = &self.setup;
        let rank: BTreeMap<usize, usize> =
            shortlist.iter().enumerate().map(|(r, &p)| (p, r)).collect();
        let mut picks: Vec<Pick> = Vec::new();
        let mut notes = Vec::new();
        let mut calls = 0;
        'picks: while picks.len() < ctx.batch {
            let prompt = self.prompt(&input)?;
            tally.leak_checks += prompt.checks;
            if picks.is_empty() {
                self.probe(ctx, &prompt, tally)?;
            }
            let mut messages = opening(&prompt);
            let mut last_err = String::new();
            for attempt in 0..=setup.reprompts {
                calls += 1;
                let tag = format!(
                    "{}/seed{}/round{}/pick{}/attempt{attempt}",
                    self.name,
                    ctx.seed,
                    ctx.round,
                    picks.len()
                );
                let x = self.ask(&messages, &prompt.schema, &tag, 0)?;
                let taken: BTreeSet<&str> = input.chosen.iter().map(|(g, _)| g.as_str()).collect();
                let result = answered(&x).and_then(|t| one_pick(t, &prompt.ids, &taken, &input));
                if x.status != Status::Error {
                    tally.answer(x.text.as_deref(), &prompt.ids, result.is_ok());
                }
                match result {
                    Ok((pos, symbol, rationale)) => {
                        let p = shortlist[pos];
                        picks.push(llm_pick(ctx, p, rank[&p], attempt, rationale.clone()));
                        input.chosen.push((symbol, rationale));
                        continue 'picks;
                    }
                    Err(e) => {
                        correct(&mut messages, &x, format!(
                            "That answer is invalid: {e}. Answer again with one gene from the shortlist that is not chosen yet, as {{\"gene\": ..., \"rationale\": ...}}."
                        ));
                        last_err = e;
                    }
                }
            }
            // The pick stayed invalid: the rest comes from the uncertainty order.
            notes.push(format!(
                "fallback to the uncertainty order for picks {}–{} after {} invalid answer(s); last error: {last_err}",
                picks.len() + 1,
                ctx.batch,
                setup.reprompts + 1
            ));
            let taken: BTreeSet<usize> = picks.iter().map(|p| p.pert).collect();
            for &p in shortlist {
                if picks.len() == ctx.batch {
                    break;
                }
                if !taken.contains(&ctx.pool[p]) {
                    picks.push(fallback_pick(ctx, p, setup.reprompts + 1));
                }
            }
            break;
        }
        notes.push(format!(
            "sequential re-ranking: {calls} call(s) for {} picks",
            ctx.batch
        ));
        Ok(Selection {
            picks,
            notes,
            alternatives: Vec::new(),
        })
    }
}

/// The system and user messages of a prompt.
fn opening(prompt: &Prompt) -> Vec<Message> {
    let mut messages = Vec::new();
    if !prompt.system.is_empty() {
        messages.push(Message::system(prompt.system.clone()));
    }
    messages.push(Message::user(prompt.user.clone()));
    messages
}

/// Continue the conversation after an invalid answer: the answer itself (when there was one),
/// then the correction. A provider error is no answer to correct: the same request goes again.
fn correct(messages: &mut Vec<Message>, x: &crate::llm::Exchange, correction: String) {
    if x.status == Status::Ok || x.status == Status::Truncated {
        messages.push(Message {
            role: "assistant".into(),
            content: x.text.clone().unwrap_or_default(),
        });
    }
    if x.status != Status::Error {
        messages.push(Message::user(correction));
    }
}

/// A pick the LLM made, with its shortlist rank, attempts and rationale.
fn llm_pick(
    ctx: &AcquisitionContext,
    p: usize,
    rank: usize,
    attempt: usize,
    rationale: String,
) -> Pick {
    Pick {
        pert: ctx.pool[p],
        score: ctx.uncertainty[p].mutual_information,
        details: [
            ("shortlist_rank".to_string(), rank as f64),
            ("llm_attempts".to_string(), (attempt + 1) as f64),
        ]
        .into_iter()
        .collect(),
        rationale: Some(rationale),
    }
}

/// The text of a usable answer, or why there is none (the error a re-prompt names).
fn answered(x: &crate::llm::Exchange) -> Result<&str, String> {
    match x.status {
        Status::Ok => Ok(x.text.as_deref().unwrap_or("")),
        Status::Truncated => {
            Err("the answer was cut off at the token limit; answer with shorter rationales".into())
        }
        Status::Refusal | Status::ContentFilter => Err("the answer was a refusal".into()),
        Status::Error => Err(format!(
            "provider error: {}",
            x.error.as_ref().map(|e| e.message.as_str()).unwrap_or("")
        )),
    }
}

/// Read one sequential answer: a shortlisted gene not chosen yet, with its rationale.
fn one_pick(
    text: &str,
    ids: &BTreeMap<String, usize>,
    taken: &BTreeSet<&str>,
    input: &RerankInput,
) -> Result<(usize, String, String), String> {
    let v: Value = text
        .find('{')
        .and_then(|s| serde_json::from_str(text[s..].trim()).ok())
        .ok_or("the answer is not a JSON object {\"gene\", \"rationale\"}")?;
    let g = v
        .get("gene")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("");
    let pos = *ids
        .get(g)
        .ok_or_else(|| format!("not in the shortlist: {g}"))?;
    let symbol = input.candidates[pos].0.clone();
    if taken.contains(symbol.as_str()) {
        return Err(format!("already chosen: {g}"));
    }
    let r = v
        .get("rationale")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string();
    Ok((pos, symbol, r))
}

fn fallback_pick(ctx: &AcquisitionContext, p: usize, attempts: usize) -> Pick {
    Pick {
        pert: ctx.pool[p],
        score: ctx.uncertainty[p].mutual_information,
        details: [
            ("llm_fallback".to_string(), 1.0),
            ("llm_attempts".to_string(), attempts as f64),
        ]
        .into_iter()
        .collect(),
        rationale: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_counts_a_symbol_or_an_alias_in_any_case() {
        let mut ann = Annotations::default();
        ann.genes.insert(
            "TP53".into(),
            crate::data::annotation::GeneInfo {
                symbol: "TP53".into(),
                name: "tumor protein p53".into(),
                aliases: vec!["P53".into(), "LFS1".into()],
                ids: Vec::new(),
            },
        );
        assert!(recovered(&ann, "TP53", " tp53 "));
        assert!(recovered(&ann, "TP53", "p53"));
        assert!(!recovered(&ann, "TP53", "unknown"));
        assert!(!recovered(&ann, "TP53", "MDM2"));
    }

    #[test]
    fn validation_names_the_error() {
        let ids: BTreeMap<String, usize> = [("RPL3", 0), ("RPS6", 1), ("EIF3A", 2), ("NOP56", 3)]
            .into_iter()
            .map(|(s, p)| (s.to_string(), p))
            .collect();
        let ok = r#"{"picks": [{"gene": "RPL3", "rationale": "core"}, {"gene": "NOP56", "rationale": "biogenesis"}]}"#;
        assert_eq!(
            validate(ok, &ids, 2).unwrap(),
            vec![(0, "core".into()), (3, "biogenesis".into())]
        );
        let unknown =
            r#"{"picks": [{"gene": "TP53", "rationale": ""}, {"gene": "RPL3", "rationale": ""}]}"#;
        assert!(validate(unknown, &ids, 2)
            .unwrap_err()
            .contains("not in the shortlist: TP53"));
        let dup =
            r#"{"picks": [{"gene": "RPL3", "rationale": ""}, {"gene": "RPL3", "rationale": ""}]}"#;
        assert!(validate(dup, &ids, 2)
            .unwrap_err()
            .contains("more than once: RPL3"));
        let few = r#"{"picks": [{"gene": "RPL3", "rationale": ""}]}"#;
        assert!(validate(few, &ids, 2)
            .unwrap_err()
            .contains("1 genes chosen; exactly 2"));
        assert!(validate("I would pick RPL3 and RPS6.", &ids, 2)
            .unwrap_err()
            .contains("not a JSON object"));
    }
}
