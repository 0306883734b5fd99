//! The LLM-guided two-stage planner. Stage 1 shortlists the `factor × batch` pool candidates
//! with the highest ensemble mutual information; stage 2 asks an LLM (through the client, cache
//! and ledger) to choose exactly `batch` of them with pathway context, annotations and explicit
//! diversity criteria, one rationale per pick. Bad answers are re-prompted with the specific
//! error (bounded), then the uncertainty order is used and the fallback recorded.
//!
//! Four arms for the memorisation ablation: `llm` (full context), `llm-masked` (every symbol and
//! alias replaced by a stable opaque ID, annotations kept), `llm-symbols` (symbols, no
//! annotations), `llm-shuffled` (annotations shuffled across candidates, a control).

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
    Full,
    Masked,
    SymbolsOnly,
    Shuffled,
}

impl Arm {
    pub const ALL: [Arm; 4] = [Arm::Full, Arm::Masked, Arm::SymbolsOnly, Arm::Shuffled];

    pub fn strategy(self) -> &'static str {
        match self {
            Arm::Full => "llm",
            Arm::Masked => "llm-masked",
            Arm::SymbolsOnly => "llm-symbols",
            Arm::Shuffled => "llm-shuffled",
        }
    }

    pub fn from_strategy(name: &str) -> Option<Arm> {
        Arm::ALL.into_iter().find(|a| a.strategy() == name)
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
}

pub struct LlmPlanner {
    arm: Arm,
    setup: Arc<LlmSetup>,
}

impl LlmPlanner {
    pub fn new(arm: Arm, setup: Arc<LlmSetup>) -> LlmPlanner {
        LlmPlanner { arm, setup }
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
pub struct Prompt {
    pub system: String,
    pub user: String,
    /// Shown id → position in the shortlist.
    pub ids: BTreeMap<String, usize>,
    pub schema: Value,
    /// Symbols of every gene named in the prompt (for the leak check).
    pub in_scope: Vec<String>,
}

fn fmt3(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "n/a".into()
    }
}

fn annotation_of(ann: &Annotations, symbol: &str) -> String {
    let a = ann
        .context
        .get(symbol)
        .cloned()
        .unwrap_or_else(|| "no annotation available".to_string());
    let (clean, _) = crate::llm::prompt::neutralise(&a);
    if clean.chars().count() > 200 {
        format!("{}…", clean.chars().take(200).collect::<String>())
    } else {
        clean
    }
}

/// Build the prompt of one arm for one round.
pub fn build_prompt(arm: Arm, kit: &PromptKit, input: &RerankInput) -> anyhow::Result<Prompt> {
    let ann = &kit.annotations;
    let members: BTreeSet<&String> = input.pathway.genes.iter().collect();
    let measured = &input.measured;
    let measured_members: Vec<String> = {
        let mut m: Vec<String> = measured
            .iter()
            .filter(|g| members.contains(g))
            .cloned()
            .collect();
        m.sort();
        m.dedup();
        m
    };
    let candidates: Vec<Shown> = input
        .candidates
        .iter()
        .map(|(s, mi)| {
            let s = s.clone();
            let neighbours: Vec<String> = kit
                .network
                .as_ref()
                .map(|n| {
                    let mut v: Vec<&(String, f64)> = n
                        .neighbours(&s)
                        .iter()
                        .filter(|(g, _)| members.contains(g))
                        .collect();
                    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    v.into_iter().take(5).map(|(g, _)| g.clone()).collect()
                })
                .unwrap_or_default();
            Shown {
                id: s.clone(),
                annotation: annotation_of(ann, &s),
                neighbours,
                uncertainty: fmt3(*mi),
            }
        })
        .collect();
    // Shown in a seeded random order (the same for every arm and every pick of a round), so
    // the list's order does not tell the model the uncertainty ranking.
    let mut shown_order: Vec<usize> = (0..candidates.len()).collect();
    shown_order.shuffle(&mut stream(
        kit.seed,
        &format!("llm/order/seed{}/round{}", input.seed, input.round),
    ));
    let mut candidates: Vec<Shown> = shown_order.iter().map(|&i| candidates[i].clone()).collect();
    match arm {
        Arm::SymbolsOnly => {
            for c in &mut candidates {
                c.annotation.clear();
                c.neighbours.clear();
            }
        }
        Arm::Shuffled => {
            let mut bundles: Vec<(String, Vec<String>)> = candidates
                .iter()
                .map(|c| (c.annotation.clone(), c.neighbours.clone()))
                .collect();
            bundles.shuffle(&mut stream(
                kit.seed,
                &format!("llm/shuffle/seed{}/round{}", input.seed, input.round),
            ));
            for (c, (a, n)) in candidates.iter_mut().zip(bundles) {
                c.annotation = a;
                c.neighbours = n;
            }
        }
        Arm::Full | Arm::Masked => {}
    }
    let recent: Vec<String> = measured.iter().rev().take(24).cloned().collect();
    let description = if input.pathway.description.starts_with("http") {
        String::new()
    } else {
        input.pathway.description.clone()
    };
    let mut pathway_members: Vec<String> = input.pathway.genes.clone();
    pathway_members.sort();
    pathway_members.dedup();
    let vars = json!({
        "pathway": {"name": input.pathway.name, "description": description, "members": pathway_members,
                    "measured_members": measured_members},
        "measured": {"count": measured.len(), "recent": recent},
        "performance": {"pearson_delta": fmt3(input.pearson_delta), "top20_pearson": fmt3(input.top20_pearson)},
        "candidates": candidates,
        "batch": input.batch,
        "shortlist": input.candidates.len(),
        "show_annotations": arm != Arm::SymbolsOnly,
        "sequential": input.sequential,
        "chosen": input.chosen.iter().map(|(g, r)| json!({"id": g, "rationale": r})).collect::<Vec<_>>(),
    });
    let text = crate::llm::prompt::render(RERANK, &kit.template, &vars)?;
    let (system, user) = match text.split_once("\n---\n") {
        Some((s, u)) => (s.trim().to_string(), u.trim().to_string()),
        None => (String::new(), text.trim().to_string()),
    };
    let mut in_scope: Vec<String> = pathway_members.clone();
    in_scope.extend(measured.iter().cloned());
    for c in &candidates {
        in_scope.push(c.id.clone());
        in_scope.extend(c.neighbours.iter().cloned());
    }
    in_scope.sort();
    in_scope.dedup();
    let mut ids: BTreeMap<String, usize> = input
        .candidates
        .iter()
        .enumerate()
        .map(|(i, (s, _))| (s.clone(), i))
        .collect();
    if arm == Arm::Masked {
        // Genes mentioned by official symbol anywhere in the text (e.g. inside an annotation)
        // are in scope too, with all their aliases.
        for tok in format!("{system}\n{user}")
            .split(|c: char| !(c.is_alphanumeric() || c == '-'))
            .map(|t| t.trim_matches('-'))
        {
            if tok.len() >= 2
                && tok.chars().any(|c| c.is_ascii_uppercase())
                && ann.genes.contains_key(tok)
            {
                in_scope.push(tok.to_string());
            }
        }
        in_scope.sort();
        in_scope.dedup();
    }
    let (system, user) = if arm == Arm::Masked {
        let m = Masker::new(&in_scope, ann, kit.seed);
        ids = ids
            .into_iter()
            .map(|(s, p)| (m.id(&s).expect("in scope").to_string(), p))
            .collect();
        (m.mask(&system), m.mask(&user))
    } else {
        (system, user)
    };
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
        self.arm.strategy()
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
            pearson_delta: ctx.measured.pearson_delta,
            top20_pearson: ctx.measured.top20_pearson,
            sequential: setup.sequential,
            chosen: Vec::new(),
        };
        if setup.sequential {
            return self.select_sequential(ctx, &shortlist, input);
        }
        let mut prompt =
            build_prompt(self.arm, &setup.kit, &input).map_err(|e| self.fail(e.to_string()))?;
        // Shortlist positions → pool positions.
        for v in prompt.ids.values_mut() {
            *v = shortlist[*v];
        }
        let mut messages = opening(&prompt);
        let mut last_err = String::new();
        for attempt in 0..=setup.reprompts {
            let tag = format!(
                "{}/seed{}/round{}/attempt{}",
                self.arm.strategy(),
                ctx.seed,
                ctx.round,
                attempt
            );
            let x = self.ask(&messages, &prompt.schema, &tag)?;
            let result = answered(&x).and_then(|t| validate(t, &prompt.ids, ctx.batch));
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
                    return Ok(Selection {
                        picks: picks
                            .into_iter()
                            .map(|(p, r)| llm_pick(ctx, p, rank[&p], attempt, r))
                            .collect(),
                        notes,
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
        })
    }
}

impl LlmPlanner {
    fn fail(&self, msg: String) -> StrategyError {
        StrategyError::Failed {
            strategy: self.arm.strategy().to_string(),
            msg,
        }
    }

    /// One request through the client (cache, ledger); only a client failure is an error here.
    fn ask(
        &self,
        messages: &[Message],
        schema: &Value,
        tag: &str,
    ) -> Result<crate::llm::Exchange, StrategyError> {
        let setup = &self.setup;
        let req = ChatRequest {
            messages: messages.to_vec(),
            schema: Some(schema.clone()),
            sample: 0,
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
    ) -> Result<Selection, StrategyError> {
        let setup = &self.setup;
        let rank: BTreeMap<usize, usize> =
            shortlist.iter().enumerate().map(|(r, &p)| (p, r)).collect();
        let mut picks: Vec<Pick> = Vec::new();
        let mut notes = Vec::new();
        let mut calls = 0;
        'picks: while picks.len() < ctx.batch {
            let prompt =
                build_prompt(self.arm, &setup.kit, &input).map_err(|e| self.fail(e.to_string()))?;
            let mut messages = opening(&prompt);
            let mut last_err = String::new();
            for attempt in 0..=setup.reprompts {
                calls += 1;
                let tag = format!(
                    "{}/seed{}/round{}/pick{}/attempt{attempt}",
                    self.arm.strategy(),
                    ctx.seed,
                    ctx.round,
                    picks.len()
                );
                let x = self.ask(&messages, &prompt.schema, &tag)?;
                let taken: BTreeSet<&str> = input.chosen.iter().map(|(g, _)| g.as_str()).collect();
                let result = answered(&x).and_then(|t| one_pick(t, &prompt.ids, &taken, &input));
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
        Ok(Selection { picks, notes })
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
