//! The hash-chained ledger (`runs/<id>/ledger.jsonl`) and its content-addressed body store
//! (`runs/<id>/bodies/<aa>/<sha256>`).
//!
//! Every line is one record: a sequence number, the previous record's hash, the entry, and the
//! sha256 of the record's own canonical JSON (without the `hash` field). A record is written and
//! fsynced before the answer it holds is used, so a run killed at any instant resumes with every
//! answer it ever acted on. Bodies are written (atomically, fsynced) before the record that names
//! them.
//!
//! A ledger cut at a record boundary is still a valid chain, so two more things make a cut
//! visible and repairable:
//! - **The watermark** `ledger.head` (`{"records": n, "head": hash}`), rewritten atomically after
//!   every append. A chain shorter than its watermark, or without the watermark's head at that
//!   position, was cut: opening it refuses (a resume would silently re-buy every lost answer)
//!   and `verify` fails.
//! - **Exchange copies**: every exchange is also stored as a body (its JSON, content-addressed)
//!   before its record is appended. `pertaudit verify RUN --repair` re-appends the copies the
//!   chain lacks (the lost answers come back without being paid for again) under a `repair`
//!   record naming the watermark it replaces.

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
pub const WATERMARK_FILE: &str = "ledger.head";

/// The last state a writer left: how many records the chain held and its head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Watermark {
    pub records: usize,
    pub head: String,
}

/// Read a run's watermark (`None` when the run has none: older runs, no ledger yet).
pub fn read_watermark(run: &Path) -> Result<Option<Watermark>, ChainError> {
    let path = run.join(WATERMARK_FILE);
    match fs::read_to_string(&path) {
        Ok(t) => serde_json::from_str(&t).map(Some).map_err(|e| ChainError {
            path: path.display().to_string(),
            line: 1,
            msg: format!("not a watermark ({e})"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ChainError {
            path: path.display().to_string(),
            line: 0,
            msg: e.to_string(),
        }),
    }
}

/// Whether `records` reach the watermark: at least as many records, the watermark's head at
/// its position. Returns why not.
pub fn check_watermark(records: &[Record], w: &Watermark) -> Option<String> {
    if w.records == 0 {
        return None;
    }
    match records.get(w.records - 1) {
        None => Some(format!(
            "the ledger holds {} records but its watermark ({WATERMARK_FILE}) recorded {} (head {}): records were cut from its end",
            records.len(),
            w.records,
            &w.head[..w.head.len().min(16)]
        )),
        Some(r) if r.hash != w.head => {
            // A repair re-appends lost answers and names the watermark it replaced.
            let repaired = records.iter().any(|r| {
                matches!(&r.entry, Entry::Repair { replaced, .. } if replaced == w)
            });
            (!repaired).then(|| {
                format!(
                    "record {} is not the watermark's head {}: the ledger was rewritten",
                    w.records,
                    &w.head[..w.head.len().min(16)]
                )
            })
        }
        Some(_) => None,
    }
}

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
    /// `verify --repair` re-appended `restored` exchanges from their stored copies after the
    /// chain was found short of the watermark it `replaced`.
    Repair {
        replaced: Watermark,
        restored: usize,
    },
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
    /// Whether the chain reaches its watermark (`None`: the run has no watermark).
    pub watermark: Option<bool>,
    /// Exchanges stored but not recorded, the watermark intact: a crash between storing an
    /// answer and recording it (the next resume records them).
    pub unrecorded: usize,
    /// Other bodies no record names (harmless leftovers of a crash).
    pub orphan_bodies: usize,
    /// `repair` records in the chain.
    pub repairs: usize,
}

/// Re-walk a run's chain and check every stored body against its hash.
pub fn verify(run: &Path) -> Result<Verified, ChainError> {
    verify_chain(run).map(|(v, _)| v)
}

/// [`verify`], also returning the records it read (for checks of files that point into the
/// chain, without reading it again).
pub fn verify_chain(run: &Path) -> Result<(Verified, Vec<Record>), ChainError> {
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
    let watermark = read_watermark(run)?;
    if let Some(w) = &watermark {
        if let Some(why) = check_watermark(&records, w) {
            return Err(ChainError {
                path: path.display().to_string(),
                line: records.len(),
                msg: format!("{why}; `pertaudit verify {} --repair` re-appends the lost answers from their stored copies", run.display()),
            });
        }
    }
    let orphaned = orphans(run, &records);
    if watermark.is_none() && !orphaned.lost_exchanges.is_empty() && records.is_empty() {
        return Err(ChainError {
            path: path.display().to_string(),
            line: 0,
            msg: format!(
                "the ledger is empty but {} recorded answers are stored in bodies/: it was emptied; `pertaudit verify {} --repair` restores them",
                orphaned.lost_exchanges.len(),
                run.display()
            ),
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
    let repairs = records
        .iter()
        .filter(|r| matches!(r.entry, Entry::Repair { .. }))
        .count();
    let v = Verified {
        watermark: watermark.map(|_| true),
        unrecorded: orphaned.lost_exchanges.len(),
        orphan_bodies: orphaned.other,
        repairs,
        records: records.len(),
        exchanges,
        answers,
        head: records
            .last()
            .map(|r| r.hash.clone())
            .unwrap_or_else(|| GENESIS.to_string()),
        bodies,
    };
    Ok((v, records))
}

/// The stored copy of an exchange: its JSON, as a body.
pub fn exchange_copy(x: &Exchange) -> Vec<u8> {
    serde_json::to_vec(x).expect("exchange json")
}

fn write_watermark(dir: &Path, records: usize, head: &str) -> std::io::Result<()> {
    let w = Watermark {
        records,
        head: head.to_string(),
    };
    write_atomic(
        &dir.join(WATERMARK_FILE),
        (serde_json::to_string(&w).expect("watermark json") + "\n").as_bytes(),
    )
}

/// Every stored body of a run: (hash, path), sorted by hash.
fn stored_bodies(run: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(dirs) = fs::read_dir(run.join("bodies")) else {
        return out;
    };
    for d in dirs.flatten() {
        let Ok(files) = fs::read_dir(d.path()) else {
            continue;
        };
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().to_string();
            if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                out.push((name, f.path()));
            }
        }
    }
    out.sort();
    out
}

/// Bodies no record names: the copies of exchanges the chain lacks (answers lost from the
/// ledger) and other unnamed bodies (a crash between storing a body and appending its record
/// leaves one; they are harmless).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Orphans {
    pub lost_exchanges: Vec<Exchange>,
    pub other: usize,
}

pub fn orphans(run: &Path, records: &[Record]) -> Orphans {
    let mut named: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut recorded: std::collections::HashSet<String> = std::collections::HashSet::new();
    for r in records {
        if let Entry::Exchange(x) = &r.entry {
            named.insert(x.request_body.clone());
            named.extend(x.response_body.iter().cloned());
            recorded.insert(sha256_bytes(&exchange_copy(x)));
        }
    }
    let mut o = Orphans::default();
    for (h, p) in stored_bodies(run) {
        if named.contains(&h) || recorded.contains(&h) {
            continue;
        }
        let copy = fs::read(&p)
            .ok()
            .filter(|b| sha256_bytes(b) == h)
            .and_then(|b| serde_json::from_slice::<Exchange>(&b).ok());
        match copy {
            Some(x) => o.lost_exchanges.push(x),
            None => o.other += 1,
        }
    }
    o
}

/// The answers stored as exchange copies whose requests the chain (`answered`: its answers)
/// does not answer: one per request (the first by tag), in (tag, request) order. What opening
/// a ledger records, and what a repair restores.
fn unrecorded_answers(
    dir: &Path,
    records: &[Record],
    answered: &HashMap<String, Exchange>,
) -> Vec<Exchange> {
    let mut v: Vec<Exchange> = orphans(dir, records)
        .lost_exchanges
        .into_iter()
        .filter(|x| x.status.is_answer() && !answered.contains_key(&x.request))
        .collect();
    v.sort_by(|a, b| (&a.request, &a.tag).cmp(&(&b.request, &b.tag)));
    v.dedup_by(|a, b| a.request == b.request);
    v.sort_by(|a, b| (&a.tag, &a.request).cmp(&(&b.tag, &b.request)));
    v
}

/// What `verify --repair` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Repaired {
    pub restored: usize,
    pub replaced: Option<Watermark>,
}

/// Re-append the answers whose copies are stored but whose records are gone (opening the
/// ledger records them, by tag then request), then a `repair` record naming the watermark it
/// replaces; the watermark is then the new head. Nothing is sent anywhere.
pub fn repair(run: &Path) -> anyhow::Result<Repaired> {
    let path = run.join(LEDGER_FILE);
    // A torn last line (a crash mid-write) is not counted; opening below cuts it.
    let (records, _) = read_chain(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let w = read_watermark(run).map_err(|e| anyhow::anyhow!("{e}"))?;
    let short = w.as_ref().and_then(|w| check_watermark(&records, w));
    let lost = unrecorded_answers(run, &records, &answers_of(&records));
    if short.is_none() && lost.is_empty() {
        return Ok(Repaired {
            restored: 0,
            replaced: None,
        });
    }
    let head = records
        .last()
        .map(|r| r.hash.clone())
        .unwrap_or_else(|| GENESIS.to_string());
    let replaced = w.unwrap_or(Watermark {
        records: records.len(),
        head: head.clone(),
    });
    // Accept the chain as it is, then open: opening records every stored, unrecorded answer.
    write_watermark(run, records.len(), &head)?;
    let ledger = Ledger::open(run)?;
    ledger.append(Entry::Repair {
        replaced: replaced.clone(),
        restored: lost.len(),
    })?;
    Ok(Repaired {
        restored: lost.len(),
        replaced: Some(replaced),
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
    /// Held for the ledger's lifetime: one writer per run.
    _lock: crate::data::runlock::RunLock,
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
        let lock = crate::data::runlock::RunLock::acquire(dir)?;
        fs::create_dir_all(dir.join("bodies"))
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        let path = dir.join(LEDGER_FILE);
        let (records, torn) = read_chain(&path).map_err(|e| {
            anyhow::anyhow!("{e} (run `pertaudit verify {}` for details)", dir.display())
        })?;
        if let Some(w) = read_watermark(dir).map_err(|e| anyhow::anyhow!("{e}"))? {
            if let Some(why) = check_watermark(&records, &w) {
                anyhow::bail!(
                    "{}: {why}; refusing to resume (it would pay again for every lost answer). Restore the ledger, or run `pertaudit verify {} --repair` to re-append the lost answers from their stored copies",
                    path.display(),
                    dir.display()
                );
            }
        }
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
        // Answers stored but never recorded (a crash between the two writes; the watermark is
        // intact, so nothing was cut): recorded now, so they are not paid for again.
        let answers = answers_of(&records);
        let leftovers = unrecorded_answers(dir, &records, &answers);
        let ledger = Ledger {
            _lock: lock,
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
        for x in leftovers {
            ledger.append(Entry::Exchange(Box::new(x)))?;
        }
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
        if let Entry::Exchange(x) = &entry {
            // The exchange's copy first (what `verify --repair` restores from).
            self.put_body(&exchange_copy(x))?;
        }
        let mut t = self.tail.lock().expect("ledger lock");
        let rec = Record::seal(t.next_seq, t.head.clone(), entry);
        let mut line = serde_json::to_vec(&rec).expect("record json");
        line.push(b'\n');
        t.file.write_all(&line)?;
        t.file.sync_data()?;
        t.next_seq += 1;
        t.head = rec.hash.clone();
        write_watermark(&self.dir, t.next_seq as usize, &t.head)?;
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

    /// Answers recorded in another chain of this run (a shard's, indexed by `ledger merge`):
    /// served like this chain's own, never replacing one of them.
    pub fn adopt(&self, answers: impl IntoIterator<Item = Exchange>) {
        let mut m = self.answers.lock().expect("answers lock");
        for x in answers {
            m.entry(x.request.clone()).or_insert(x);
        }
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
            Entry::Open { .. } | Entry::Repair { .. } => None,
        })
        .collect())
}

/// Lines of a ledger file, for tests and tools that tamper or inspect.
pub fn lines(path: &Path) -> std::io::Result<Vec<String>> {
    BufReader::new(File::open(path)?).lines().collect()
}
