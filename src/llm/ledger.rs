//! The hash-chained ledger (`runs/<id>/ledger.jsonl`) and its content-addressed body store
//! (`runs/<id>/bodies/<aa>/<sha256>`).
//!
//! Every line is one record: a sequence number, the previous record's hash, the entry, and the
//! sha256 of the record's own canonical JSON (without the `hash` field). A record is written and
//! fsynced before the answer it holds is used, so a run killed at any instant resumes with every
//! answer it ever acted on. Bodies are written (atomically, fsynced) before the record that names
//! them.

use super::provider::Finish;
use crate::data::runfile::{canonical_json, sha256_bytes, write_atomic};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
pub const LEDGER_FILE: &str = "ledger.jsonl";

/// How an exchange ended. Only `Ok`, `Truncated`, `Refusal` and `ContentFilter` are answers
/// (paid for, cached, replayable); `Error` is never served from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Truncated,
    Refusal,
    ContentFilter,
    Error,
}

impl Status {
    pub fn is_answer(self) -> bool {
        self != Status::Error
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 429 after every retry.
    RateLimited,
    /// 5xx (or 408/409) after every retry.
    Server,
    Timeout,
    Connection,
    /// A 2xx body that is not the provider's answer format.
    MalformedResponse,
    /// A 2xx answer that is not JSON by its content type (a proxy page, say).
    WrongContentType,
    /// Another 4xx (bad request, auth, not found): not retried.
    Client,
    /// Not sent: the run's cost cap would be exceeded.
    CostCap,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub kind: ErrorKind,
    pub http_status: Option<u16>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Network,
    Replay,
}

/// One request and how it was answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// The model file's name (judge or planner label).
    pub endpoint: String,
    pub provider: String,
    pub model: String,
    /// sha256 of the canonical request: the cache key.
    pub request: String,
    /// sha256 of the stored HTTP request body.
    pub request_body: String,
    /// Caller's label (task id), not part of the key.
    pub tag: String,
    pub status: Status,
    pub error: Option<ErrorInfo>,
    /// HTTP attempts made (retries = attempts − 1).
    pub attempts: u32,
    /// One line per attempt, e.g. `429 retry-after 1.000s`, `200`.
    pub attempt_log: Vec<String>,
    /// sha256 of the stored raw response body of the last attempt.
    pub response_body: Option<String>,
    pub text: Option<String>,
    pub finish: Option<Finish>,
    /// Model and fingerprint as the provider returned them.
    pub model_returned: Option<String>,
    pub fingerprint: Option<String>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A process opened the ledger (a run or a resume).
    Open {
        version: String,
    },
    Exchange(Box<Exchange>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub prev: String,
    #[serde(flatten)]
    pub entry: Entry,
    pub hash: String,
}

impl Record {
    fn seal(seq: u64, prev: String, entry: Entry) -> Record {
        let mut r = Record {
            seq,
            prev,
            entry,
            hash: String::new(),
        };
        r.hash = record_hash(&serde_json::to_value(&r).expect("record json"));
        r
    }
}

/// sha256 of a record's canonical JSON without its `hash` field.
fn record_hash(v: &Value) -> String {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("hash");
    }
    sha256_bytes(canonical_json(&v).as_bytes())
}

/// Where and how a chain is broken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: line {line}: {msg}")]
pub struct ChainError {
    pub path: String,
    pub line: usize,
    pub msg: String,
}

/// Read and check a ledger file: every line parses, hashes to its `hash`, follows the previous
/// record's hash and carries the next sequence number. A final line without its newline (a write
/// cut by a crash) is reported separately as `torn`, not as an error.
pub fn read_chain(path: &Path) -> Result<(Vec<Record>, Option<u64>), ChainError> {
    let err = |line: usize, msg: String| ChainError {
        path: path.display().to_string(),
        line,
        msg,
    };
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), None)),
        Err(e) => return Err(err(0, e.to_string())),
    };
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None => 0,
    };
    let torn = (complete < bytes.len()).then_some(complete as u64);
    let mut out: Vec<Record> = Vec::new();
    let body = &bytes[..complete.saturating_sub(1)];
    let lines = (complete > 0).then(|| body.split(|&b| b == b'\n'));
    for (i, line) in lines.into_iter().flatten().enumerate() {
        let n = i + 1;
        let v: Value = serde_json::from_slice(line).map_err(|e| {
            err(
                n,
                format!("not a JSON record ({e}); the record was altered"),
            )
        })?;
        let stated = v.get("hash").and_then(Value::as_str).unwrap_or("");
        if record_hash(&v) != stated {
            return Err(err(
                n,
                "record hash mismatch: the record was altered".into(),
            ));
        }
        let r: Record =
            serde_json::from_value(v).map_err(|e| err(n, format!("field error: {e}")))?;
        let expected = out.len() as u64;
        if r.seq != expected {
            let why = if r.seq > expected {
                format!("seq {} where {expected} was expected: record {expected} is missing or out of order", r.seq)
            } else {
                format!(
                    "seq {} where {expected} was expected: records are out of order",
                    r.seq
                )
            };
            return Err(err(n, why));
        }
        let prev = out.last().map(|p| p.hash.as_str()).unwrap_or(GENESIS);
        if r.prev != prev {
            return Err(err(
                n,
                "prev does not match the previous record's hash: the chain is broken".into(),
            ));
        }
        out.push(r);
    }
    Ok((out, torn))
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub records: usize,
    pub exchanges: usize,
    pub answers: usize,
    pub head: String,
    pub bodies: usize,
}

/// Re-walk a run's chain and check every stored body against its hash.
pub fn verify(run: &Path) -> Result<Verified, ChainError> {
    let path = run.join(LEDGER_FILE);
    if !path.exists() {
        return Err(ChainError {
            path: path.display().to_string(),
            line: 0,
            msg: "no ledger".into(),
        });
    }
    let (records, torn) = read_chain(&path)?;
    if let Some(at) = torn {
        return Err(ChainError {
            path: path.display().to_string(),
            line: records.len() + 1,
            msg: format!("incomplete last record at byte {at} (a write cut short; resuming the run repairs it)"),
        });
    }
    let mut bodies = 0;
    let (mut exchanges, mut answers) = (0, 0);
    for (i, r) in records.iter().enumerate() {
        if let Entry::Exchange(x) = &r.entry {
            exchanges += 1;
            answers += usize::from(x.status.is_answer());
            for h in std::iter::once(&x.request_body).chain(x.response_body.iter()) {
                let p = body_path(run, h);
                let ok = fs::read(&p).map(|b| sha256_bytes(&b) == *h);
                match ok {
                    Ok(true) => bodies += 1,
                    Ok(false) => {
                        return Err(ChainError {
                            path: path.display().to_string(),
                            line: i + 1,
                            msg: format!("stored body {h} does not match its hash"),
                        })
                    }
                    Err(_) => {
                        return Err(ChainError {
                            path: path.display().to_string(),
                            line: i + 1,
                            msg: format!("stored body {h} is missing"),
                        })
                    }
                }
            }
        }
    }
    Ok(Verified {
        records: records.len(),
        exchanges,
        answers,
        head: records
            .last()
            .map(|r| r.hash.clone())
            .unwrap_or_else(|| GENESIS.to_string()),
        bodies,
    })
}

pub fn body_path(run: &Path, hash: &str) -> PathBuf {
    run.join("bodies")
        .join(&hash[..2.min(hash.len())])
        .join(hash)
}

struct Tail {
    file: File,
    next_seq: u64,
    head: String,
}

/// An open ledger: appends records, stores bodies, and answers cache lookups.
pub struct Ledger {
    dir: PathBuf,
    tail: Mutex<Tail>,
    answers: Mutex<HashMap<String, Exchange>>,
}

/// Every answer of a chain, by request hash (the first one recorded wins).
pub fn answers_of(records: &[Record]) -> HashMap<String, Exchange> {
    let mut m = HashMap::new();
    for r in records {
        if let Entry::Exchange(x) = &r.entry {
            if x.status.is_answer() {
                m.entry(x.request.clone()).or_insert_with(|| (**x).clone());
            }
        }
    }
    m
}

impl Ledger {
    /// Open (or create) the ledger of a run directory. A torn last line from a crash is cut off;
    /// any other damage refuses to open, pointing at `pertaudit verify`.
    pub fn open(dir: &Path) -> anyhow::Result<Ledger> {
        fs::create_dir_all(dir.join("bodies"))
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        let path = dir.join(LEDGER_FILE);
        let (records, torn) = read_chain(&path).map_err(|e| {
            anyhow::anyhow!("{e} (run `pertaudit verify {}` for details)", dir.display())
        })?;
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if let Some(at) = torn {
            eprintln!(
                "warning: {}: cut an incomplete last record (a write interrupted by a crash; its answer was never used)",
                path.display()
            );
            file.set_len(at)?;
            file.seek(SeekFrom::End(0))?;
            file.sync_all()?;
        }
        let answers = answers_of(&records);
        let ledger = Ledger {
            dir: dir.to_path_buf(),
            tail: Mutex::new(Tail {
                file,
                next_seq: records.len() as u64,
                head: records
                    .last()
                    .map(|r| r.hash.clone())
                    .unwrap_or_else(|| GENESIS.into()),
            }),
            answers: Mutex::new(answers),
        };
        ledger.append(Entry::Open {
            version: env!("CARGO_PKG_VERSION").to_string(),
        })?;
        Ok(ledger)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Store a body under its sha256 (once), fsynced; returns the hash.
    pub fn put_body(&self, bytes: &[u8]) -> std::io::Result<String> {
        let h = sha256_bytes(bytes);
        let p = body_path(&self.dir, &h);
        if !p.exists() {
            write_atomic(&p, bytes)?;
        }
        Ok(h)
    }

    pub fn body(&self, hash: &str) -> std::io::Result<Vec<u8>> {
        fs::read(body_path(&self.dir, hash))
    }

    /// Append an entry: one line, written and fsynced before this returns.
    pub fn append(&self, entry: Entry) -> std::io::Result<Record> {
        let mut t = self.tail.lock().expect("ledger lock");
        let rec = Record::seal(t.next_seq, t.head.clone(), entry);
        let mut line = serde_json::to_vec(&rec).expect("record json");
        line.push(b'\n');
        t.file.write_all(&line)?;
        t.file.sync_data()?;
        t.next_seq += 1;
        t.head = rec.hash.clone();
        drop(t);
        if let Entry::Exchange(x) = &rec.entry {
            if x.status.is_answer() {
                self.answers
                    .lock()
                    .expect("answers lock")
                    .entry(x.request.clone())
                    .or_insert_with(|| (**x).clone());
            }
        }
        Ok(rec)
    }

    /// The recorded answer to a request, if this run already has one.
    pub fn answer(&self, request: &str) -> Option<Exchange> {
        self.answers
            .lock()
            .expect("answers lock")
            .get(request)
            .cloned()
    }

    pub fn head(&self) -> String {
        self.tail.lock().expect("ledger lock").head.clone()
    }
}

/// Read every record of a ledger that the caller needs to iterate (reports, stats).
pub fn exchanges(run: &Path) -> Result<Vec<Exchange>, ChainError> {
    let (records, _) = read_chain(&run.join(LEDGER_FILE))?;
    Ok(records
        .into_iter()
        .filter_map(|r| match r.entry {
            Entry::Exchange(x) => Some(*x),
            Entry::Open { .. } => None,
        })
        .collect())
}

/// Lines of a ledger file, for tests and tools that tamper or inspect.
pub fn lines(path: &Path) -> std::io::Result<Vec<String>> {
    BufReader::new(File::open(path)?).lines().collect()
}
