//! llama.cpp in-process (through `llama-cpp-2`): one worker thread owns the model and its
//! context and answers OpenAI Chat Completions bodies one at a time. Greedy decoding at
//! temperature 0 is deterministic; a request's JSON schema becomes a grammar that constrains
//! decoding; a few KV-cache slots (contexts, made when first needed) each keep a previous
//! prompt, and a request goes to the slot sharing its longest prefix, so interleaved
//! conversations (two seeds' re-rankers, a judge beside a planner) are not evaluated twice.
//!
//! An answer depends on its request alone, never on what the slots held before: prompts are
//! evaluated in chunks of `CHUNK` tokens at fixed positions (0, CHUNK, 2·CHUNK, …), and only
//! whole chunks of an earlier prompt are reused. A reused chunk was computed from the same
//! tokens with the same batch shape as it would be now, so the logits are the same bits either
//! way (a prefix computed with another batch split may differ in the last bits, and a sampled
//! or near-tied answer with it). The answer body carries no clock (`created` is 0).

use super::EngineError;
use crate::data::runfile::{sha256_bytes, sha256_file};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use serde_json::{json, Value};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, OnceLock};

const N_BATCH: usize = 512;
/// Prompt-evaluation chunk (tokens), at fixed positions; see the module note.
const CHUNK: usize = 64;

fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(
                llama_cpp_2::LogOptions::default().with_logs_enabled(false),
            );
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| EngineError::Internal(format!("llama.cpp backend: {e}")))
}

/// What a loaded model is, for fingerprints and the ledger.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub path: PathBuf,
    /// File stem, reported as the `model` of every answer.
    pub name: String,
    pub sha256: String,
    pub n_ctx: u32,
}

impl ModelInfo {
    pub fn fingerprint(&self) -> String {
        format!("pertaudit-local-{}", &self.sha256[..12])
    }
}

type Reply = tokio::sync::oneshot::Sender<Result<Value, EngineError>>;

/// A loaded model behind its worker thread.
pub struct Engine {
    tx: std::sync::Mutex<mpsc::Sender<(Value, Reply)>>,
    pub info: ModelInfo,
}

#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Context length of each slot.
    pub n_ctx: u32,
    pub threads: usize,
    /// KV-cache slots (contexts), each made when first needed.
    pub slots: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            n_ctx: 8192,
            slots: 4,
            threads: default_threads(),
        }
    }
}

/// Worker threads of the embedded model: one, unless `PERTAUDIT_LLM_THREADS` says otherwise.
///
/// One, fixed, for two reasons, both measured on 2 cores:
/// - **Answers depend on the thread count.** ggml splits each product across its threads, and
///   the demo run with 1 thread gave other greedy answers than with 2 (its ledger and report
///   differ). The old default, every core, made a run's answers depend on the machine's core
///   count; a fixed count makes them the same on every machine of the same instruction set
///   (the demo's promise). An override changes answers (a replay from the ledger does not).
/// - **Load.** ggml's threads meet at a barrier after every operation, so one descheduled thread
///   stalls the rest: 12 prompts of 64 tokens took 4.85 s with 2 threads alone but 15.8 s beside
///   one CPU-bound process (3.3×, more than the competitor's share); 1 thread took 5.9 s alone
///   and 6.9 s beside it (1.17×). OpenMP's passive waiting made 2 threads slower still alone
///   (13.7 s).
pub fn default_threads() -> usize {
    std::env::var("PERTAUDIT_LLM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| (1..=256).contains(&n))
        .unwrap_or(1)
}

impl Engine {
    /// Load a GGUF file and start its worker thread.
    pub fn load(path: &Path, opts: EngineOptions) -> Result<Engine, EngineError> {
        if !path.is_file() {
            return Err(EngineError::Internal(format!(
                "{}: no such model file (run `pertaudit model fetch`, or pass --model PATH to a GGUF)",
                path.display()
            )));
        }
        let sha256 = sha256_file(path)
            .map_err(|e| EngineError::Internal(format!("{}: {e}", path.display())))?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("local")
            .to_string();
        let info = ModelInfo {
            path: path.to_path_buf(),
            name,
            sha256,
            n_ctx: opts.n_ctx,
        };
        let (tx, rx) = mpsc::channel::<(Value, Reply)>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), EngineError>>();
        let worker_info = info.clone();
        std::thread::Builder::new()
            .name("pertaudit-llm".into())
            .spawn(move || worker(worker_info, opts, rx, ready_tx))
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        ready_rx
            .recv()
            .map_err(|_| EngineError::Internal("model worker died while loading".into()))??;
        Ok(Engine {
            tx: std::sync::Mutex::new(tx),
            info,
        })
    }

    /// Answer one OpenAI Chat Completions request body with an OpenAI response body.
    pub async fn chat(&self, body: Value) -> Result<Value, EngineError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .lock()
            .expect("engine sender")
            .send((body, tx))
            .map_err(|_| EngineError::Internal("model worker stopped".into()))?;
        rx.await
            .map_err(|_| EngineError::Internal("model worker stopped".into()))?
    }
}

fn worker(
    info: ModelInfo,
    opts: EngineOptions,
    rx: mpsc::Receiver<(Value, Reply)>,
    ready: mpsc::Sender<Result<(), EngineError>>,
) {
    let setup = || -> Result<(&'static LlamaBackend, LlamaModel), EngineError> {
        let backend = backend()?;
        let model = LlamaModel::load_from_file(backend, &info.path, &LlamaModelParams::default())
            .map_err(|e| {
            EngineError::Internal(format!("{}: cannot load model: {e}", info.path.display()))
        })?;
        Ok((backend, model))
    };
    let (backend, model) = match setup() {
        Ok(x) => x,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let template = match model.chat_template(None) {
        Ok(t) => t,
        Err(e) => {
            let _ = ready.send(Err(EngineError::Internal(format!(
                "{}: no chat template: {e}",
                info.path.display()
            ))));
            return;
        }
    };
    let threads = opts.threads.max(1) as i32;
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(opts.n_ctx))
        .with_n_batch(N_BATCH as u32)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let first = match model.new_context(backend, params.clone()) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(EngineError::Internal(format!(
                "cannot create a context: {e}"
            ))));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut slots = vec![(
        Session {
            kv: Vec::new(),
            whole: 0,
        },
        first,
    )];
    let mut last_used = vec![0u64];
    for (clock, (body, reply)) in (1u64..).zip(rx) {
        let r = prompt_tokens(&model, &template, &info, &body).and_then(|(p, tokens)| {
            let shared: Vec<usize> = slots.iter().map(|(s, _)| s.common(&tokens)).collect();
            // The slot sharing the longest prefix (ties: the least recently used); a new slot
            // when none shares half the prompt and there is room; else the least recently used.
            let best = (0..slots.len())
                .max_by_key(|&i| (shared[i], std::cmp::Reverse(last_used[i])))
                .expect("one slot");
            let lru = (0..slots.len())
                .min_by_key(|&i| last_used[i])
                .expect("one slot");
            let i = if shared[best] * 2 >= tokens.len() {
                best
            } else if slots.len() < opts.slots.max(1) {
                match model.new_context(backend, params.clone()) {
                    Ok(c) => {
                        slots.push((
                            Session {
                                kv: Vec::new(),
                                whole: 0,
                            },
                            c,
                        ));
                        last_used.push(0);
                        slots.len() - 1
                    }
                    Err(_) => lru,
                }
            } else if shared[best] > 0 {
                best
            } else {
                lru
            };
            last_used[i] = clock;
            let (session, ctx) = &mut slots[i];
            session.answer(&info, &model, ctx, &body, p, tokens)
        });
        let _ = reply.send(r);
    }
}

/// A request's parameters and its prompt, rendered with the model's chat template and
/// tokenised.
fn prompt_tokens(
    model: &LlamaModel,
    template: &LlamaChatTemplate,
    info: &ModelInfo,
    body: &Value,
) -> Result<(Params, Vec<LlamaToken>), EngineError> {
    let p = parse_params(body)?;
    let chat: Vec<LlamaChatMessage> = p
        .messages
        .iter()
        .map(|(r, c)| LlamaChatMessage::new(r.clone(), c.clone()))
        .collect::<Result<_, _>>()
        .map_err(|e| EngineError::BadRequest(format!("message text: {e}")))?;
    let prompt = model
        .apply_chat_template(template, &chat, true)
        .map_err(|e| EngineError::Internal(format!("chat template: {e}")))?;
    let vocab = model.vocab();
    let tokens = vocab.tokenize(prompt.as_bytes(), vocab.should_add_bos(), true);
    let n_ctx = info.n_ctx as usize;
    if tokens.is_empty() || tokens.len() >= n_ctx {
        return Err(EngineError::BadRequest(format!(
            "the prompt is {} tokens; the context holds {n_ctx}",
            tokens.len()
        )));
    }
    Ok((p, tokens))
}

/// Tokens currently held in the KV cache (sequence 0), for prefix reuse.
struct Session {
    kv: Vec<LlamaToken>,
    /// The first `whole` tokens of `kv` were evaluated as whole aligned chunks.
    whole: usize,
}

struct Params {
    messages: Vec<(String, String)>,
    max_tokens: u32,
    temperature: f32,
    seed: u32,
    schema: Option<Value>,
}

fn parse_params(body: &Value) -> Result<Params, EngineError> {
    let bad = |m: &str| EngineError::BadRequest(m.to_string());
    let msgs = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("`messages` must be an array"))?;
    if msgs.is_empty() {
        return Err(bad("`messages` is empty"));
    }
    let mut messages = Vec::new();
    for m in msgs {
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a message has no `role`"))?;
        let content = match m.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
            _ => return Err(bad("a message has no text `content`")),
        };
        messages.push((role.to_string(), content));
    }
    let max_tokens = body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(512)
        .clamp(1, 1 << 20) as u32;
    let temperature = body
        .get("temperature")
        .and_then(Value::as_f64)
        .unwrap_or(0.0) as f32;
    if !(0.0..=2.0).contains(&temperature) {
        return Err(bad("`temperature` must be in [0, 2]"));
    }
    let seed = body.get("seed").and_then(Value::as_u64).unwrap_or(0) as u32;
    let schema = match body.get("response_format") {
        None | Some(Value::Null) => None,
        Some(rf) => match rf.get("type").and_then(Value::as_str) {
            Some("json_schema") => Some(
                rf.get("json_schema")
                    .and_then(|j| j.get("schema"))
                    .cloned()
                    .ok_or_else(|| bad("`response_format.json_schema.schema` is missing"))?,
            ),
            Some("json_object") => Some(json!({"type": "object"})),
            Some("text") => None,
            _ => {
                return Err(bad(
                    "`response_format.type` must be text, json_object or json_schema",
                ))
            }
        },
    };
    Ok(Params {
        messages,
        max_tokens,
        temperature,
        seed,
        schema,
    })
}

impl Session {
    /// Tokens of `tokens` that can be reused from the cache: the shared prefix, cut to whole
    /// chunks evaluated as such (at most all but the last token, for fresh logits).
    fn common(&self, tokens: &[LlamaToken]) -> usize {
        let shared = self
            .kv
            .iter()
            .zip(tokens)
            .take_while(|(a, b)| a == b)
            .count()
            .min(tokens.len().saturating_sub(1));
        (shared / CHUNK * CHUNK).min(self.whole)
    }

    fn answer(
        &mut self,
        info: &ModelInfo,
        model: &LlamaModel,
        ctx: &mut llama_cpp_2::context::LlamaContext<'_>,
        body: &Value,
        p: Params,
        tokens: Vec<LlamaToken>,
    ) -> Result<Value, EngineError> {
        let vocab = model.vocab();
        let n_ctx = info.n_ctx as usize;
        let max_new = (p.max_tokens as usize).min(n_ctx - tokens.len());
        let mut sampler = {
            let mut chain = Vec::new();
            if let Some(schema) = &p.schema {
                let grammar =
                    llama_cpp_2::json_schema_to_grammar(&schema.to_string()).map_err(|e| {
                        EngineError::BadRequest(format!("JSON schema not supported: {e}"))
                    })?;
                chain.push(
                    LlamaSampler::grammar(model, &grammar, "root")
                        .map_err(|e| EngineError::BadRequest(format!("grammar: {e}")))?,
                );
            }
            if p.temperature <= 0.0 {
                chain.push(LlamaSampler::greedy());
            } else {
                chain.push(LlamaSampler::temp(p.temperature));
                chain.push(LlamaSampler::dist(p.seed));
            }
            LlamaSampler::chain_simple(chain)
        };

        // Reuse the cached prefix; evaluate the rest (at least one token, for fresh logits).
        let common = self.common(&tokens);
        ctx.clear_kv_cache_seq(Some(0), Some(common as u32), None)
            .map_err(|e| EngineError::Internal(format!("kv cache: {e}")))?;
        self.kv.truncate(common);
        let mut batch = LlamaBatch::new(N_BATCH, 1);
        let rest = &tokens[common..];
        // `common` is a multiple of CHUNK, so these chunks sit at fixed positions.
        for (ci, chunk) in rest.chunks(CHUNK).enumerate() {
            batch.clear();
            let last_chunk = (ci + 1) * CHUNK >= rest.len();
            for (j, &t) in chunk.iter().enumerate() {
                let pos = (common + ci * CHUNK + j) as i32;
                batch
                    .add(t, pos, &[0], last_chunk && j + 1 == chunk.len())
                    .map_err(|e| EngineError::Internal(format!("batch: {e}")))?;
            }
            if let Err(e) = ctx.decode(&mut batch) {
                self.kv.clear();
                self.whole = 0;
                ctx.clear_kv_cache();
                return Err(EngineError::Internal(format!("decode: {e}")));
            }
            self.kv.extend_from_slice(chunk);
        }
        self.whole = tokens.len() / CHUNK * CHUNK;

        let mut out: Vec<u8> = Vec::new();
        let mut produced = 0usize;
        let mut finish = "length";
        let mut idx = batch.n_tokens() - 1;
        while produced < max_new {
            // `sample` also accepts the token into the grammar; never accept it twice.
            let tok = sampler.sample(ctx, idx);
            if vocab.is_eog(tok) {
                finish = "stop";
                break;
            }
            out.extend(vocab.token_to_piece(tok, false, None));
            produced += 1;
            if produced == max_new {
                break;
            }
            batch.clear();
            batch
                .add(tok, self.kv.len() as i32, &[0], true)
                .map_err(|e| EngineError::Internal(format!("batch: {e}")))?;
            if let Err(e) = ctx.decode(&mut batch) {
                self.kv.clear();
                self.whole = 0;
                ctx.clear_kv_cache();
                return Err(EngineError::Internal(format!("decode: {e}")));
            }
            self.kv.push(tok);
            idx = 0;
        }
        let text = String::from_utf8_lossy(&out).into_owned();
        let id = &sha256_bytes(body.to_string().as_bytes())[..24];
        Ok(json!({
            "id": format!("chatcmpl-{id}"),
            "object": "chat.completion",
            "created": 0,
            "model": info.name,
            "system_fingerprint": info.fingerprint(),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": tokens.len(), "completion_tokens": produced, "total_tokens": tokens.len() + produced},
        }))
    }
}
