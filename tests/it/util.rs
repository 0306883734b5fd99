//! Helpers shared by every integration test module.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The pertaudit binary built for these tests.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pertaudit"))
}

/// The binary's path.
pub fn bin_path() -> &'static str {
    env!("CARGO_BIN_EXE_pertaudit")
}

/// Under CI (`CI` set) a missing prerequisite fails the test; elsewhere it skips with a line.
fn missing(what: &str) -> bool {
    if std::env::var_os("CI").is_some() {
        panic!("{what} (CI must have it: .ci/run installs it)");
    }
    eprintln!("skipping: {what}");
    false
}

/// Whether the embedded model's weights are cached (required under CI).
pub fn model_present() -> bool {
    let p = pertaudit::llm::embedded::default_model_path();
    p.is_file()
        || missing(&format!(
            "{} is absent (run `pertaudit model fetch`)",
            p.display()
        ))
}

/// Headless Chromium, when installed (required under CI).
pub fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|b| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(b))
                    .find(|p| p.is_file())
            })
        });
    if found.is_none() {
        missing("chromium is not installed (Debian package `chromium`)");
    }
    found
}

/// One embedded model at a time: llama.cpp's worker threads spin while they wait, so two
/// engines (in this process or in `serve` children) on a two-core machine slow each other
/// down manyfold.
pub fn one_model_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Compare with `tests/snapshots/NAME`; `UPDATE_SNAPSHOTS=1` rewrites it.
pub fn snapshot(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_SNAPSHOTS=1", path.display()));
    assert_eq!(
        got, want,
        "{name} changed; review and rerun with UPDATE_SNAPSHOTS=1"
    );
}

/// A scripted OpenAI-compatible server on 127.0.0.1 with its runtime (keep both alive).
pub fn scripted_server() -> (
    tokio::runtime::Runtime,
    pertaudit::llm::scripted::ScriptedServer,
) {
    scripted_server_with(std::time::Duration::ZERO, 1)
}

/// [`scripted_server`] answering after `delay`, on `workers` runtime threads.
pub fn scripted_server_with(
    delay: std::time::Duration,
    workers: usize,
) -> (
    tokio::runtime::Runtime,
    pertaudit::llm::scripted::ScriptedServer,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(pertaudit::llm::scripted::ScriptedServer::start(delay))
        .unwrap();
    (rt, server)
}

/// A model file `dir/model_file` for an OpenAI-compatible endpoint at `base_url`, and `n`
/// one-message requests (`t0`, `t1`, …) in `dir/requests.jsonl`, for `pertaudit query`.
pub fn query_inputs(
    dir: &Path,
    model_file: &str,
    base_url: &str,
    n: usize,
    concurrency: usize,
) -> (PathBuf, PathBuf) {
    let model = dir.join(model_file);
    std::fs::write(
        &model,
        format!("provider = \"openai\"\nbase_url = \"{base_url}\"\nmodel = \"m\"\nconcurrency = {concurrency}\n"),
    )
    .unwrap();
    let reqs = dir.join("requests.jsonl");
    std::fs::write(
        &reqs,
        (0..n)
            .map(|i| format!("{{\"id\": \"t{i}\", \"messages\": [{{\"role\": \"user\", \"content\": \"task {i}\"}}]}}\n"))
            .collect::<String>(),
    )
    .unwrap();
    (model, reqs)
}

/// A simulated screen and its files (screen, gene sets, network, annotations) in `dir`.
pub fn simulated(dir: &Path, seed: u64, background: usize, readouts: usize) {
    let c = pertaudit::data::simulate::SimConfig {
        seed,
        background,
        readouts,
        ..Default::default()
    };
    pertaudit::data::simulate::write_files(dir, &c).unwrap();
}

/// Every file under `dir`, relative, with its bytes, sorted.
pub fn tree(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}
