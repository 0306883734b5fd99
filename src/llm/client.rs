//! The one async client every LLM call goes through: bounded concurrency and rate limits per
//! endpoint, bounded retries with back-off, a run-level cost cap, the cache (this run's ledger)
//! and offline replay (another run's ledger). Every exchange, answer or failure, is recorded in
//! the ledger and fsynced before the caller sees it.

use super::config::{ModelConfig, Provider};
use super::ledger::{
    answers_of, body_path, read_chain, Entry, ErrorInfo, ErrorKind, Exchange, Ledger, Source,
    Status, LEDGER_FILE,
};
use super::provider::{
    endpoint_url, error_message, parse_response, request_hash, wire_body, ChatRequest, Finish,
    Parsed,
};
use crate::numeric::seed;
use futures_util::stream::{self, StreamExt};
use rand::rngs::ChaCha8Rng;
use rand::RngExt;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The longest wait a rate-limit header may impose before the request is failed instead.
const MAX_SERVER_WAIT: Duration = Duration::from_secs(600);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no model named `{0}` is loaded")]
    UnknownEndpoint(String),
    #[error("replay: the ledger of {run} holds no answer to request {request} (model `{endpoint}`, task `{tag}`)")]
    NotInReplay {
        run: String,
        request: String,
        endpoint: String,
        tag: String,
    },
    #[error("ledger write failed: {0}")]
    Ledger(#[from] std::io::Error),
}

/// What a caller gets back: the recorded exchange, and whether it came from this run's ledger
/// without any call.
#[derive(Debug, Clone)]
pub struct Answer {
    pub exchange: Exchange,
    pub cached: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Stop sending once the run's spend plus the worst case of the next call would pass this.
    pub cost_cap_usd: Option<f64>,
    /// Answer every request from this run's ledger; a request it lacks is an error.
    pub replay: Option<PathBuf>,
    /// Seed of the `llm/jitter` stream (back-off jitter only; never changes an answer).
    pub seed: u64,
}

struct Bucket {
    cap: f64,
    level: f64,
    per_sec: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_minute: u32, now: Instant) -> Bucket {
        let cap = per_minute as f64;
        Bucket {
            cap,
            level: cap,
            per_sec: cap / 60.0,
            at: now,
        }
    }
    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + dt * self.per_sec).min(self.cap);
        self.at = now;
    }
    /// Time until `n` units are available (a request larger than the bucket waits for a full one).
    fn wait(&self, n: f64) -> Duration {
        let need = n.min(self.cap) - self.level;
        if need <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(need / self.per_sec)
        }
    }
    fn take(&mut self, n: f64) {
        self.level -= n.min(self.cap);
    }
}

struct Limiter {
    rpm: Option<Bucket>,
    tpm: Option<Bucket>,
    paused_until: Option<Instant>,
}

impl Limiter {
    fn try_take(&mut self, tokens: f64) -> Duration {
        let now = Instant::now();
        let mut w = self
            .paused_until
            .map_or(Duration::ZERO, |p| p.saturating_duration_since(now));
        for (b, n) in [(&mut self.rpm, 1.0), (&mut self.tpm, tokens)] {
            if let Some(b) = b {
                b.refill(now);
                w = w.max(b.wait(n));
            }
        }
        if w.is_zero() {
            if let Some(b) = &mut self.rpm {
                b.take(1.0);
            }
            if let Some(b) = &mut self.tpm {
                b.take(tokens);
            }
        }
        w
    }
}

struct Endpoint {
    cfg: ModelConfig,
    /// The in-process model of a `local` endpoint.
    local: Option<crate::llm::embedded::LocalHandle>,
    url: String,
    key: Option<String>,
    slots: Arc<Semaphore>,
    limiter: Mutex<Limiter>,
}

impl Endpoint {
    async fn admit(&self, tokens: f64) {
        loop {
            let w = self.limiter.lock().expect("limiter").try_take(tokens);
            if w.is_zero() {
                return;
            }
            tokio::time::sleep(w).await;
        }
    }

    /// Hold every request to this endpoint until `wait` from now (adaptive back-off on 429).
    fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut l = self.limiter.lock().expect("limiter");
        if l.paused_until.is_none_or(|p| p < until) {
            l.paused_until = Some(until);
        }
    }

    /// Remove the key from anything that is about to be stored or shown.
    fn scrub(&self, bytes: &[u8]) -> Vec<u8> {
        match &self.key {
            Some(k) if !k.is_empty() => replace_all(bytes, k.as_bytes(), b"[redacted]"),
            _ => bytes.to_vec(),
        }
    }
    fn scrub_str(&self, s: &str) -> String {
        String::from_utf8_lossy(&self.scrub(s.as_bytes())).into_owned()
    }
}

fn replace_all(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

struct Replay {
    dir: PathBuf,
    /// Each answer and the chain folder holding its bodies.
    answers: HashMap<String, (Exchange, PathBuf)>,
}

pub struct Client {
    http: reqwest::Client,
    ledger: Arc<Ledger>,
    endpoints: HashMap<String, Arc<Endpoint>>,
    replay: Option<Replay>,
    cost_cap: Option<f64>,
    /// (spent, reserved for calls in flight), USD.
    cost: Mutex<(f64, f64)>,
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    jitter: Mutex<ChaCha8Rng>,
    http_attempts: AtomicU64,
}

/// One attempt's outcome.
enum Attempt {
    Answer {
        parsed: Parsed,
        body: Vec<u8>,
        http: u16,
    },
    Retry {
        info: ErrorInfo,
        body: Option<Vec<u8>>,
        wait: Option<Duration>,
    },
    Fail {
        info: ErrorInfo,
        body: Option<Vec<u8>>,
    },
}

/// The final answer (parsed, raw body) or the final error (with the raw body, if any).
type Final = Result<(Parsed, Vec<u8>), (ErrorInfo, Option<Vec<u8>>)>;

struct Outcome {
    attempts: u32,
    log: Vec<String>,
    result: Final,
    /// The concurrency slot of the last attempt, held until its exchange is recorded, so at most
    /// `concurrency` calls per endpoint are ever paid for but not yet in the ledger.
    slot: OwnedSemaphorePermit,
}

impl Client {
    /// A client writing to `ledger` for the given models. Keys are read from the environment
    /// now (not in replay mode, which needs none).
    pub fn new(
        ledger: Arc<Ledger>,
        models: &[ModelConfig],
        opts: ClientOptions,
    ) -> anyhow::Result<Client> {
        // Answers recorded by shards of this run elsewhere (`ledger merge`) are this run's
        // answers too: served from their chains, never paid for again.
        for d in super::ledger_index::LedgerIndex::read(ledger.dir())?.dirs(ledger.dir()) {
            let (records, _) = read_chain(&d.join(LEDGER_FILE))
                .map_err(|e| anyhow::anyhow!("indexed ledger: {e}"))?;
            ledger.adopt(answers_of(&records).into_values());
        }
        let mut endpoints = HashMap::new();
        let now = Instant::now();
        for m in models {
            let key = if opts.replay.is_some() {
                None
            } else {
                m.api_key()?
            };
            if endpoints.contains_key(&m.name) {
                anyhow::bail!(
                    "two model files are named `{}`; names must be unique",
                    m.name
                );
            }
            let local = match (m.provider, &opts.replay) {
                (Provider::Local, None) => {
                    let path = m
                        .model_path
                        .as_ref()
                        .map(PathBuf::from)
                        .unwrap_or_else(crate::llm::embedded::default_model_path);
                    let h = crate::llm::embedded::LocalHandle::open(&path)
                        .map_err(|e| anyhow::anyhow!("model `{}`: {e}", m.name))?;
                    let (name, _) = h.identity();
                    if name != m.model {
                        anyhow::bail!(
                            "model `{}`: `model = \"{}\"` but the file {} is `{name}`; the model field must name the file (it is part of the cache key)",
                            m.name, m.model, path.display()
                        );
                    }
                    Some(h)
                }
                _ => None,
            };
            endpoints.insert(
                m.name.clone(),
                Arc::new(Endpoint {
                    cfg: m.clone(),
                    local,
                    url: endpoint_url(m),
                    key,
                    slots: Arc::new(Semaphore::new(m.concurrency)),
                    limiter: Mutex::new(Limiter {
                        rpm: m.requests_per_minute.map(|r| Bucket::new(r, now)),
                        tpm: m.tokens_per_minute.map(|t| Bucket::new(t, now)),
                        paused_until: None,
                    }),
                }),
            );
        }
        let replay = match &opts.replay {
            None => None,
            Some(dir) => {
                // The run's chain, then the shard chains it indexes (`ledger merge`).
                let mut answers = HashMap::new();
                let mut any = false;
                for d in std::iter::once(dir.clone())
                    .chain(super::ledger_index::LedgerIndex::read(dir)?.dirs(dir))
                {
                    let path = d.join(LEDGER_FILE);
                    if d == *dir && !path.exists() {
                        continue;
                    }
                    let (records, _) =
                        read_chain(&path).map_err(|e| anyhow::anyhow!("replay: {e}"))?;
                    any |= !records.is_empty();
                    for (h, x) in answers_of(&records) {
                        answers.entry(h).or_insert((x, d.clone()));
                    }
                }
                if !any {
                    anyhow::bail!("replay: {} has no ledger records", dir.display());
                }
                Some(Replay {
                    dir: dir.clone(),
                    answers,
                })
            }
        };
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("pertaudit/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client {
            http,
            ledger,
            endpoints,
            replay,
            cost_cap: opts.cost_cap_usd,
            cost: Mutex::new((0.0, 0.0)),
            inflight: Mutex::new(HashMap::new()),
            jitter: Mutex::new(seed::stream(opts.seed, "llm/jitter")),
            http_attempts: AtomicU64::new(0),
        })
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    pub fn model(&self, name: &str) -> Option<&ModelConfig> {
        self.endpoints.get(name).map(|e| &e.cfg)
    }

    /// HTTP attempts sent by this client (retries included).
    pub fn http_attempts(&self) -> u64 {
        self.http_attempts.load(Ordering::Relaxed)
    }

    /// Requests whose per-key gate is still held (0 when the client is idle).
    pub fn pending_gates(&self) -> usize {
        self.inflight.lock().expect("inflight").len()
    }

    /// USD spent by this client's own calls.
    pub fn spent(&self) -> f64 {
        self.cost.lock().expect("cost").0
    }

    /// Send one request (or answer it from the ledger / the replay), record it, return it.
    pub async fn complete(
        &self,
        endpoint: &str,
        req: &ChatRequest,
        tag: &str,
    ) -> Result<Answer, ClientError> {
        let ep = self
            .endpoints
            .get(endpoint)
            .ok_or_else(|| ClientError::UnknownEndpoint(endpoint.to_string()))?
            .clone();
        let hash = request_hash(&ep.cfg, req);
        if let Some(x) = self.ledger.answer(&hash) {
            return Ok(Answer {
                exchange: x,
                cached: true,
            });
        }
        // One request per key at a time: a duplicate waits and then finds the answer recorded.
        let gate = self
            .inflight
            .lock()
            .expect("inflight")
            .entry(hash.clone())
            .or_default()
            .clone();
        let held = gate.lock().await;
        let result = self.complete_once(&ep, req, tag, &hash).await;
        drop(held);
        // Forget the gate once nobody else holds it (a waiter finds the answer in the ledger).
        let mut inflight = self.inflight.lock().expect("inflight");
        if inflight
            .get(&hash)
            .is_some_and(|g| Arc::ptr_eq(g, &gate) && Arc::strong_count(g) == 2)
        {
            inflight.remove(&hash);
        }
        result
    }

    /// `complete` under the request's gate.
    async fn complete_once(
        &self,
        ep: &Arc<Endpoint>,
        req: &ChatRequest,
        tag: &str,
        hash: &str,
    ) -> Result<Answer, ClientError> {
        if let Some(x) = self.ledger.answer(hash) {
            return Ok(Answer {
                exchange: x,
                cached: true,
            });
        }
        if let Some(r) = &self.replay {
            return self.replay_one(r, ep, hash, tag).await;
        }
        let body = serde_json::to_vec(&wire_body(&ep.cfg, req)).expect("request json");
        let request_body = self.persist_body(body.clone()).await?;
        let mut x = Exchange {
            endpoint: ep.cfg.name.clone(),
            provider: ep.cfg.provider.as_str().to_string(),
            model: ep.cfg.model.clone(),
            request: hash.to_string(),
            request_body,
            tag: tag.to_string(),
            status: Status::Error,
            error: None,
            attempts: 0,
            attempt_log: Vec::new(),
            response_body: None,
            text: None,
            finish: None,
            model_returned: None,
            fingerprint: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: 0.0,
            source: Source::Network,
        };
        let est_prompt: u64 = req
            .messages
            .iter()
            .map(|m| m.content.len() as u64)
            .sum::<u64>()
            / 4
            + 16;
        let reserve = ep.cfg.cost(est_prompt, ep.cfg.max_tokens as u64);
        if let Some(cap) = self.cost_cap {
            let admitted = {
                let mut c = self.cost.lock().expect("cost");
                let fits = c.0 + c.1 + reserve <= cap;
                if fits {
                    c.1 += reserve;
                }
                fits
            };
            if !admitted {
                x.error = Some(ErrorInfo {
                    kind: ErrorKind::CostCap,
                    http_status: None,
                    message: format!("not sent: the run's cost cap of ${cap:.4} would be exceeded"),
                });
                return self.record(x).await;
            }
        }
        let out = self
            .send_with_retries(ep, &body, (est_prompt + ep.cfg.max_tokens as u64) as f64)
            .await;
        let _slot = out.slot;
        x.attempts = out.attempts;
        x.attempt_log = out.log;
        let response = match out.result {
            Ok((p, raw)) => {
                x.status = match p.finish {
                    Finish::Stop | Finish::Other(_) => Status::Ok,
                    Finish::Length => Status::Truncated,
                    Finish::Refusal => Status::Refusal,
                    Finish::ContentFilter => Status::ContentFilter,
                };
                x.cost_usd = ep.cfg.cost(p.prompt_tokens, p.completion_tokens);
                x.text = Some(p.text);
                x.finish = Some(p.finish);
                x.model_returned = p.model;
                x.fingerprint = p.fingerprint;
                x.prompt_tokens = p.prompt_tokens;
                x.completion_tokens = p.completion_tokens;
                Some(raw)
            }
            Err((info, raw)) => {
                x.error = Some(ErrorInfo {
                    message: ep.scrub_str(&info.message),
                    ..info
                });
                raw
            }
        };
        {
            let mut c = self.cost.lock().expect("cost");
            if self.cost_cap.is_some() {
                c.1 -= reserve;
            }
            c.0 += x.cost_usd;
        }
        if let Some(raw) = response {
            x.response_body = Some(self.persist_body(ep.scrub(&raw)).await?);
        }
        self.record(x).await
    }

    async fn persist_body(&self, bytes: Vec<u8>) -> Result<String, ClientError> {
        let ledger = self.ledger.clone();
        Ok(tokio::task::spawn_blocking(move || ledger.put_body(&bytes))
            .await
            .expect("body writer")?)
    }

    async fn record(&self, x: Exchange) -> Result<Answer, ClientError> {
        let ledger = self.ledger.clone();
        let rec = tokio::task::spawn_blocking(move || ledger.append(Entry::Exchange(Box::new(x))))
            .await
            .expect("ledger writer")?;
        match rec.entry {
            Entry::Exchange(x) => Ok(Answer {
                exchange: *x,
                cached: false,
            }),
            Entry::Open { .. } | Entry::Repair { .. } => unreachable!("appended an exchange"),
        }
    }

    async fn replay_one(
        &self,
        r: &Replay,
        ep: &Endpoint,
        hash: &str,
        tag: &str,
    ) -> Result<Answer, ClientError> {
        let Some((orig, chain)) = r.answers.get(hash) else {
            return Err(ClientError::NotInReplay {
                run: r.dir.display().to_string(),
                request: hash.to_string(),
                endpoint: ep.cfg.name.clone(),
                tag: tag.to_string(),
            });
        };
        for h in std::iter::once(&orig.request_body).chain(orig.response_body.iter()) {
            let bytes = std::fs::read(body_path(chain, h))?;
            self.persist_body(bytes).await?;
        }
        let mut x = orig.clone();
        x.source = Source::Replay;
        x.tag = tag.to_string();
        self.record(x).await
    }

    fn backoff(&self, cfg: &ModelConfig, attempt: u32) -> Duration {
        let base = cfg.backoff_secs * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        let capped = base.min(MAX_BACKOFF.as_secs_f64());
        let j: f64 = self.jitter.lock().expect("jitter").random();
        Duration::from_secs_f64(capped * (0.5 + 0.5 * j))
    }

    async fn send_with_retries(&self, ep: &Endpoint, body: &[u8], tokens: f64) -> Outcome {
        let mut log = Vec::new();
        let mut attempts = 0;
        loop {
            attempts += 1;
            ep.admit(tokens).await;
            let slot = ep
                .slots
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore open");
            self.http_attempts.fetch_add(1, Ordering::Relaxed);
            let attempt = self.send_once(ep, body).await;
            let last = attempts > ep.cfg.max_retries;
            match attempt {
                Attempt::Answer { parsed, body, http } => {
                    log.push(format!("{http}"));
                    return Outcome {
                        attempts,
                        log,
                        slot,
                        result: Ok((parsed, body)),
                    };
                }
                Attempt::Fail { info, body } => {
                    log.push(describe(&info));
                    return Outcome {
                        attempts,
                        log,
                        slot,
                        result: Err((info, body)),
                    };
                }
                Attempt::Retry { info, body, wait } => {
                    let wait = match wait {
                        Some(w) if w > MAX_SERVER_WAIT => {
                            log.push(format!(
                                "{} (asked to wait {:.0}s: too long)",
                                describe(&info),
                                w.as_secs_f64()
                            ));
                            return Outcome {
                                attempts,
                                log,
                                slot,
                                result: Err((info, body)),
                            };
                        }
                        Some(w) => w,
                        None => self.backoff(&ep.cfg, attempts),
                    };
                    if last {
                        log.push(describe(&info));
                        let info = ErrorInfo {
                            message: format!(
                                "{} (gave up after {attempts} attempts)",
                                info.message
                            ),
                            ..info
                        };
                        return Outcome {
                            attempts,
                            log,
                            slot,
                            result: Err((info, body)),
                        };
                    }
                    log.push(format!(
                        "{} retry in {:.3}s",
                        describe(&info),
                        wait.as_secs_f64()
                    ));
                    drop(slot);
                    if info.kind == ErrorKind::RateLimited {
                        ep.pause(wait);
                    } else {
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
    }

    /// A `local` endpoint's answer, shaped like an HTTP response.
    async fn send_local(
        &self,
        h: &crate::llm::embedded::LocalHandle,
        body: &[u8],
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        use crate::llm::embedded::EngineError;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            "application/json".parse().expect("header"),
        );
        let v: serde_json::Value = serde_json::from_slice(body).expect("our own request JSON");
        let (status, out) = match h.chat(v).await {
            Ok(a) => (200, a),
            Err(EngineError::BadRequest(m)) => (400, serde_json::json!({"error": {"message": m}})),
            Err(EngineError::Internal(m)) => (500, serde_json::json!({"error": {"message": m}})),
        };
        (status, headers, serde_json::to_vec(&out).expect("json"))
    }

    async fn send_once(&self, ep: &Endpoint, body: &[u8]) -> Attempt {
        let limit = Duration::from_secs_f64(ep.cfg.timeout_secs);
        if let Some(h) = &ep.local {
            return match tokio::time::timeout(limit, self.send_local(h, body)).await {
                Ok((status, headers, bytes)) => classify(ep, status, headers, bytes),
                Err(_) => Attempt::Retry {
                    info: ErrorInfo {
                        kind: ErrorKind::Timeout,
                        http_status: None,
                        message: format!("no answer within {:.1}s", limit.as_secs_f64()),
                    },
                    body: None,
                    wait: None,
                },
            };
        }
        let mut rb = self
            .http
            .post(&ep.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        match (ep.cfg.provider, &ep.key) {
            (Provider::Openai, Some(k)) => rb = rb.bearer_auth(k),
            (Provider::Anthropic, k) => {
                rb = rb.header("anthropic-version", "2023-06-01");
                if let Some(k) = k {
                    rb = rb.header("x-api-key", k);
                }
            }
            (Provider::Openai | Provider::Local, _) => {}
        }
        let fetched = tokio::time::timeout(limit, async {
            let resp = rb.send().await?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, bytes.to_vec()))
        })
        .await;
        let err = |kind, http_status, message: String| ErrorInfo {
            kind,
            http_status,
            message,
        };
        let (status, headers, bytes) = match fetched {
            Err(_) => {
                return Attempt::Retry {
                    info: err(
                        ErrorKind::Timeout,
                        None,
                        format!("no answer within {:.1}s", limit.as_secs_f64()),
                    ),
                    body: None,
                    wait: None,
                }
            }
            Ok(Err(e)) => {
                let kind = if e.is_timeout() {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Connection
                };
                let msg = ep.scrub_str(&error_chain(&e));
                return Attempt::Retry {
                    info: err(kind, None, msg),
                    body: None,
                    wait: None,
                };
            }
            Ok(Ok(t)) => t,
        };
        classify(ep, status, headers, bytes)
    }

    /// Run many requests concurrently (each endpoint's own limits apply) and return the answers
    /// in the order of `jobs`. `done` is called as each finishes (progress bars). The first fatal
    /// error (ledger write, replay miss) stops the batch; answers recorded so far are kept.
    pub async fn complete_all(
        &self,
        jobs: &[Job],
        done: impl Fn(&Answer),
    ) -> Result<Vec<Answer>, ClientError> {
        let width = self
            .endpoints
            .values()
            .map(|e| e.cfg.concurrency)
            .sum::<usize>()
            .max(1)
            * 4;
        let mut out: Vec<Option<Answer>> = vec![None; jobs.len()];
        let mut s = stream::iter(jobs.iter().enumerate())
            .map(|(i, j)| async move { (i, self.complete(&j.endpoint, &j.request, &j.tag).await) })
            .buffer_unordered(width);
        while let Some((i, r)) = s.next().await {
            let a = r?;
            done(&a);
            out[i] = Some(a);
        }
        Ok(out
            .into_iter()
            .map(|a| a.expect("every job answered"))
            .collect())
    }
}

/// Turn an HTTP status, headers and body into an attempt outcome.
fn classify(
    ep: &Endpoint,
    status: u16,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
) -> Attempt {
    let err = |kind, http_status, message: String| ErrorInfo {
        kind,
        http_status,
        message,
    };
    let provider_msg = || {
        error_message(&bytes)
            .map(|m| ep.scrub_str(&m))
            .unwrap_or_default()
    };
    match status {
        200..=299 => {
            let ctype = headers
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            if !ctype.contains("json") {
                let shown = if ctype.is_empty() {
                    "none".to_string()
                } else {
                    ctype
                };
                return Attempt::Fail {
                    info: err(
                        ErrorKind::WrongContentType,
                        Some(status),
                        format!("content type {shown}, expected JSON"),
                    ),
                    body: Some(bytes),
                };
            }
            match parse_response(ep.cfg.provider, &bytes) {
                Ok(parsed) => Attempt::Answer {
                    parsed,
                    body: bytes,
                    http: status,
                },
                Err(m) => Attempt::Fail {
                    info: err(ErrorKind::MalformedResponse, Some(status), m),
                    body: Some(bytes),
                },
            }
        }
        429 => Attempt::Retry {
            info: err(ErrorKind::RateLimited, Some(status), provider_msg()),
            wait: server_wait(&headers),
            body: Some(bytes),
        },
        408 | 409 | 500..=599 => Attempt::Retry {
            info: err(ErrorKind::Server, Some(status), provider_msg()),
            wait: server_wait(&headers),
            body: Some(bytes),
        },
        _ => Attempt::Fail {
            info: err(ErrorKind::Client, Some(status), provider_msg()),
            body: Some(bytes),
        },
    }
}

/// One request of a batch.
#[derive(Debug, Clone)]
pub struct Job {
    pub endpoint: String,
    pub request: ChatRequest,
    pub tag: String,
}

fn describe(info: &ErrorInfo) -> String {
    let kind = serde_json::to_value(info.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    match info.http_status {
        Some(s) => format!("{s} {kind}"),
        None => kind,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// The wait a server asks for: `retry-after-ms`, `retry-after` (seconds or an HTTP date), or the
/// OpenAI `x-ratelimit-reset-*` durations (`1s`, `6m0s`, `250ms`).
pub fn server_wait(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    if let Some(v) = get("retry-after") {
        if let Ok(s) = v.parse::<f64>() {
            if s.is_finite() && s >= 0.0 {
                return Some(Duration::from_secs_f64(s));
            }
        }
        if let Ok(t) = httpdate::parse_http_date(v) {
            return Some(
                t.duration_since(std::time::SystemTime::now())
                    .unwrap_or(Duration::ZERO),
            );
        }
    }
    ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"]
        .iter()
        .filter_map(|k| get(k).and_then(parse_go_duration))
        .max()
}

/// `1h2m3.5s`, `250ms`, `6m0s` → a duration.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut num = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    if s.is_empty() {
        return None;
    }
    while i < b.len() {
        let c = b[i] as char;
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            i += 1;
            continue;
        }
        let v: f64 = num.parse().ok()?;
        num.clear();
        let (unit, len) = if s[i..].starts_with("ms") {
            (1e-3, 2)
        } else {
            match c {
                'h' => (3600.0, 1),
                'm' => (60.0, 1),
                's' => (1.0, 1),
                _ => return None,
            }
        };
        total += v * unit;
        i += len;
    }
    if !num.is_empty() {
        total += num.parse::<f64>().ok()?;
    }
    Some(Duration::from_secs_f64(total))
}

/// Check that a run's directory exists and holds a ledger (for `--replay` arguments).
pub fn has_ledger(run: &Path) -> bool {
    run.join(LEDGER_FILE).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("x"), None);
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(server_wait(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(server_wait(&h), Some(Duration::from_millis(150)));
    }

    #[test]
    fn bucket_waits_for_refill() {
        let now = Instant::now();
        let mut b = Bucket::new(60, now);
        b.take(60.0);
        let w = b.wait(1.0);
        assert!((w.as_secs_f64() - 1.0).abs() < 1e-9);
        b.refill(now + Duration::from_secs(2));
        assert_eq!(b.wait(1.0), Duration::ZERO);
    }

    #[test]
    fn scrub_removes_key() {
        assert_eq!(
            replace_all(b"Bearer sk-1 sk-1x", b"sk-1", b"[r]"),
            b"Bearer [r] [r]x"
        );
    }
}
