//! The LLM client against a real HTTP server on 127.0.0.1 (the scripted server): every scenario
//! ends in the right ledger record with the right retry count; cache, replay, cost cap, key
//! scrubbing and tamper detection.

use pertaudit::llm::ledger::{self, ErrorKind, Source};
use pertaudit::llm::scripted::ScriptedServer;
use pertaudit::llm::{
    ChatRequest, Client, ClientError, ClientOptions, Ledger, Message, ModelConfig, Status,
};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn model(server: &ScriptedServer, name: &str, provider: &str, extra: &str) -> ModelConfig {
    let base = match provider {
        "anthropic" => format!("http://{}", server.addr),
        _ => server.base_url(),
    };
    ModelConfig::parse(
        &format!(
            "name = \"{name}\"\nprovider = \"{provider}\"\nbase_url = \"{base}\"\nmodel = \"m-{name}\"\n\
             timeout_secs = 2\nmax_retries = 2\nbackoff_secs = 0.01\n{extra}"
        ),
        Path::new("test.toml"),
    )
    .unwrap()
}

fn req(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::system("You judge."), Message::user(text)],
        ..Default::default()
    }
}

async fn setup(dir: &Path, models: &[ModelConfig], opts: ClientOptions) -> Client {
    Client::new(Arc::new(Ledger::open(dir).unwrap()), models, opts).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_ends_in_the_right_record() {
    let server = ScriptedServer::start(Duration::from_millis(5))
        .await
        .unwrap();
    let d = tempfile::tempdir().unwrap();
    let mut m = model(&server, "j", "openai", "");
    m.timeout_secs = 0.5;
    let c = setup(d.path(), &[m], ClientOptions::default()).await;
    // (scenario, status, error kind, attempts)
    let cases = [
        ("ok", Status::Ok, None, 1),
        ("429_once", Status::Ok, None, 2),
        ("500_once", Status::Ok, None, 2),
        ("500_always", Status::Error, Some(ErrorKind::Server), 3),
        ("timeout_once", Status::Ok, None, 2),
        ("timeout", Status::Error, Some(ErrorKind::Timeout), 3),
        (
            "malformed",
            Status::Error,
            Some(ErrorKind::MalformedResponse),
            1,
        ),
        ("truncated", Status::Truncated, None, 1),
        ("refusal", Status::Refusal, None, 1),
        ("filter", Status::ContentFilter, None, 1),
        ("html", Status::Error, Some(ErrorKind::WrongContentType), 1),
        ("echo_auth", Status::Error, Some(ErrorKind::Client), 1),
    ];
    for (scenario, status, kind, attempts) in cases {
        let t = Instant::now();
        let a = c
            .complete(
                "j",
                &req(&format!("judge this #scenario:{scenario}")),
                scenario,
            )
            .await
            .unwrap();
        let x = &a.exchange;
        assert!(!a.cached, "{scenario}");
        assert_eq!(x.status, status, "{scenario}: {x:?}");
        assert_eq!(x.error.as_ref().map(|e| e.kind), kind, "{scenario}: {x:?}");
        assert_eq!(x.attempts, attempts, "{scenario}: {:?}", x.attempt_log);
        assert_eq!(x.attempt_log.len(), attempts as usize, "{scenario}");
        assert_eq!(x.tag, scenario);
        if scenario == "429_once" {
            // Retry-After: 1 was honoured.
            assert!(
                t.elapsed() >= Duration::from_millis(950),
                "{:?}",
                t.elapsed()
            );
            assert!(
                x.attempt_log[0].starts_with("429 rate_limited retry in 1.000s"),
                "{:?}",
                x.attempt_log
            );
        }
        match status {
            Status::Ok => {
                assert!(x.text.as_deref().unwrap().starts_with("scripted answer"));
                assert_eq!(x.model_returned.as_deref(), Some("m-j"));
                assert_eq!(x.fingerprint.as_deref(), Some("fp_scripted"));
                assert_eq!(x.completion_tokens, 6);
                assert!(x.prompt_tokens > 0);
            }
            Status::Refusal => assert_eq!(x.text.as_deref(), Some("I can't help with that.")),
            Status::Truncated => assert_eq!(x.text.as_deref().unwrap().len(), 10),
            _ => {}
        }
        if x.status != Status::Error || kind != Some(ErrorKind::Timeout) {
            assert!(x.response_body.is_some(), "{scenario}: raw response stored");
        }
    }
    // Retries: 12 requests, 1+1+1+2+1+2 extra attempts.
    assert_eq!(c.http_attempts(), 12 + 1 + 1 + 2 + 1 + 2);
    let v = ledger::verify(d.path()).unwrap();
    assert_eq!((v.records, v.exchanges, v.answers), (13, 12, 7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_wire_format() {
    let server = ScriptedServer::start(Duration::ZERO).await.unwrap();
    let d = tempfile::tempdir().unwrap();
    let c = setup(
        d.path(),
        &[model(&server, "claude", "anthropic", "")],
        ClientOptions::default(),
    )
    .await;
    let ok = c
        .complete("claude", &req("hello"), "a")
        .await
        .unwrap()
        .exchange;
    assert_eq!(
        (ok.status, ok.provider.as_str(), ok.completion_tokens),
        (Status::Ok, "anthropic", 6)
    );
    let t = c
        .complete("claude", &req("x #scenario:truncated"), "b")
        .await
        .unwrap()
        .exchange;
    assert_eq!(t.status, Status::Truncated);
    let r = c
        .complete("claude", &req("x #scenario:refusal"), "c")
        .await
        .unwrap()
        .exchange;
    assert_eq!(r.status, Status::Refusal);
    let e = c
        .complete("claude", &req("x #scenario:500_once"), "d")
        .await
        .unwrap()
        .exchange;
    assert_eq!((e.status, e.attempts), (Status::Ok, 2));
    // The system prompt went to the top-level field.
    let body: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ledger::body_path(d.path(), &ok.request_body)).unwrap(),
    )
    .unwrap();
    assert_eq!(body["system"], "You judge.");
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_resume_and_replay_make_no_calls_and_errors_are_not_cached() {
    let server = ScriptedServer::start(Duration::from_millis(2))
        .await
        .unwrap();
    let d = tempfile::tempdir().unwrap();
    let m = model(&server, "j", "openai", "");
    let reqs: Vec<ChatRequest> = (0..20).map(|i| req(&format!("item {i}"))).collect();
    let failing = req("bad #scenario:500_always");
    let first: Vec<String> = {
        let c = setup(d.path(), std::slice::from_ref(&m), ClientOptions::default()).await;
        let mut out = Vec::new();
        for (i, r) in reqs.iter().enumerate() {
            out.push(
                c.complete("j", r, &i.to_string())
                    .await
                    .unwrap()
                    .exchange
                    .text
                    .unwrap(),
            );
        }
        assert_eq!(
            c.complete("j", &failing, "f")
                .await
                .unwrap()
                .exchange
                .status,
            Status::Error
        );
        out
    };
    let before = server.requests();
    assert_eq!(before, 20 + 3);
    // Reopen (a resume): answers come from the ledger, the error is tried again.
    {
        let c = setup(d.path(), std::slice::from_ref(&m), ClientOptions::default()).await;
        for (i, r) in reqs.iter().enumerate() {
            let a = c.complete("j", r, &i.to_string()).await.unwrap();
            assert!(a.cached);
            assert_eq!(a.exchange.text.as_deref(), Some(first[i].as_str()));
        }
        assert!(!c.complete("j", &failing, "f").await.unwrap().cached);
        assert_eq!(c.http_attempts(), 3);
    }
    assert_eq!(server.requests(), before + 3);
    // Replay into a new run: no calls at all, same answers, marked as replayed; a request the
    // ledger does not hold fails loudly.
    let d2 = tempfile::tempdir().unwrap();
    let mut offline = m.clone();
    offline.base_url = "http://127.0.0.1:9/v1".into();
    let c = setup(
        d2.path(),
        &[offline],
        ClientOptions {
            replay: Some(d.path().to_path_buf()),
            ..Default::default()
        },
    )
    .await;
    for (i, r) in reqs.iter().enumerate() {
        let a = c.complete("j", r, &i.to_string()).await.unwrap();
        assert_eq!(a.exchange.source, Source::Replay);
        assert_eq!(a.exchange.text.as_deref(), Some(first[i].as_str()));
    }
    match c.complete("j", &req("never asked"), "new").await {
        Err(ClientError::NotInReplay { request, tag, .. }) => {
            assert_eq!(tag, "new");
            assert_eq!(request.len(), 64);
        }
        other => panic!("expected a replay miss, got {other:?}"),
    }
    assert!(matches!(
        c.complete("j", &failing, "f").await,
        Err(ClientError::NotInReplay { .. })
    ));
    assert_eq!(c.http_attempts(), 0);
    assert_eq!(server.requests(), before + 3);
    ledger::verify(d2.path()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_requests_in_flight_are_sent_once() {
    let server = ScriptedServer::start(Duration::from_millis(50))
        .await
        .unwrap();
    let d = tempfile::tempdir().unwrap();
    let c = setup(
        d.path(),
        &[model(&server, "j", "openai", "concurrency = 8\n")],
        ClientOptions::default(),
    )
    .await;
    let jobs: Vec<pertaudit::llm::Job> = (0..16)
        .map(|i| pertaudit::llm::Job {
            endpoint: "j".into(),
            request: req(&format!("q{}", i % 4)),
            tag: i.to_string(),
        })
        .collect();
    let answers = c.complete_all(&jobs, |_| {}).await.unwrap();
    assert_eq!(server.requests(), 4);
    assert_eq!(answers.iter().filter(|a| a.cached).count(), 12);
    assert_eq!(
        c.pending_gates(),
        0,
        "gates are forgotten once their requests are done"
    );
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a.exchange.text, answers[i % 4].exchange.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_and_request_rate_are_bounded() {
    // 8 requests of 200 ms at concurrency 2 take at least 4 × 200 ms.
    let server = ScriptedServer::start(Duration::from_millis(200))
        .await
        .unwrap();
    let d = tempfile::tempdir().unwrap();
    let c = setup(
        d.path(),
        &[model(&server, "j", "openai", "concurrency = 2\n")],
        ClientOptions::default(),
    )
    .await;
    let jobs: Vec<pertaudit::llm::Job> = (0..8)
        .map(|i| pertaudit::llm::Job {
            endpoint: "j".into(),
            request: req(&format!("c{i}")),
            tag: i.to_string(),
        })
        .collect();
    let t = Instant::now();
    c.complete_all(&jobs, |_| {}).await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(790),
        "{:?}",
        t.elapsed()
    );
    // 60 requests per minute: the bucket starts full at 60, so the 61st waits about a second.
    let server = ScriptedServer::start(Duration::ZERO).await.unwrap();
    let d = tempfile::tempdir().unwrap();
    let c = setup(
        d.path(),
        &[model(
            &server,
            "j",
            "openai",
            "concurrency = 16\nrequests_per_minute = 60\n",
        )],
        ClientOptions::default(),
    )
    .await;
    let jobs: Vec<pertaudit::llm::Job> = (0..61)
        .map(|i| pertaudit::llm::Job {
            endpoint: "j".into(),
            request: req(&format!("r{i}")),
            tag: i.to_string(),
        })
        .collect();
    let t = Instant::now();
    c.complete_all(&jobs, |_| {}).await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cost_cap_stops_sending_and_is_recorded() {
    let server = ScriptedServer::start(Duration::ZERO).await.unwrap();
    let d = tempfile::tempdir().unwrap();
    // 1,000,000 USD per Mtok: a call with ~10 prompt tokens and max_tokens 10 reserves ≈ $20.
    let m = model(
        &server,
        "j",
        "openai",
        "max_tokens = 10\nprice_input_per_mtok = 1000000\nprice_output_per_mtok = 1000000\n",
    );
    let c = setup(
        d.path(),
        &[m],
        ClientOptions {
            cost_cap_usd: Some(60.0),
            ..Default::default()
        },
    )
    .await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(
            c.complete("j", &req(&format!("p{i}")), &i.to_string())
                .await
                .unwrap()
                .exchange,
        );
    }
    let sent = statuses.iter().filter(|x| x.status == Status::Ok).count();
    assert!((1..6).contains(&sent), "{sent}");
    assert_eq!(server.requests() as usize, sent);
    let capped = statuses.iter().find(|x| x.status == Status::Error).unwrap();
    assert_eq!(capped.error.as_ref().unwrap().kind, ErrorKind::CostCap);
    assert_eq!(capped.attempts, 0);
    assert!(c.spent() <= 60.0);
    let recorded: f64 = statuses.iter().map(|x| x.cost_usd).sum();
    assert!((recorded - c.spent()).abs() < 1e-9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_never_reach_the_ledger() {
    let server = ScriptedServer::start(Duration::ZERO).await.unwrap();
    let d = tempfile::tempdir().unwrap();
    let key = "sk-test-4f1d8a2b9c7e6d5f4a3b2c1d";
    std::env::set_var("PERTAUDIT_TEST_KEY_A", key);
    let m = model(
        &server,
        "j",
        "openai",
        "api_key_env = \"PERTAUDIT_TEST_KEY_A\"\n",
    );
    let a = model(
        &server,
        "c",
        "anthropic",
        "api_key_env = \"PERTAUDIT_TEST_KEY_A\"\n",
    );
    let c = setup(d.path(), &[m, a], ClientOptions::default()).await;
    for ep in ["j", "c"] {
        let x = c
            .complete(ep, &req("who am I #scenario:echo_auth"), "k")
            .await
            .unwrap()
            .exchange;
        assert_eq!(x.error.as_ref().unwrap().kind, ErrorKind::Client);
        assert!(
            x.error.as_ref().unwrap().message.contains("[redacted]"),
            "{:?}",
            x.error
        );
        assert!(!x.error.as_ref().unwrap().message.contains(key));
    }
    for entry in walk(d.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(key),
            "key found in {}",
            entry.display()
        );
    }
    ledger::verify(d.path()).unwrap();
    // A missing variable is named, never guessed.
    let mut m2 = model(&server, "z", "openai", "");
    m2.api_key_env = Some("PERTAUDIT_TEST_KEY_UNSET".into());
    let e = Client::new(
        Arc::new(Ledger::open(d.path()).unwrap()),
        &[m2],
        ClientOptions::default(),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("PERTAUDIT_TEST_KEY_UNSET"), "{e}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A ledger of 1 open + 5 exchanges, as lines.
async fn small_ledger(dir: &Path) -> Vec<String> {
    let server = ScriptedServer::start(Duration::ZERO).await.unwrap();
    let c = setup(
        dir,
        &[model(&server, "j", "openai", "")],
        ClientOptions::default(),
    )
    .await;
    for i in 0..5 {
        c.complete("j", &req(&format!("t{i}")), &i.to_string())
            .await
            .unwrap();
    }
    ledger::lines(&dir.join("ledger.jsonl")).unwrap()
}

fn write_lines(dir: &Path, lines: &[String]) {
    std::fs::write(
        dir.join("ledger.jsonl"),
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_detected_and_located() {
    let d = tempfile::tempdir().unwrap();
    let lines = small_ledger(d.path()).await;
    assert_eq!(lines.len(), 6);
    assert!(ledger::verify(d.path()).is_ok());

    // One byte changed inside record 3 (line 4): the token count 6 → 7.
    let mut t = lines.clone();
    t[3] = t[3].replacen("\"completion_tokens\":6", "\"completion_tokens\":7", 1);
    assert_ne!(t[3], lines[3]);
    write_lines(d.path(), &t);
    let e = ledger::verify(d.path()).unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    assert!(e.msg.contains("altered"), "{e}");

    // One record deleted (line 3).
    let mut t = lines.clone();
    t.remove(2);
    write_lines(d.path(), &t);
    let e = ledger::verify(d.path()).unwrap_err();
    assert_eq!(e.line, 3, "{e}");
    assert!(e.msg.contains("seq 3 where 2 was expected"), "{e}");

    // Two records swapped (lines 4 and 5).
    let mut t = lines.clone();
    t.swap(3, 4);
    write_lines(d.path(), &t);
    let e = ledger::verify(d.path()).unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    assert!(e.msg.contains("seq 4 where 3 was expected"), "{e}");

    // A record re-hashed after editing still breaks the chain at the next line.
    // (Editing a record and recomputing its own hash is caught by the following `prev`.)
    let mut t = lines.clone();
    let mut v: serde_json::Value = serde_json::from_str(&t[2]).unwrap();
    v["tag"] = "forged".into();
    let mut no_hash = v.clone();
    no_hash.as_object_mut().unwrap().remove("hash");
    v["hash"] = pertaudit::data::runfile::sha256_bytes(
        pertaudit::data::runfile::canonical_json(&no_hash).as_bytes(),
    )
    .into();
    t[2] = serde_json::to_string(&v).unwrap();
    write_lines(d.path(), &t);
    let e = ledger::verify(d.path()).unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    assert!(e.msg.contains("prev does not match"), "{e}");

    // A stored body changed.
    write_lines(d.path(), &lines);
    let rec: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    let body = ledger::body_path(d.path(), rec["response_body"].as_str().unwrap());
    std::fs::write(&body, b"{}").unwrap();
    let e = ledger::verify(d.path()).unwrap_err();
    assert_eq!(e.line, 2, "{e}");
    assert!(e.msg.contains("does not match its hash"), "{e}");

    // A torn last line (a crash mid-write) is reported by verify and repaired by a resume.
    std::fs::write(&body, b"").unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let lines2 = small_ledger(d2.path()).await;
    let mut bytes = lines2.iter().map(|l| format!("{l}\n")).collect::<String>();
    bytes.push_str(&lines2[1][..40]);
    std::fs::write(d2.path().join("ledger.jsonl"), bytes).unwrap();
    let e = ledger::verify(d2.path()).unwrap_err();
    assert!(e.msg.contains("incomplete last record"), "{e}");
    drop(Ledger::open(d2.path()).unwrap());
    let v = ledger::verify(d2.path()).unwrap();
    assert_eq!(v.records, 7);
    // A damaged middle refuses to open.
    write_lines(d.path(), &{
        let mut t = lines.clone();
        t.swap(1, 2);
        t
    });
    let e = Ledger::open(d.path()).err().unwrap().to_string();
    assert!(
        e.contains("line 2") && e.contains("pertaudit verify"),
        "{e}"
    );
}

#[test]
fn shipped_model_files_parse() {
    let mut n = 0;
    let mut families = std::collections::BTreeSet::new();
    for e in std::fs::read_dir("judges").unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let m = ModelConfig::load(&p).unwrap_or_else(|e| panic!("{e}"));
            families.insert(m.family.clone());
            n += 1;
        }
    }
    assert!(n >= 3);
    // Three example judges from different model families (plus the local model).
    assert!(
        ["gpt", "claude", "qwen"]
            .iter()
            .all(|f| families.contains(*f)),
        "{families:?}"
    );
}
