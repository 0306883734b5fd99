//! A `pertaudit query` run killed with SIGKILL mid-way and resumed: no completed answer is lost,
//! no recorded answer is paid for again (counted at the server), and `verify` passes.

use crate::util::bin_path as bin;
use pertaudit::llm::ledger::{self, Entry, Status};
use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn answered_bodies(run: &Path) -> HashSet<String> {
    let (records, _) = ledger::read_chain(&run.join("ledger.jsonl")).unwrap();
    records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Exchange(x) if x.status == Status::Ok => Some(x.request_body.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn sigkill_then_resume_loses_nothing_and_repays_nothing() {
    let (_rt, server) = crate::util::scripted_server_with(Duration::from_millis(40), 2);
    let d = tempfile::tempdir().unwrap();
    let n = 150;
    let (model, reqs) = crate::util::query_inputs(d.path(), "judge.toml", &server.base_url(), n, 4);
    let run = d.path().join("run");
    let out = d.path().join("answers.jsonl");
    let query = || {
        let mut c = Command::new(bin());
        c.args(["query", "--model"])
            .arg(&model)
            .arg("--requests")
            .arg(&reqs)
            .arg("--run")
            .arg(&run)
            .arg("--out")
            .arg(&out);
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        c
    };

    let mut child = query().spawn().unwrap();
    let t = Instant::now();
    while server.requests() < 40 {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the run never got going"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(!out.exists(), "the killed run wrote no answer file");

    let before = answered_bodies(&run);
    let seen_before = server.counters.log.lock().unwrap().len();
    assert!(
        !before.is_empty() && before.len() < n,
        "{} answered before the kill",
        before.len()
    );

    let res = query().output().unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let log = server.counters.log.lock().unwrap().clone();
    let resent: Vec<&String> = log[seen_before..]
        .iter()
        .filter(|h| before.contains(*h))
        .collect();
    assert!(
        resent.is_empty(),
        "{} recorded answers were paid for again",
        resent.len()
    );
    // Every request reached the server; only those in flight at the kill (≤ concurrency) twice.
    let distinct: HashSet<&String> = log.iter().collect();
    assert_eq!(distinct.len(), n);
    assert!(log.len() - n <= 4, "{} repeats", log.len() - n);

    let answers: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), n);
    assert!(answers.iter().all(|a| a["status"] == "ok"));
    assert_eq!(
        answers.iter().filter(|a| a["cached"] == true).count(),
        before.len()
    );
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a["id"], format!("t{i}"));
    }

    let v = Command::new(bin())
        .arg("verify")
        .arg(&run)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("ok: "));

    // A third run answers everything from the ledger.
    let count = server.requests();
    let res = query().output().unwrap();
    assert!(res.status.success());
    assert_eq!(server.requests(), count);
    assert!(String::from_utf8_lossy(&res.stderr)
        .contains(&format!("{n} answered from the ledger, 0 new")));
}

#[test]
fn query_and_verify_errors_are_one_line() {
    let d = tempfile::tempdir().unwrap();
    let model = d.path().join("j.toml");
    std::fs::write(
        &model,
        "provider = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n",
    )
    .unwrap();
    let reqs = d.path().join("r.jsonl");
    let cases = [
        ("{\"id\": \"a\", \"messages\": []}\n", "r.jsonl: line 1, field `messages`: empty"),
        ("{\"id\": \"a\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n{\"messages\": 3}\n", "r.jsonl: line 2, field `id`: missing or empty"),
        ("{\"id\": \"a\", \"messages\": [{\"role\": \"bot\", \"content\": \"x\"}]}\n", "line 1, field `messages`: role `bot`"),
        ("not json\n", "r.jsonl: line 1: not JSON"),
    ];
    for (text, want) in cases {
        std::fs::write(&reqs, text).unwrap();
        let o = Command::new(bin())
            .args(["query", "--model"])
            .arg(&model)
            .arg("--requests")
            .arg(&reqs)
            .arg("--run")
            .arg(d.path().join("run"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2));
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err}");
    }
    let o = Command::new(bin())
        .arg("verify")
        .arg(d.path().join("nothing"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no ledger"));
}
