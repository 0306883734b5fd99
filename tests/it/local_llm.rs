//! The embedded local model end to end: `pertaudit serve` on a free port of 127.0.0.1, real
//! prompts over real HTTP through the client and ledger, real generated JSON answers.
//! Needs the default model in the cache (`pertaudit model fetch`, done by `.ci/run`); skips with
//! a message when it is absent.
#![cfg(feature = "local-llm")]

use crate::util::{model_present, one_model_at_a_time};
use pertaudit::llm::ledger;
use pertaudit::llm::{ChatRequest, Client, ClientOptions, Ledger, Message, ModelConfig, Status};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

const MODEL: &str = "SmolLM2-135M-Instruct.Q4_1";

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pertaudit"))
        .args(["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    Server { child, base }
}

fn verdict_schema() -> Value {
    json!({"name": "verdict", "schema": {
        "type": "object",
        "properties": {"winner": {"type": "string", "enum": ["A", "B", "tie"]}, "reason": {"type": "string", "maxLength": 120}},
        "required": ["winner", "reason"], "additionalProperties": false}})
}

fn judge_prompt(a: &str, b: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("You compare two batches of gene knock-downs for a Perturb-seq screen of a pathway. Answer with JSON."),
            Message::user(format!(
                "Pathway: KEGG_RIBOSOME (cytoplasmic ribosome).\nBatch A: {a}\nBatch B: {b}\nWhich batch better covers the pathway? Reply {{\"winner\": \"A\"|\"B\"|\"tie\", \"reason\": one short sentence}}."
            )),
        ],
        schema: Some(verdict_schema()),
        sample: 0,
    }
}

fn cfg(text: &str) -> ModelConfig {
    ModelConfig::parse(text, Path::new("local.toml")).unwrap()
}

#[test]
fn serve_answers_real_prompts_over_http_with_schema_constrained_json() {
    let _one = one_model_at_a_time();
    if !model_present() {
        return;
    }
    let server = serve();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let d = tempfile::tempdir().unwrap();
    let m = cfg(&format!(
        "name = \"smol\"\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"{MODEL}\"\nmax_tokens = 60\ntimeout_secs = 900\nmax_retries = 1\nconcurrency = 1\n",
        server.base
    ));
    let client = Client::new(
        Arc::new(Ledger::open(d.path()).unwrap()),
        &[m],
        ClientOptions::default(),
    )
    .unwrap();
    let prompts = [
        judge_prompt("RPL3, RPL4, RPS6, RPS19", "ACTB, GAPDH, TP53, MYC"),
        judge_prompt("POLR2A, POLR2B, GTF2B, TBP", "RPL11, RPS3, RPL23, RPS14"),
    ];
    for (i, p) in prompts.iter().enumerate() {
        let a = rt
            .block_on(client.complete("smol", p, &format!("pair{i}")))
            .unwrap();
        let x = &a.exchange;
        assert!(matches!(x.status, Status::Ok | Status::Truncated), "{x:?}");
        assert_eq!(x.model_returned.as_deref(), Some(MODEL));
        assert_eq!(
            x.fingerprint.as_deref(),
            Some("pertaudit-local-b179c9523d0e")
        );
        assert!(x.prompt_tokens > 50 && x.completion_tokens > 0, "{x:?}");
        if x.status == Status::Ok {
            let v: Value = serde_json::from_str(x.text.as_deref().unwrap())
                .unwrap_or_else(|e| panic!("{e}: {:?}", x.text));
            assert!(
                ["A", "B", "tie"].contains(&v["winner"].as_str().unwrap()),
                "{v}"
            );
            assert!(v["reason"].is_string());
        }
    }
    let v = ledger::verify(d.path()).unwrap();
    assert_eq!(v.answers, 2);

    // Greedy decoding is deterministic: the same prompt gives the same bytes, also after a
    // different prompt has been through the KV cache.
    let body = json!({"model": MODEL, "temperature": 0, "max_tokens": 24,
        "messages": [{"role": "user", "content": "Name three ribosomal protein genes."}]});
    let first = rt.block_on(post(&server.base, body.clone()));
    let _other = rt.block_on(post(&server.base, json!({"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "Say hello."}]})));
    let again = rt.block_on(post(&server.base, body));
    assert_eq!(
        first["choices"][0]["message"]["content"],
        again["choices"][0]["message"]["content"]
    );
    assert_eq!(first["usage"], again["usage"]);
    assert_eq!(first["usage"]["completion_tokens"], 24);
    assert_eq!(first["choices"][0]["finish_reason"], "length");
}

/// A plain POST to the server's chat endpoint, bypassing the client and its cache.
async fn post(base: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()
}

#[test]
fn in_process_local_provider_returns_an_exact_gene_list() {
    let _one = one_model_at_a_time();
    if !model_present() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let d = tempfile::tempdir().unwrap();
    let m = cfg(&format!("name = \"smol\"\nprovider = \"local\"\nmodel = \"{MODEL}\"\nmax_tokens = 300\ntimeout_secs = 900\n"));
    let client = Client::new(
        Arc::new(Ledger::open(d.path()).unwrap()),
        &[m],
        ClientOptions::default(),
    )
    .unwrap();
    let shortlist = ["RPL3", "RPS6", "POLR2A", "EIF3A", "RPL11", "NOP56"];
    let schema = json!({"name": "picks", "schema": {
        "type": "object",
        "properties": {"picks": {"type": "array", "minItems": 3, "maxItems": 3, "items": {
            "type": "object",
            "properties": {"gene": {"type": "string", "enum": shortlist}, "rationale": {"type": "string", "maxLength": 60}},
            "required": ["gene", "rationale"], "additionalProperties": false}}},
        "required": ["picks"], "additionalProperties": false}});
    let req = ChatRequest {
        messages: vec![Message::user(format!(
            "Choose exactly 3 genes from {shortlist:?} to knock down next for a ribosome screen. Answer as JSON with one short rationale each."
        ))],
        schema: Some(schema),
        sample: 0,
    };
    let a = rt
        .block_on(client.complete("smol", &req, "rerank"))
        .unwrap();
    assert_eq!(a.exchange.status, Status::Ok, "{:?}", a.exchange);
    let v: Value = serde_json::from_str(a.exchange.text.as_deref().unwrap()).unwrap();
    let picks = v["picks"].as_array().unwrap();
    assert_eq!(picks.len(), 3);
    for p in picks {
        assert!(shortlist.contains(&p["gene"].as_str().unwrap()), "{p}");
    }
    // The second time it is the ledger that answers.
    let b = rt
        .block_on(client.complete("smol", &req, "rerank"))
        .unwrap();
    assert!(b.cached);
    // A misnamed model is refused: the name is part of the cache key.
    let bad = cfg("name = \"x\"\nprovider = \"local\"\nmodel = \"other-model\"\n");
    let e = Client::new(
        Arc::new(Ledger::open(d.path()).unwrap()),
        &[bad],
        ClientOptions::default(),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("must name the file"), "{e}");
}

/// The judge path on the real model: `pertaudit blind` → `pertaudit judge` against
/// `pertaudit serve`, real generated verdicts parsed and recorded.
#[test]
fn judge_path_against_serve() {
    let _one = one_model_at_a_time();
    if !model_present() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("plan");
    std::fs::create_dir_all(&run).unwrap();
    let gmt = d.path().join("sets.gmt");
    std::fs::write(
        &gmt,
        "KEGG_PROTEASOME\tProteasome\tPSMA1\tPSMA2\tPSMB1\tPSMB2\tPSMC1\tPSMD1\n",
    )
    .unwrap();
    let sha = pertaudit::data::runfile::sha256_file(&gmt).unwrap();
    std::fs::write(
        run.join("config.json"),
        json!({"screen": {"name": "toy"}, "pathway": {"name": "KEGG_PROTEASOME"},
               "inputs": {"pathways": {"path": gmt.display().to_string(), "sha256": sha}}})
        .to_string(),
    )
    .unwrap();
    let mut sel = String::new();
    for (s, genes) in [
        ("pathwayish", ["PSMA1", "PSMB2", "PSMC1"]),
        ("offtarget", ["ACTB", "GAPDH", "ALB"]),
    ] {
        for (rank, g) in genes.iter().enumerate() {
            sel.push_str(&format!("{}\n", json!({"seed": 0, "strategy": s, "round": 0, "rank": rank, "perturbation": g, "target": g, "score": 0.0})));
        }
    }
    std::fs::write(run.join("selections.jsonl"), sel).unwrap();
    let tasks = d.path().join("tasks");
    let o = Command::new(env!("CARGO_BIN_EXE_pertaudit"))
        .arg("blind")
        .arg(&run)
        .arg("--out")
        .arg(&tasks)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let server = serve();
    let judge = d.path().join("smol.toml");
    std::fs::write(
        &judge,
        format!("name = \"smol\"\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"{MODEL}\"\nfamily = \"smollm\"\nmax_tokens = 80\ntimeout_secs = 900\nmax_retries = 1\nconcurrency = 1\n", server.base),
    )
    .unwrap();
    let out = d.path().join("judged");
    let o = Command::new(env!("CARGO_BIN_EXE_pertaudit"))
        .arg("judge")
        .arg(&tasks)
        .arg("--run")
        .arg(&out)
        .arg("--judges")
        .arg(&judge)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<Value> = std::fs::read_to_string(out.join("judgements.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        // A real generated verdict (constrained to the schema), or a recorded failure: never a guess.
        assert!(r["winner"].is_string() || r["failure"].is_string(), "{r}");
    }
    let v = ledger::verify(&out).unwrap();
    assert_eq!(v.exchanges, 2);
    let ex = ledger::exchanges(&out).unwrap();
    assert!(ex
        .iter()
        .all(|x| x.fingerprint.as_deref() == Some("pertaudit-local-b179c9523d0e")));
}
