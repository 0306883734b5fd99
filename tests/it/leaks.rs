//! No strategy may see held-out data. Rewriting the responses of the held-out perturbations,
//! and nothing else, must leave every selection of every round unchanged, for every strategy,
//! the LLM arms included (with a re-ranker whose answer depends on the whole request, so a
//! prompt that changed in any way would change the picks). The same check on a pool
//! perturbation shows it has power: there the selections do change.

use crate::util::bin;
use std::path::{Path, PathBuf};

const STRATEGIES: &str =
    "random,random-pathway,prior,bald,coreset,iterpert,iterpert-unc,evr,llm,llm-masked,llm-symbols,llm-shuffled,llm-names,llm-permuted,llm-zeroshot";

/// A simulated screen in `dir` (its files), small enough to plan in seconds.
fn simulated(dir: &Path) {
    crate::util::simulated(dir, 3, 60, 120);
}

/// Rewrite the rows of `perts` in `screen.tsv`: every value replaced by a seeded draw.
fn rewrite_rows(screen: &Path, perts: &[String]) {
    let text = std::fs::read_to_string(screen).unwrap();
    let mut out = String::new();
    let mut x = 0x9e3779b97f4a7c15u64;
    for line in text.lines() {
        let mut f: Vec<String> = line.split('\t').map(str::to_string).collect();
        if perts.contains(&f[0]) {
            for v in f.iter_mut().skip(1) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *v = format!("{:.4}", 2.0 + (x % 10_000) as f64 / 1000.0);
            }
        }
        out += &f.join("\t");
        out.push('\n');
    }
    std::fs::write(screen, out).unwrap();
}

fn model_file(dir: &Path, base: &str, sequential: bool) -> PathBuf {
    let p = dir.join(if sequential { "seq.toml" } else { "batch.toml" });
    std::fs::write(
        &p,
        format!("name = \"planner\"\nprovider = \"openai\"\nbase_url = \"{base}\"\nmodel = \"scripted\"\nmax_retries = 0\n"),
    )
    .unwrap();
    p
}

/// Plan on `data` with one seed; returns (selections.jsonl, metrics.csv, the LLM requests).
fn plan(
    data: &Path,
    out: &Path,
    model: &Path,
    seed: u64,
    sequential: bool,
) -> (String, String, Vec<String>) {
    let mut args: Vec<String> = [
        "plan",
        "--screen",
        data.join("screen.tsv").to_str().unwrap(),
        "--pathways",
        data.join("pathways.gmt").to_str().unwrap(),
        "--pathway",
        "SIM_PATHWAY_1",
        "--network",
        data.join("network.tsv").to_str().unwrap(),
        "--annotations",
        data.join("context.tsv").to_str().unwrap(),
        "--genes",
        data.join("genes.tsv").to_str().unwrap(),
        "--strategies",
        STRATEGIES,
        "--rounds",
        "2",
        "--batch",
        "4",
        "--seeds",
        "1",
        "--seed",
        &seed.to_string(),
        "--llm-model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    if sequential {
        args.push("--sequential".into());
    }
    let o = bin().args(&args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
    // The requests the planner sent (canonical request hashes, sorted: jobs run in parallel).
    let mut requests: Vec<String> = read("ledger.jsonl")
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            v["request"].as_str().map(str::to_string)
        })
        .collect();
    requests.sort();
    (read("selections.jsonl"), read("metrics.csv"), requests)
}

fn split_of(run: &Path) -> (Vec<String>, Vec<String>) {
    let s: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(run.join("splits.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let names = |k: &str| {
        s[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    (names("test"), names("initial"))
}

#[test]
fn rewriting_held_out_responses_changes_no_selection() {
    let (_rt, server) = crate::util::scripted_server();
    let base = format!("http://{}/planner-hash/v1", server.addr);
    for (seed, sequential) in [(0u64, false), (1, true)] {
        let d = tempfile::tempdir().unwrap();
        let (a, b, c) = (d.path().join("a"), d.path().join("b"), d.path().join("c"));
        for dir in [&a, &b, &c] {
            simulated(dir);
        }
        let m = model_file(d.path(), &base, sequential);
        let (sel_a, met_a, req_a) = plan(&a, &d.path().join("run-a"), &m, seed, sequential);
        let (test, initial) = split_of(&d.path().join("run-a"));
        assert!(!test.is_empty());
        assert!(
            req_a.len() > 4,
            "the LLM arms asked {} questions",
            req_a.len()
        );

        // The held-out rows rewritten: the scores change, no selection and no request does.
        rewrite_rows(&b.join("screen.tsv"), &test);
        let (sel_b, met_b, req_b) = plan(&b, &d.path().join("run-b"), &m, seed, sequential);
        assert_ne!(
            met_a, met_b,
            "seed {seed}: the rewrite must change the test scores"
        );
        assert_eq!(
            sel_a, sel_b,
            "seed {seed}: a held-out response leaked into a selection"
        );
        assert_eq!(
            req_a, req_b,
            "seed {seed}: a held-out response leaked into a prompt"
        );

        // Power: the same rewrite of measured (initial) rows does change the selections.
        rewrite_rows(&c.join("screen.tsv"), &initial);
        let (sel_c, _, _) = plan(&c, &d.path().join("run-c"), &m, seed, sequential);
        assert_ne!(
            sel_a, sel_c,
            "seed {seed}: the check cannot see a change of measured data"
        );
    }
}
