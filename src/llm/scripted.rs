//! A scripted OpenAI-compatible and Anthropic server on 127.0.0.1, for tests and the client
//! benchmark. It is a real HTTP server (axum over TCP); what it answers is chosen by a
//! `#scenario:NAME` directive anywhere in the request's messages:
//!
//! | scenario       | answer                                                          |
//! |----------------|-----------------------------------------------------------------|
//! | (none), `ok`   | 200, a text answer derived from the request                     |
//! | `429_once`     | 429 with `Retry-After: 1` on the first attempt, then 200        |
//! | `500_once`     | 500 on the first attempt, then 200                              |
//! | `500_always`   | 500 on every attempt                                            |
//! | `timeout_once` | first attempt answers after 30 s, then 200                      |
//! | `timeout`      | every attempt answers after 30 s                                |
//! | `malformed`    | 200 with a cut-off JSON body                                    |
//! | `truncated`    | 200, `finish_reason: length` / `stop_reason: max_tokens`        |
//! | `refusal`      | 200, a refusal                                                  |
//! | `filter`       | 200, `finish_reason: content_filter`                            |
//! | `html`         | 200 with `text/html` (a proxy's page)                           |
//! | `echo_auth`    | 401 whose message echoes the credentials it was sent            |
//!
//! Every answer waits the server's base delay first. The server counts requests per body hash.
//!
//! Judges with a fixed behaviour live under `/<persona>/v1/chat/completions`:
//! `always-a`, `always-b` (a verdict for one position whatever the batches), `prose` (an answer
//! with no JSON verdict), `refuse` (a refusal), `ribo` (prefers the batch with more ribosomal
//! protein genes, `RPL*`/`RPS*`; a tie when equal), `members` (prefers the batch with more
//! genes from the pathway member list shown in the prompt; a tie when equal),
//! `judge-planted` and `judge-planted-first` (the planted judges of `validate judges`, see
//! [`planted_verdict`]).
//!
//! Re-rankers read the shortlist and the count from the request's JSON schema:
//! `planner-good` (the first N shortlisted genes), `planner-unknown` (one gene not in the
//! shortlist), `planner-dups` (a gene twice), `planner-few` (N − 1 genes), `planner-fix`
//! (duplicates first, a valid answer once re-prompted), `planner-hash` (a valid answer chosen
//! by the sha256 of the whole request, so any change to the prompt changes the picks: the
//! re-ranker of the leak properties).
//!
//! Planted planners for `validate planner` (batch mode; see [`planted_picks`]):
//! `planner-memoriser`, `planner-context`, `planner-feedback`, `planner-ignorer`.

use crate::data::runfile::sha256_bytes;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
pub struct Counters {
    pub requests: AtomicU64,
    /// Body hash → attempts seen.
    pub per_body: Mutex<HashMap<String, u32>>,
    /// Body hashes in arrival order.
    pub log: Mutex<Vec<String>>,
}

struct Inner {
    delay: Duration,
    counters: Arc<Counters>,
}

pub struct ScriptedServer {
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ScriptedServer {
    /// Start on a free port of 127.0.0.1 inside the current tokio runtime.
    pub async fn start(delay: Duration) -> std::io::Result<ScriptedServer> {
        let counters = Arc::new(Counters::default());
        let state = Arc::new(Inner {
            delay,
            counters: counters.clone(),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .route("/{persona}/v1/chat/completions", post(persona))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(ScriptedServer {
            addr,
            counters,
            stop: Some(tx),
        })
    }

    /// A server with no delay on its own two-thread runtime (keep the runtime alive as long
    /// as the server is used): for the planted-effect validations.
    pub fn in_background() -> std::io::Result<(tokio::runtime::Runtime, ScriptedServer)> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let server = rt.block_on(ScriptedServer::start(Duration::ZERO))?;
        Ok((rt, server))
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::SeqCst)
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

struct Call {
    scenario: String,
    attempt: u32,
    text: String,
    prompt_tokens: u64,
    model: String,
}

async fn admit(state: &Inner, body: &Bytes) -> Result<Call, Response> {
    let hash = sha256_bytes(body);
    state.counters.requests.fetch_add(1, Ordering::SeqCst);
    state.counters.log.lock().unwrap().push(hash.clone());
    let attempt = {
        let mut m = state.counters.per_body.lock().unwrap();
        let n = m.entry(hash.clone()).or_insert(0);
        *n += 1;
        *n
    };
    tokio::time::sleep(state.delay).await;
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"message": format!("bad JSON: {e}")}})),
        )
            .into_response()
    })?;
    let mut all = String::new();
    if let Some(s) = v.get("system").and_then(Value::as_str) {
        all.push_str(s);
    }
    for m in v
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        all.push_str(m.get("content").and_then(Value::as_str).unwrap_or(""));
        all.push('\n');
    }
    let scenario = all
        .split("#scenario:")
        .nth(1)
        .map(|s| {
            s.split(|c: char| c.is_whitespace())
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_else(|| "ok".into());
    Ok(Call {
        scenario,
        attempt,
        text: format!("scripted answer {}", &hash[..12]),
        prompt_tokens: (all.len() as u64).div_ceil(4),
        model: v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string(),
    })
}

fn error(status: StatusCode, msg: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"message": msg, "type": "scripted"}})),
    )
        .into_response()
}

/// The non-answer scenarios shared by both wire formats; `None` means answer normally.
async fn misbehave(call: &Call, headers: &HeaderMap) -> Option<Response> {
    match (call.scenario.as_str(), call.attempt) {
        ("429_once", 1) => Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                axum::Json(json!({"error": {"message": "rate limited", "type": "rate_limit"}})),
            )
                .into_response(),
        ),
        ("500_once", 1) | ("500_always", _) => Some(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "scripted server error",
        )),
        ("timeout_once", 1) | ("timeout", _) => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            None
        }
        ("malformed", _) => Some(
            (
                [("content-type", "application/json")],
                "{\"choices\": [{\"message\": {\"con",
            )
                .into_response(),
        ),
        ("html", _) => Some(
            (
                [("content-type", "text/html")],
                "<html><body>proxy login</body></html>",
            )
                .into_response(),
        ),
        ("echo_auth", _) => {
            let cred = headers
                .get("authorization")
                .or_else(|| headers.get("x-api-key"))
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            Some(error(
                StatusCode::UNAUTHORIZED,
                &format!("invalid credentials: {cred}"),
            ))
        }
        _ => None,
    }
}

async fn openai(State(state): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let call = match admit(&state, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Some(r) = misbehave(&call, &headers).await {
        return r;
    }
    let (content, refusal, finish) = match call.scenario.as_str() {
        "truncated" => (json!(call.text[..10].to_string()), Value::Null, "length"),
        "refusal" => (Value::Null, json!("I can't help with that."), "stop"),
        "filter" => (Value::Null, Value::Null, "content_filter"),
        _ => (json!(call.text), Value::Null, "stop"),
    };
    axum::Json(json!({
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "model": call.model,
        "system_fingerprint": "fp_scripted",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": refusal}, "finish_reason": finish}],
        "usage": {"prompt_tokens": call.prompt_tokens, "completion_tokens": 6, "total_tokens": call.prompt_tokens + 6},
    }))
    .into_response()
}

/// The two batches' sections of a judge prompt.
fn batches(user: &str) -> (&str, &str) {
    // The pairwise template ("Batch A (…") or its paraphrase ("…, called A, …").
    let (ma, mb) = if user.contains("Batch A (") {
        ("Batch A (", "Batch B (")
    } else {
        ("called A,", "called B,")
    };
    let a = user
        .split(ma)
        .nth(1)
        .and_then(|x| x.split(mb).next())
        .unwrap_or("");
    (a, user.split(mb).nth(1).unwrap_or(""))
}

/// A verdict for the batch with the larger count (a tie when equal).
fn prefer(a: usize, b: usize, what: &str) -> String {
    let w = match a.cmp(&b) {
        std::cmp::Ordering::Greater => "A",
        std::cmp::Ordering::Less => "B",
        std::cmp::Ordering::Equal => "tie",
    };
    json!({"winner": w, "reason": format!("{a} vs {b} {what}")}).to_string()
}

/// The position bias of `judge-planted-first`, on the probit scale (towards batch A).
pub const PLANTED_POSITION_BIAS: f64 = 1.0;

/// The planted quality of a batch: the sum of `quality=<x>` over its genes' annotations.
fn quality(batch: &str) -> f64 {
    batch
        .split("quality=")
        .skip(1)
        .filter_map(|t| {
            t.split(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | 'e')))
                .next()
                .and_then(|x| x.parse::<f64>().ok())
        })
        .sum()
}

/// The planted judge (`validate judges`): batch A wins with probability
/// Φ(q_A − q_B + bias), decided by the uniform that the request's sha256 gives (so each
/// judge, order and item draws its own, and a replayed request gets the same verdict).
pub fn planted_verdict(qa: f64, qb: f64, bias: f64, request_sha256: &str) -> String {
    use statrs::distribution::{ContinuousCDF, Normal};
    let p = Normal::standard().cdf(qa - qb + bias);
    let u =
        u64::from_str_radix(&request_sha256[..13], 16).unwrap_or(0) as f64 / (1u64 << 52) as f64;
    let w = if u < p { "A" } else { "B" };
    json!({"winner": w, "reason": format!("planted: P(A) = {p:.4}")}).to_string()
}

fn count_ribo(batch: &str) -> usize {
    batch
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .filter(|g| g.starts_with("RPL") || g.starts_with("RPS"))
        .count()
}

async fn persona(
    State(state): State<Arc<Inner>>,
    axum::extract::Path(who): axum::extract::Path<String>,
    body: Bytes,
) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let user: String = v["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str())
        .collect();
    let call = match admit(&state, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (text, refusal) = match who.as_str() {
        "always-a" => (
            json!({"winner": "A", "reason": "the first batch"}).to_string(),
            None,
        ),
        "always-b" => (
            json!({"winner": "B", "reason": "the second batch"}).to_string(),
            None,
        ),
        "prose" => (
            "Batch A looks more relevant to the pathway overall.".to_string(),
            None,
        ),
        "refuse" => (String::new(), Some("I can't help with that request.")),
        "members" => {
            let members: std::collections::BTreeSet<&str> = user
                .lines()
                .find_map(|l| l.strip_prefix("Pathway members ("))
                .and_then(|l| l.split_once("): "))
                .map(|(_, list)| list.split(", ").map(str::trim).collect())
                .unwrap_or_default();
            let count = |batch: &str| {
                batch
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("- "))
                    .filter_map(|l| l.split(':').next())
                    .filter(|g| members.contains(g.trim()))
                    .count()
            };
            let (a, b) = batches(&user);
            (prefer(count(a), count(b), "pathway members"), None)
        }
        "judge-planted" | "judge-planted-first" => {
            let bias = if who == "judge-planted-first" {
                PLANTED_POSITION_BIAS
            } else {
                0.0
            };
            let (a, b) = batches(&user);
            (
                planted_verdict(quality(a), quality(b), bias, &sha256_bytes(&body)),
                None,
            )
        }
        "ribo" => {
            let (a, b) = batches(&user);
            (
                prefer(count_ribo(a), count_ribo(b), "ribosomal genes"),
                None,
            )
        }
        p if p.starts_with("planner-")
            && v["response_format"]["json_schema"]["schema"]["properties"]["gene"].is_object() =>
        {
            // Sequential re-ranking: one gene per call; `planner-good` takes the first
            // allowed, the others answer with a gene outside the enum.
            let allowed =
                &v["response_format"]["json_schema"]["schema"]["properties"]["gene"]["enum"];
            let g = match p {
                "planner-good" => allowed[0].as_str().unwrap_or("").to_string(),
                "planner-hash" => {
                    let n = allowed.as_array().map_or(0, Vec::len).max(1);
                    let h = u64::from_str_radix(&sha256_bytes(&body)[..15], 16).unwrap_or(0);
                    allowed[(h % n as u64) as usize]
                        .as_str()
                        .unwrap_or("")
                        .to_string()
                }
                _ => "NOTAGENE".to_string(),
            };
            (
                json!({"gene": g, "rationale": format!("{g} fills a gap in coverage")}).to_string(),
                None,
            )
        }
        p if p.starts_with("planner-") => {
            let schema = &v["response_format"]["json_schema"]["schema"]["properties"]["picks"];
            let names: Vec<String> = schema["items"]["properties"]["gene"]["enum"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect();
            let n = schema["minItems"].as_u64().unwrap_or(1) as usize;
            let reprompted = user.contains("That answer is invalid");
            let mut genes: Vec<String> = names.iter().take(n).cloned().collect();
            match p {
                "planner-good" => {}
                "planner-hash" => {
                    // A permutation of the shortlist keyed by the request's hash.
                    let h = sha256_bytes(&body);
                    let mut keyed: Vec<(String, &String)> = names
                        .iter()
                        .map(|g| (sha256_bytes(format!("{h}{g}").as_bytes()), g))
                        .collect();
                    keyed.sort();
                    genes = keyed.into_iter().take(n).map(|(_, g)| g.clone()).collect();
                }
                "planner-memoriser" | "planner-context" | "planner-feedback"
                | "planner-ignorer" => {
                    genes = planted_picks(p, &user, &names, n, &sha256_bytes(&body));
                }
                "planner-unknown" => genes[0] = "NOTAGENE".into(),
                "planner-dups" => genes[1] = genes[0].clone(),
                "planner-few" => {
                    genes.pop();
                }
                "planner-fix" if !reprompted => genes[1] = genes[0].clone(),
                "planner-fix" => {}
                other => return error(StatusCode::NOT_FOUND, &format!("no persona {other}")),
            }
            let picks: Vec<Value> = genes
                .iter()
                .map(|g| json!({"gene": g, "rationale": format!("{g} fills a gap in coverage")}))
                .collect();
            (json!({"picks": picks}).to_string(), None)
        }
        other => return error(StatusCode::NOT_FOUND, &format!("no persona {other}")),
    };
    let content = if refusal.is_some() {
        Value::Null
    } else {
        json!(text)
    };
    axum::Json(json!({
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "model": call.model,
        "system_fingerprint": format!("fp_{who}"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": refusal}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": call.prompt_tokens, "completion_tokens": 12, "total_tokens": call.prompt_tokens + 12},
    }))
    .into_response()
}

async fn anthropic(State(state): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let call = match admit(&state, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Some(r) = misbehave(&call, &headers).await {
        return r;
    }
    let (text, stop) = match call.scenario.as_str() {
        "truncated" => (call.text[..10].to_string(), "max_tokens"),
        "refusal" => (String::new(), "refusal"),
        _ => (call.text.clone(), "end_turn"),
    };
    axum::Json(json!({
        "id": "msg_scripted",
        "type": "message",
        "role": "assistant",
        "model": call.model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop,
        "usage": {"input_tokens": call.prompt_tokens, "output_tokens": 6},
    }))
    .into_response()
}

/// A simulated symbol's complex (`SIMP1C2`) and pathway (`SIMP1`) keys; `SIMB` for background.
fn group(symbol: &str) -> (String, String) {
    let Some(rest) = symbol.strip_prefix("SIMP") else {
        let head: String = symbol
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        return (head.clone(), head);
    };
    let k: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let after = &rest[k.len()..];
    let c: String = after
        .strip_prefix('C')
        .map(|x| x.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    (format!("SIMP{k}C{c}"), format!("SIMP{k}"))
}

/// The target pathway's number: the trailing digits of the prompt's "Target pathway:" line.
fn target_number(user: &str) -> Option<String> {
    let name = user
        .lines()
        .find_map(|l| l.strip_prefix("Target pathway: "))?
        .trim();
    let digits: String = name
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    (!digits.is_empty()).then_some(digits)
}

/// The picks of a planted planner with known behaviour, on a simulated screen's prompt
/// (`pertaudit simulate` names member genes `SIMP<k>C<c>G<j>` and annotates them "… of pathway
/// k."). Each scores every shortlisted candidate and takes the best `n`; ties are broken by a
/// hash of the whole request, so any change to the prompt reshuffles equal candidates (as a
/// real model's answers change with the prompt):
///
/// - `planner-memoriser`: knows genes by their symbols only (a hidden popularity score: 1 for
///   a symbol of the target pathway, else 0); once masked it has nothing to go on.
/// - `planner-context` and `planner-ignorer`: read the annotation ("of pathway k") and nothing
///   else, so masking and the feedback controls leave their information intact.
/// - `planner-feedback`: knows which genes share a complex (from their symbols, as a model knows
///   PSMA1 and PSMA2 belong together) and ranks a candidate by the pathway-likeness shown for
///   its measured complex-mates (else its pathway-mates, else the mean of all shown values);
///   while no likeness is shown (fewer than two pathway members measured), by their response
///   strength. Permuting the outcomes leaves it guessing.
pub fn planted_picks(
    who: &str,
    user: &str,
    names: &[String],
    n: usize,
    request_hash: &str,
) -> Vec<String> {
    let k = target_number(user).unwrap_or_default();
    let mut lines: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    let mut likeness: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
    let mut strength: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
    for l in user.lines().filter_map(|l| l.strip_prefix("- ")) {
        if let Some((id, rest)) = l.split_once(" (uncertainty ") {
            lines.insert(id.trim(), rest);
        } else if let Some((id, rest)) = l.split_once(": strength ") {
            if let Some(v) = rest
                .split("pathway-likeness ")
                .nth(1)
                .and_then(|x| x.trim().parse::<f64>().ok())
            {
                likeness.insert(id.trim(), v);
            }
            if let Some(v) = rest
                .split(',')
                .next()
                .and_then(|x| x.trim().parse::<f64>().ok())
            {
                strength.insert(id.trim(), v / 100.0);
            }
        }
    }
    // Likeness to the pathway once any is shown; before that, response strength.
    let outcome = if likeness.is_empty() {
        &strength
    } else {
        &likeness
    };
    let overall = if outcome.is_empty() {
        0.0
    } else {
        outcome.values().sum::<f64>() / outcome.len() as f64
    };
    let score = |g: &str| -> f64 {
        let rest = lines.get(g).copied().unwrap_or("");
        match who {
            "planner-memoriser" => f64::from(!k.is_empty() && g.starts_with(&format!("SIMP{k}C"))),
            "planner-feedback" => {
                // The measured complex-mates' shown likeness, else the pathway-mates', else all.
                let mean_of = |key: &str| {
                    let v: Vec<f64> = outcome
                        .iter()
                        .filter(|(m, _)| group(m).0 == key || group(m).1 == key)
                        .map(|(_, l)| *l)
                        .collect();
                    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
                };
                let (complex, pathway) = group(g);
                mean_of(&complex)
                    .or_else(|| mean_of(&pathway))
                    .unwrap_or(overall)
            }
            _ => f64::from(!k.is_empty() && rest.contains(&format!("of pathway {k}."))),
        }
    };
    let mut scored: Vec<(f64, String, &String)> = names
        .iter()
        .map(|g| {
            (
                score(g),
                sha256_bytes(format!("{request_hash}{g}").as_bytes()),
                g,
            )
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(n).map(|x| x.2.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(ids: &[(&str, &str)], outcomes: &[(&str, &str)]) -> String {
        let mut s = String::from("Target pathway: SIM_PATHWAY_1\nMeasured responses (…):\n");
        for (g, l) in outcomes {
            s.push_str(&format!("- {g}: strength 50, pathway-likeness {l}\n"));
        }
        s.push_str("Shortlist (…):\n");
        for (id, ann) in ids {
            s.push_str(&format!("- {id} (uncertainty 0.500): {ann}\n"));
        }
        s
    }

    #[test]
    fn planted_planners_use_what_they_are_said_to_use() {
        let cands = [
            (
                "SIMP1C1G01",
                "simulated gene. Cellular component: simulated complex 1 of pathway 2.",
            ),
            (
                "SIMP2C1G01",
                "simulated gene. Cellular component: simulated complex 1 of pathway 1.",
            ),
            ("SIMB001", "simulated gene of no modelled pathway."),
        ];
        let names: Vec<String> = cands.iter().map(|c| c.0.to_string()).collect();
        let outcomes = [
            ("SIMP1C1G02", "+0.90"),
            ("SIMP2C1G05", "-0.10"),
            ("SIMB004", "+0.05"),
        ];
        let p = prompt(&cands, &outcomes);
        let pick = |who: &str, text: &str| planted_picks(who, text, &names, 1, "h")[0].clone();
        // The memoriser goes by symbol, the context user by annotation, the feedback user by
        // its complex-mates' shown likeness.
        assert_eq!(pick("planner-memoriser", &p), "SIMP1C1G01");
        assert_eq!(pick("planner-context", &p), "SIMP2C1G01");
        assert_eq!(pick("planner-ignorer", &p), "SIMP2C1G01");
        assert_eq!(pick("planner-feedback", &p), "SIMP1C1G01");
        // Permuted outcomes move the feedback user, not the ignorer.
        let q = prompt(
            &cands,
            &[
                ("SIMP1C1G02", "-0.10"),
                ("SIMP2C1G05", "+0.90"),
                ("SIMB004", "+0.05"),
            ],
        );
        assert_eq!(pick("planner-feedback", &q), "SIMP2C1G01");
        assert_eq!(pick("planner-ignorer", &q), "SIMP2C1G01");
        // Under masking the memoriser has nothing: its pick is the hash's, whichever ID.
        let masked: Vec<String> = ["XAAAAAA", "XBBBBBB", "XCCCCCC"].map(String::from).to_vec();
        let m = prompt(
            &[("XAAAAAA", ""), ("XBBBBBB", ""), ("XCCCCCC", "")],
            &outcomes,
        );
        let picks: std::collections::BTreeSet<String> = (0..40)
            .map(|i| planted_picks("planner-memoriser", &m, &masked, 1, &format!("{i}"))[0].clone())
            .collect();
        assert_eq!(picks.len(), 3);
    }
}
