//! `pertaudit query`, `pertaudit verify` and `pertaudit bench llm`: the I/O edge of the LLM layer.

use crate::cli::args::{BenchArgs, QueryArgs, VerifyArgs};
use crate::data::runfile::write_atomic;
use crate::llm::client::{Client, ClientOptions, Job};
use crate::llm::config::ModelConfig;
use crate::llm::ledger::{self, Ledger, Status};
use crate::llm::provider::{ChatRequest, Message};
use crate::llm::scripted::ScriptedServer;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A request line of a `query` file.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestLine {
    pub id: String,
    pub model: Option<String>,
    pub request: ChatRequest,
}

/// Parse a JSONL request file; errors name the file, line and field.
pub fn parse_requests(text: &str, path: &Path) -> Result<Vec<RequestLine>> {
    let mut out = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |field: &str, msg: String| {
            anyhow::anyhow!("{}: line {n}, field `{field}`: {msg}", path.display())
        };
        let v: Value = serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("{}: line {n}: not JSON ({e})", path.display()))?;
        let id = match v.get("id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(x)) => x.to_string(),
            _ => return Err(bad("id", "missing or empty".into())),
        };
        if !ids.insert(id.clone()) {
            return Err(bad("id", format!("`{id}` is repeated")));
        }
        let messages: Vec<Message> = serde_json::from_value(
            v.get("messages").cloned().unwrap_or(Value::Null),
        )
        .map_err(|e| {
            bad(
                "messages",
                format!("expected [{{\"role\", \"content\"}}, …] ({e})"),
            )
        })?;
        if messages.is_empty() {
            return Err(bad("messages", "empty".into()));
        }
        if let Some(m) = messages
            .iter()
            .find(|m| !["system", "user", "assistant"].contains(&m.role.as_str()))
        {
            return Err(bad(
                "messages",
                format!("role `{}` is not system/user/assistant", m.role),
            ));
        }
        let schema = match v.get("schema") {
            None | Some(Value::Null) => None,
            Some(s @ Value::Object(o)) if o.contains_key("schema") => Some(s.clone()),
            Some(_) => {
                return Err(bad(
                    "schema",
                    "expected {\"name\": ..., \"schema\": {...}}".into(),
                ))
            }
        };
        let sample = match v.get("sample") {
            None => 0,
            Some(x) => x
                .as_u64()
                .filter(|&s| s <= u32::MAX as u64)
                .ok_or_else(|| bad("sample", "not a small non-negative integer".into()))?
                as u32,
        };
        let model = match v.get("model") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(bad("model", "not a string".into())),
        };
        out.push(RequestLine {
            id,
            model,
            request: ChatRequest {
                messages,
                schema,
                sample,
            },
        });
    }
    Ok(out)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub fn query(a: &QueryArgs) -> Result<()> {
    let models: Vec<ModelConfig> = a
        .models
        .iter()
        .map(|p| ModelConfig::load(p))
        .collect::<Result<_>>()?;
    let text = crate::data::textio::read_to_string(&a.requests)?;
    let lines = parse_requests(&text, &a.requests)?;
    let mut jobs = Vec::with_capacity(lines.len());
    for l in &lines {
        let endpoint = match &l.model {
            None => models[0].name.clone(),
            Some(m) if models.iter().any(|c| &c.name == m) => m.clone(),
            Some(m) => bail!(
                "{}: request `{}`: field `model`: no model file named `{m}` was given",
                a.requests.display(),
                l.id
            ),
        };
        jobs.push(Job {
            endpoint,
            request: l.request.clone(),
            tag: l.id.clone(),
        });
    }
    if let Some(c) = a.cost_cap {
        if !(c >= 0.0 && c.is_finite()) {
            bail!("--cost-cap must be a non-negative number of USD");
        }
    }
    if let Some(r) = &a.replay {
        if !crate::llm::client::has_ledger(r) {
            bail!("--replay {}: no ledger.jsonl there", r.display());
        }
    }
    let ledger = Arc::new(Ledger::open(&a.run)?);
    let client = Client::new(
        ledger.clone(),
        &models,
        ClientOptions {
            cost_cap_usd: a.cost_cap,
            replay: a.replay.clone(),
            seed: a.seed,
        },
    )?;
    let pb = crate::cli::bars::progress(jobs.len() as u64, "query");
    let answers = runtime()?.block_on(client.complete_all(&jobs, |_| pb.inc(1)))?;
    pb.finish_and_clear();
    let mut out = String::new();
    for (l, ans) in lines.iter().zip(&answers) {
        let x = &ans.exchange;
        out.push_str(&serde_json::to_string(&json!({
            "id": l.id, "model": x.endpoint, "request": x.request, "status": x.status, "text": x.text,
            "finish": x.finish, "error": x.error, "attempts": x.attempts, "cached": ans.cached,
            "source": x.source, "prompt_tokens": x.prompt_tokens, "completion_tokens": x.completion_tokens,
            "cost_usd": x.cost_usd,
        }))?);
        out.push('\n');
    }
    match &a.out {
        Some(p) => write_atomic(p, out.as_bytes())
            .with_context(|| format!("{}: cannot write", p.display()))?,
        None => {
            use std::io::Write;
            std::io::stdout().write_all(out.as_bytes())?;
        }
    }
    let cached = answers.iter().filter(|a| a.cached).count();
    let failed = answers
        .iter()
        .filter(|a| a.exchange.status == Status::Error)
        .count();
    eprintln!(
        "{} requests: {} answered from the ledger, {} new, {} failed (recorded, never cached); {} HTTP attempts; ${:.6} spent; ledger head {}",
        answers.len(), cached, answers.len() - cached, failed, client.http_attempts(), client.spent(), &ledger.head()[..16]
    );
    Ok(())
}

pub fn verify(a: &VerifyArgs) -> Result<()> {
    if a.repair {
        let r = crate::llm::ledger::repair(&a.run)?;
        match &r.replaced {
            None => eprintln!("repair: nothing to repair"),
            Some(w) => eprintln!(
                "repair: re-appended {} answers from their stored copies; the watermark it replaced ({} records, head {}) is named in the ledger's repair record",
                r.restored,
                w.records,
                &w.head[..w.head.len().min(16)]
            ),
        }
    }
    let v = crate::audit::verify::verify_run(&a.run, a.inputs_from.as_deref())?;
    let chain = match &v.ledger {
        None => "ok: no LLM call was made (no ledger)".to_string(),
        Some(v) => {
            let mut s = format!(
                "ok: {} records ({} exchanges, {} answers), {} stored bodies checked; head {}",
                v.records, v.exchanges, v.answers, v.bodies, v.head
            );
            if v.repairs > 0 {
                s.push_str(&format!("; repaired {} time(s)", v.repairs));
            }
            if v.unrecorded > 0 {
                s.push_str(&format!(
                    "; {} stored answers not yet recorded (a crash before their records; the next resume records them)",
                    v.unrecorded
                ));
            }
            if v.orphan_bodies > 0 {
                s.push_str(&format!(
                    "; {} stored bodies no record names (crash leftovers)",
                    v.orphan_bodies
                ));
            }
            s
        }
    };
    let chain = if v.indexed_chains > 0 {
        format!(
            "{chain}; {} shard ledgers (ledgers.json) verified end to end",
            v.indexed_chains
        )
    } else {
        chain
    };
    let inputs = match v.locked_inputs {
        Some(n) => format!("; {n} locked inputs re-hashed, all unchanged"),
        None => String::new(),
    };
    outln!("{chain}{inputs}");
    Ok(())
}

pub fn bench(a: &BenchArgs) -> Result<()> {
    if a.requests == 0 || a.concurrency == 0 {
        bail!("--requests and --concurrency must be positive");
    }
    let dir = crate::cli::bench_dir("llm")?;
    let rt = runtime()?;
    let ideal = a.requests as f64 * a.delay_ms as f64 / 1000.0 / a.concurrency as f64;
    let (wall, attempts) = rt.block_on(async {
        let server = ScriptedServer::start(Duration::from_millis(a.delay_ms)).await?;
        let cfg = ModelConfig::parse(
            &format!(
                "name = \"bench\"\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"bench-model\"\nconcurrency = {}\nmax_retries = 0\n",
                server.base_url(),
                a.concurrency
            ),
            Path::new("bench.toml"),
        )?;
        let ledger = Arc::new(Ledger::open(&dir)?);
        let client = Client::new(ledger, &[cfg], ClientOptions::default())?;
        let jobs: Vec<Job> = (0..a.requests)
            .map(|i| Job {
                endpoint: "bench".into(),
                request: ChatRequest { messages: vec![Message::user(format!("benchmark request {i}"))], ..Default::default() },
                tag: i.to_string(),
            })
            .collect();
        let t = Instant::now();
        let answers = client.complete_all(&jobs, |_| {}).await?;
        let wall = t.elapsed().as_secs_f64();
        let ok = answers.iter().filter(|x| x.exchange.status == Status::Ok).count();
        if ok != a.requests {
            bail!("only {ok} of {} requests answered", a.requests);
        }
        anyhow::Ok((wall, client.http_attempts()))
    })?;
    let v = ledger::verify(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let _ = std::fs::remove_dir_all(&dir);
    outln!(
        "{} requests, concurrency {}, server delay {} ms: {:.3} s wall (ideal {:.3} s, {:+.1}%); {} HTTP attempts; ledger {} records verified",
        a.requests, a.concurrency, a.delay_ms, wall, ideal, (wall / ideal - 1.0) * 100.0, attempts, v.records
    );
    Ok(())
}

/// `ledger merge`: verify and index shard ledgers under one run.
pub fn ledger_merge(a: &crate::cli::args::LedgerMergeArgs) -> Result<()> {
    use crate::llm::ledger_index::{chain_name, merge};
    // Names from the folders' last components; as many as it takes to tell them apart.
    let names = (1..=8)
        .map(|k| a.dirs.iter().map(|d| chain_name(d, k)).collect::<Vec<_>>())
        .find(|n| {
            let mut s = n.clone();
            s.sort();
            s.dedup();
            s.len() == n.len()
        })
        .ok_or_else(|| anyhow::anyhow!("ledger merge: two folders have the same path"))?;
    let sources: Vec<_> = names.into_iter().zip(a.dirs.iter().cloned()).collect();
    let idx = merge(&a.out, &sources)?;
    for c in &idx.chains {
        outln!(
            "  {:<24} {:>6} records, head {}",
            c.name,
            c.records,
            &c.head[..16]
        );
    }
    outln!(
        "{} chains verified and indexed in {}",
        idx.chains.len(),
        a.out.join(crate::llm::ledger_index::INDEX_FILE).display()
    );
    Ok(())
}
