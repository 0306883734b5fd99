//! Run directories that cannot be corrupted and inputs that cannot hang or panic the tool
//! (issue 14): one writer per run, cut ledgers caught and repaired, no lock before the inputs
//! are read, settings in range, quiet exits on closed pipes, duplicates refused, and a
//! fuzz-style pass over every reader.

use crate::util::bin_path as bin;
use pertaudit::llm::scripted::ScriptedServer;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn run_in<S: AsRef<std::ffi::OsStr>>(args: &[S], cwd: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// The command fails with exit 2 and one `error:` line (no panic); returns that line.
fn fails<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S], cwd: &Path) -> String {
    let o = run_in(args, cwd);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "pertaudit {args:?}: {err}");
    one_error_line(&err, &args);
    err
}

/// `plan` on the small simulated screen in `data/` (see [`simulated`]): gene sets `gmt`, one
/// round of 4, one seed, into `out`, then `extra`.
fn small_plan(gmt: &str, out: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "plan",
        "--screen",
        "data/screen.tsv",
        "--pathways",
        gmt,
        "--pathway",
        "SIM_PATHWAY_1",
        "--rounds",
        "1",
        "--batch",
        "4",
        "--seeds",
        "1",
        "--out",
        out,
    ]
    .map(str::to_string)
    .to_vec();
    a.extend(extra.iter().map(|x| x.to_string()));
    a
}

fn one_error_line(err: &str, what: &dyn std::fmt::Debug) {
    assert!(!err.contains("panicked"), "{what:?} panicked: {err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(
        errors.len(),
        1,
        "{what:?}: want one error line, got {err:?}"
    );
    assert!(
        errors[0].len() < 2_000,
        "{what:?}: an error line of {} bytes",
        errors[0].len()
    );
}

fn server(delay_ms: u64) -> (tokio::runtime::Runtime, ScriptedServer) {
    crate::util::scripted_server_with(Duration::from_millis(delay_ms), 2)
}

/// A model file and `n` requests for `pertaudit query`.
fn query_inputs(d: &Path, base_url: &str, n: usize) -> (PathBuf, PathBuf) {
    crate::util::query_inputs(d, "m.toml", base_url, n, 2)
}

fn query(model: &Path, reqs: &Path, run: &Path) -> Command {
    let mut c = Command::new(bin());
    c.args(["query", "--model"])
        .arg(model)
        .arg("--requests")
        .arg(reqs)
        .arg("--run")
        .arg(run)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// Two real processes on one run: the second stops at once naming the first's PID, the first
/// finishes, and the server saw each prompt exactly once.
#[test]
fn a_second_writer_is_refused_and_nothing_is_paid_twice() {
    let (_rt, server) = server(30);
    let d = tempfile::tempdir().unwrap();
    let n = 60;
    let (model, reqs) = query_inputs(d.path(), &server.base_url(), n);
    let run = d.path().join("run");
    let mut first = query(&model, &reqs, &run).spawn().unwrap();
    let t = Instant::now();
    while server.requests() < 5 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the first run never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let second = query(&model, &reqs, &run).output().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(
        err.contains("in use by another pertaudit process")
            && err.contains(&format!("pid {}", first.id())),
        "{err}"
    );
    assert!(first.wait().unwrap().success());
    assert_eq!(
        server.requests() as usize,
        n,
        "every prompt paid for exactly once"
    );
    // A judge or audit on the same folder is refused the same way while a writer holds it;
    // once released, the run resumes from the ledger without a new call.
    let again = query(&model, &reqs, &run).output().unwrap();
    assert!(again.status.success());
    assert_eq!(server.requests() as usize, n);
    // The lock file is empty after a clean exit (the run's bytes do not depend on the PID).
    assert_eq!(std::fs::read(run.join(".lock")).unwrap(), b"");
}

/// A ledger cut at a record boundary (or emptied) fails `verify`, a resume refuses instead of
/// paying again, and `verify --repair` brings every lost answer back from its stored copy.
#[test]
fn a_cut_ledger_is_caught_refused_and_repaired() {
    let (_rt, server) = server(0);
    let d = tempfile::tempdir().unwrap();
    let n = 12;
    let (model, reqs) = query_inputs(d.path(), &server.base_url(), n);
    let run = d.path().join("run");
    assert!(query(&model, &reqs, &run)
        .output()
        .unwrap()
        .status
        .success());
    assert_eq!(server.requests() as usize, n);
    let ledger = run.join("ledger.jsonl");
    let full = std::fs::read_to_string(&ledger).unwrap();
    for keep in [5usize, 0] {
        // Cut at a record boundary: still a valid chain.
        let cut: String = full.lines().take(keep).map(|l| format!("{l}\n")).collect();
        std::fs::write(&ledger, &cut).unwrap();
        let v = run_in(&["verify", run.to_str().unwrap()], d.path());
        let e = String::from_utf8_lossy(&v.stderr);
        assert_eq!(v.status.code(), Some(2), "verify passed a cut ledger: {e}");
        assert!(e.contains("cut") && e.contains("--repair"), "{e}");
        let r = query(&model, &reqs, &run).output().unwrap();
        let e = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{e}");
        assert!(e.contains("refusing to resume"), "{e}");
        assert_eq!(server.requests() as usize, n, "nothing was paid for again");
        // An emptied ledger without its watermark is caught by the stored answers.
        if keep == 0 {
            let wm = std::fs::read(run.join("ledger.head")).unwrap();
            std::fs::remove_file(run.join("ledger.head")).unwrap();
            let v = run_in(&["verify", run.to_str().unwrap()], d.path());
            assert_eq!(v.status.code(), Some(2));
            assert!(String::from_utf8_lossy(&v.stderr).contains("emptied"));
            std::fs::write(run.join("ledger.head"), wm).unwrap();
        }
        let fix = run_in(&["verify", run.to_str().unwrap(), "--repair"], d.path());
        let e = String::from_utf8_lossy(&fix.stderr);
        assert!(fix.status.success(), "{e}");
        assert!(e.contains("re-appended"), "{e}");
        let resumed = query(&model, &reqs, &run).output().unwrap();
        assert!(resumed.status.success());
        assert!(
            String::from_utf8_lossy(&resumed.stderr)
                .contains(&format!("{n} answered from the ledger, 0 new")),
            "{}",
            String::from_utf8_lossy(&resumed.stderr)
        );
        assert_eq!(
            server.requests() as usize,
            n,
            "the repair re-bought nothing"
        );
        let v = run_in(&["verify", run.to_str().unwrap()], d.path());
        assert!(v.status.success());
        assert!(String::from_utf8_lossy(&v.stdout).contains("repaired"));
    }
}

/// A small simulated screen and its files.
fn simulated(dir: &Path) {
    crate::util::simulated(dir, 5, 40, 60);
}

fn audit_config(design: &str) -> String {
    format!(
        "[study]\nname = \"robust\"\nseed = 1\n\n[[screens]]\nname = \"sim\"\nscreen = \"data/screen.tsv\"\ngene_sets = \"data/pathways.gmt\"\npathways = [\"SIM_PATHWAY_1\"]\nnetwork = \"data/network.tsv\"\nsimulated = true\n\n[design]\nstrategies = [\"random\", \"prior\"]\n{design}\n"
    )
}

/// Bad data or an impossible design is found before the pre-registration lock is written, so
/// the corrected rerun is not refused as a deviation.
#[test]
fn an_audit_reads_and_checks_everything_before_its_lock() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    simulated(&dir.join("data"));
    let good = std::fs::read_to_string(dir.join("data/screen.tsv")).unwrap();
    let ok_design = "rounds = 1\nbatch = 4\nseeds = 1";
    std::fs::write(dir.join("a.toml"), audit_config(ok_design)).unwrap();
    // A NaN in the screen.
    let lines: Vec<&str> = good.lines().collect();
    let mut bad_row: Vec<String> = lines[3].split('\t').map(str::to_string).collect();
    bad_row[2] = "NaN".into();
    let mut nan = lines.clone();
    let joined = bad_row.join("\t");
    nan[3] = &joined;
    std::fs::write(dir.join("data/screen.tsv"), nan.join("\n") + "\n").unwrap();
    let e = fails(&["audit", "a.toml", "--out", "r"], dir);
    assert!(e.contains("screen.tsv"), "{e}");
    assert!(
        !dir.join("r/lock.json").exists(),
        "a lock was written before the data were read"
    );
    // A truncated gzip.
    let gz = dir.join("data/screen.tsv.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(good.as_bytes()).unwrap();
    let bytes = enc.finish().unwrap();
    std::fs::write(&gz, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(
        dir.join("g.toml"),
        audit_config(ok_design).replace("data/screen.tsv", "data/screen.tsv.gz"),
    )
    .unwrap();
    fails(&["audit", "g.toml", "--out", "r"], dir);
    assert!(!dir.join("r/lock.json").exists());
    std::fs::write(dir.join("data/screen.tsv"), &good).unwrap();
    // A budget larger than the pool; a pathway without perturbed members; a zero setting.
    for (name, text) in [
        (
            "budget.toml",
            audit_config("rounds = 400\nbatch = 40\nseeds = 1"),
        ),
        (
            "empty.toml",
            audit_config(ok_design).replace("SIM_PATHWAY_1\"]", "SIM_PATHWAY_1\", \"NOPE\"]"),
        ),
        (
            "zero.toml",
            audit_config("rounds = 1\nbatch = 4\nseeds = 1\npca_dim = 0"),
        ),
        (
            "lambda.toml",
            audit_config("rounds = 1\nbatch = 4\nseeds = 1\nlambda = inf"),
        ),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
        let e = fails(&["audit", name, "--out", "r"], dir);
        assert!(!dir.join("r/lock.json").exists(), "{name}: {e}");
    }
    // The corrected config runs in the same folder.
    let o = run_in(&["audit", "a.toml", "--out", "r"], dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Every numeric setting has a range, refused with one line before any work (no hang: each
/// call is timed out by the harness's `fails`, which waits for exit).
#[test]
fn settings_out_of_range_are_refused_at_once() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    simulated(&dir.join("data"));
    std::fs::write(
        dir.join("v.csv"),
        "item,judge,order,strategy_a,strategy_b,winner\ni1,j,ab,x,y,A\n",
    )
    .unwrap();
    for alpha in ["0", "NaN", "1.5", "-0.1", "1"] {
        let t = Instant::now();
        fails(&["stats", "--verdicts", "v.csv", "--alpha", alpha], dir);
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "stats --alpha {alpha} took long"
        );
    }
    fails(&["stats", "--verdicts", "v.csv", "--resamples", "0"], dir);
    for alpha in ["NaN", "0"] {
        let e = fails(&["blind", "somerun", "--alpha", alpha, "--out", "t"], dir);
        assert!(e.contains("--alpha"), "{e}");
    }
    let plan = |extra: &[&str]| fails(&small_plan("data/pathways.gmt", "p", extra), dir);
    for (flag, v) in [
        ("--rounds", "0"),
        ("--pca-dim", "0"),
        ("--prior-dim", "0"),
        ("--lambda", "inf"),
        ("--lambda", "NaN"),
        ("--min-score", "NaN"),
        ("--feature-fraction", "0"),
        ("--test-fraction", "1"),
        ("--members", "0"),
    ] {
        let e = plan(&[flag, v]);
        assert!(e.contains(flag), "{flag} {v}: {e}");
    }
    let e = plan(&["--strategies", "random,random"]);
    assert!(e.contains("named twice"), "{e}");
    // Model files: each bad value names its field.
    for (field, line) in [
        ("timeout_secs", "timeout_secs = 1e300"),
        ("requests_per_minute", "requests_per_minute = 0"),
        ("price_input_per_mtok", "price_input_per_mtok = nan"),
        ("backoff_secs", "backoff_secs = inf"),
    ] {
        std::fs::write(
            dir.join("m.toml"),
            format!("provider = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n{line}\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join("r.jsonl"),
            "{\"id\": \"a\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n",
        )
        .unwrap();
        let e = fails(
            &[
                "query",
                "--model",
                "m.toml",
                "--requests",
                "r.jsonl",
                "--run",
                "q",
            ],
            dir,
        );
        assert!(e.contains(field), "{field}: {e}");
    }
    // Audit configs share the ranges.
    std::fs::write(
        dir.join("s.toml"),
        audit_config("rounds = 1\nbatch = 4\nseeds = 1\n\n[stats]\nresamples = 0"),
    )
    .unwrap();
    fails(&["audit", "s.toml", "--out", "r"], dir);
    std::fs::write(
        dir.join("t.toml"),
        audit_config("rounds = 1\nbatch = 4\nseeds = 1").replace(
            "strategies = [\"random\", \"prior\"]",
            "strategies = [\"random\", \"random\"]",
        ),
    )
    .unwrap();
    let e = fails(&["audit", "t.toml", "--out", "r"], dir);
    assert!(e.contains("twice"), "{e}");
}

/// A closed stdout ends the command quietly (exit 0, nothing on stderr) for every command that
/// prints.
#[test]
fn a_closed_pipe_exits_quietly() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    simulated(&dir.join("data"));
    let mut verdicts = String::from("item,judge,order,strategy_a,strategy_b,winner\n");
    for i in 0..40 {
        verdicts += &format!("i{i},j,ab,x,y,A\ni{i},j,ba,x,y,B\n");
    }
    std::fs::write(dir.join("v.csv"), verdicts).unwrap();
    let words = |w: &[&str]| w.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    let cases: Vec<Vec<String>> = vec![
        words(&["data", "list"]),
        words(&["stats", "--verdicts", "v.csv", "--resamples", "200"]),
        words(&["simulate", "--out", "sim2"]),
        small_plan("data/pathways.gmt", "p", &[]),
        words(&["inspect", "data/screen.tsv"]),
    ];
    for args in cases {
        let mut child = Command::new(bin())
            .args(&args)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader goes away before anything is printed
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(o.status.success(), "{args:?}: {:?} {err}", o.status);
    }
}

/// Duplicates and contradictions are refused with one line naming the file and line.
#[test]
fn duplicates_and_contradictions_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let head = "item,judge,order,strategy_a,strategy_b,winner\n";
    for (name, body, want) in [
        (
            "dup.csv",
            "i1,j,ab,x,y,A\ni1,j,ab,x,y,A\n",
            "duplicates line 2",
        ),
        (
            "contra.csv",
            "i1,j,ab,x,y,A\ni1,j,ab,x,y,B\n",
            "contradicts line 2",
        ),
        ("pair.csv", "i1,j,ab,x,y,A\ni1,k,ab,x,z,A\n", "compares"),
    ] {
        std::fs::write(dir.join(name), format!("{head}{body}")).unwrap();
        let e = fails(&["stats", "--verdicts", name], dir);
        assert!(e.contains(&format!("{name}:3")) && e.contains(want), "{e}");
    }
    // A dense matrix with a readout column twice.
    std::fs::write(
        dir.join("m.tsv"),
        "perturbation\tA\tB\tA\nctrl\t0\t0\t0\nA\t1\t2\t3\nB\t2\t1\t0\n",
    )
    .unwrap();
    let e = fails(&["inspect", "m.tsv"], dir);
    assert!(e.contains("appears twice"), "{e}");
}

/// Smaller defects: byte-order marks, gzipped verdicts, 10 MB fields echoed in full, `--out` an
/// existing file, a plan run read from another folder.
#[test]
fn smaller_input_defects() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    simulated(&dir.join("data"));
    // A BOM on the screen, the GMT and a verdict CSV.
    for f in ["data/screen.tsv", "data/pathways.gmt"] {
        let t = std::fs::read(dir.join(f)).unwrap();
        let mut b = b"\xEF\xBB\xBF".to_vec();
        b.extend(t);
        std::fs::write(dir.join(f), b).unwrap();
    }
    let verdicts = "item,judge,order,strategy_a,strategy_b,winner\ni1,j,ab,x,y,A\ni1,j,ba,x,y,B\n";
    std::fs::write(dir.join("v.csv"), format!("\u{feff}{verdicts}")).unwrap();
    let o = run_in(&["stats", "--verdicts", "v.csv", "--resamples", "200"], dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Gzipped verdicts read like every other gzipped input.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(verdicts.as_bytes()).unwrap();
    std::fs::write(dir.join("v.csv.gz"), enc.finish().unwrap()).unwrap();
    let o = run_in(
        &["stats", "--verdicts", "v.csv.gz", "--resamples", "200"],
        dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Quoted fields with commas.
    std::fs::write(
        dir.join("q.csv"),
        "item,judge,order,strategy_a,strategy_b,winner\n\"i,1\",\"judge, the first\",ab,x,y,A\n",
    )
    .unwrap();
    let o = run_in(
        &[
            "stats",
            "--verdicts",
            "q.csv",
            "--resamples",
            "200",
            "--json",
        ],
        dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("judge, the first"));
    // An OS error is printed once.
    for args in [
        vec!["inspect", "missing.tsv"],
        vec!["stats", "--verdicts", "missing.csv"],
        vec!["audit", "missing.toml"],
    ] {
        let e = fails(&args, dir);
        assert_eq!(e.matches("os error 2").count(), 1, "{e}");
    }
    // A 10 MB field is not echoed in full.
    let big = "x".repeat(10 << 20);
    std::fs::write(
        dir.join("big.csv"),
        format!("item,judge,order,strategy_a,strategy_b,winner\ni1,j,ab,x,y,{big}\n"),
    )
    .unwrap();
    let e = fails(&["stats", "--verdicts", "big.csv"], dir);
    assert!(e.len() < 4_000, "echoed {} bytes", e.len());
    // The plan runs with the BOM'd inputs; `--out` naming a file names it.
    let plan = |out: &str| run_in(&small_plan("data/pathways.gmt", out, &[]), dir);
    let o = plan("runs/p");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(dir.join("afile"), "x").unwrap();
    let o = plan("afile");
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    one_error_line(&e, &"plan --out afile");
    assert!(e.contains("afile"), "{e}");
    // `blind` finds the plan run's GMT by its hash when run from another folder; the same run
    // twice is refused.
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let run = dir.join("runs/p");
    let o = run_in(
        &["blind", run.to_str().unwrap(), "--out", "tasks"],
        &elsewhere,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e = fails(
        &[
            "blind",
            run.to_str().unwrap(),
            run.to_str().unwrap(),
            "--out",
            "t2",
        ],
        &elsewhere,
    );
    assert!(e.contains("twice"), "{e}");
}

/// A small deterministic generator (xorshift) for the fuzz pass.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Valid bytes mutated: flipped bytes, inserted junk, deleted or repeated spans, truncation,
/// NaN, NUL and BOM injected, or arbitrary bytes.
fn mutate(valid: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = valid.to_vec();
    match rng.below(9) {
        0 => (0..rng.below(200) + 1).map(|_| rng.next() as u8).collect(),
        1 => {
            b.truncate(rng.below(b.len()));
            b
        }
        kind => {
            for _ in 0..rng.below(4) + 1 {
                if b.is_empty() {
                    b.push(b'x');
                }
                let at = rng.below(b.len());
                match kind {
                    2 => b[at] ^= 1 << rng.below(8),
                    3 => {
                        let junk: Vec<u8> =
                            (0..rng.below(12) + 1).map(|_| rng.next() as u8).collect();
                        b.splice(at..at, junk);
                    }
                    4 => {
                        let end = (at + rng.below(40)).min(b.len());
                        b.drain(at..end);
                    }
                    5 => {
                        let end = (at + rng.below(80)).min(b.len());
                        let span = b[at..end].to_vec();
                        b.splice(at..at, span);
                    }
                    6 => {
                        b.splice(at..at, b"NaN\t-inf,".iter().copied());
                    }
                    7 => b.splice(at..at, [0u8, 0xEF, 0xBB, 0xBF]).for_each(drop),
                    _ => b
                        .splice(at..at, b"\n\n\"\"\t,".iter().copied())
                        .for_each(drop),
                }
            }
            b
        }
    }
}

/// Run with a deadline: a hang is a failure.
fn run_deadline(args: &[String], cwd: &Path, secs: u64) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if t.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            panic!("pertaudit {args:?} hung (> {secs} s)");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every reader, fed arbitrary and mutated bytes: never a panic or a hang; a failure is exit 2
/// with one error line.
#[test]
fn fuzzed_inputs_never_panic_or_hang() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    simulated(&dir.join("data"));
    // Valid specimens of every format, from the simulated data and small hand-made files.
    let screen = std::fs::read(dir.join("data/screen.tsv")).unwrap();
    let ranked = b"perturbation\trank\tgene\tin_top_up\nP1\t1\tG1\t1\nP1\t2\tG2\t0\nP2\t1\tG1\t1\nP2\t2\tG3\t1\n".to_vec();
    std::fs::write(
        dir.join("fuzz-k-dir.csv"),
        "pert,gene,label,split\nP1,G1,1,train\n",
    )
    .unwrap();
    let labelled = b"pert,gene,label,split\nP1,G1,1,train\nP1,G2,0,train\nP2,G1,1,test\n".to_vec();
    let gmt = std::fs::read(dir.join("data/pathways.gmt")).unwrap();
    let h5ad = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/replogle_bulk_tiny.h5ad"),
    )
    .unwrap();
    let string = std::fs::read(dir.join("data/network.tsv")).unwrap();
    let genes = b"symbol\tname\taliases\nG1\tgene one\tA1|B1\nG2\tgene two\t\n".to_vec();
    let verdicts =
        b"item,judge,order,strategy_a,strategy_b,winner\ni1,j,ab,x,y,A\ni1,j,ba,x,y,B\n".to_vec();
    let audit = audit_config("rounds = 1\nbatch = 4\nseeds = 1").into_bytes();
    let model = b"provider = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\ntimeout_secs = 1\nmax_retries = 0\n".to_vec();
    // A real ledger from a query run against a scripted server.
    let (_rt, server) = server(0);
    let (m, reqs) = query_inputs(dir, &server.base_url(), 3);
    assert!(query(&m, &reqs, &dir.join("lrun"))
        .output()
        .unwrap()
        .status
        .success());
    let ledger = std::fs::read(dir.join("lrun/ledger.jsonl")).unwrap();

    fn s(x: &str) -> String {
        x.to_string()
    }
    fn plan_with(flag: &str, file: &str) -> Vec<String> {
        if flag == "--pathways" {
            small_plan(file, "fuzzrun", &["--members", "2"])
        } else {
            small_plan(
                "data/pathways.gmt",
                "fuzzrun",
                &["--members", "2", flag, file],
            )
        }
    }
    type Case = (&'static str, Vec<u8>, Box<dyn Fn(&str) -> Vec<String>>);
    let cases: Vec<Case> = vec![
        ("dense.tsv", screen, Box::new(|f| vec![s("inspect"), s(f)])),
        ("ranked.tsv", ranked, Box::new(|f| vec![s("inspect"), s(f)])),
        ("k-de.csv", labelled, Box::new(|f| vec![s("inspect"), s(f)])),
        ("bulk.h5ad", h5ad, Box::new(|f| vec![s("inspect"), s(f)])),
        ("sets.gmt", gmt, Box::new(|f| plan_with("--pathways", f))),
        (
            "string.tsv",
            string,
            Box::new(|f| plan_with("--network", f)),
        ),
        ("genes.tsv", genes, Box::new(|f| plan_with("--genes", f))),
        (
            "verdicts.csv",
            verdicts,
            Box::new(|f| {
                vec![
                    s("stats"),
                    s("--verdicts"),
                    s(f),
                    s("--resamples"),
                    s("100"),
                ]
            }),
        ),
        (
            "audit.toml",
            audit,
            Box::new(|f| vec![s("audit"), s(f), s("--out"), s("fuzzaudit")]),
        ),
        (
            "model.toml",
            model,
            Box::new(|f| {
                vec![
                    s("query"),
                    s("--model"),
                    s(f),
                    s("--requests"),
                    s("requests.jsonl"),
                    s("--run"),
                    s("fuzzq"),
                ]
            }),
        ),
        ("ledger", ledger, Box::new(|_| vec![s("verify"), s("lrun")])),
    ];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let per_reader = 25;
    let mut failures = 0;
    for (name, valid, args) in &cases {
        for i in 0..per_reader {
            let bytes = mutate(valid, &mut rng);
            let file = if *name == "ledger" {
                dir.join("lrun/ledger.jsonl")
            } else {
                dir.join(format!("fuzz-{name}"))
            };
            std::fs::write(&file, &bytes).unwrap();
            let _ = std::fs::remove_dir_all(dir.join("fuzzaudit"));
            let argv = args(file.file_name().unwrap().to_str().unwrap());
            let argv: Vec<String> = if *name == "ledger" { args("") } else { argv };
            let o = run_deadline(&argv, dir, 60);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(!err.contains("panicked"), "{name} #{i}: panic: {err}");
            match o.status.code() {
                Some(0) => {}
                Some(2) => {
                    one_error_line(&err, &format!("{name} #{i}"));
                    failures += 1;
                }
                other => panic!("{name} #{i}: exit {other:?}: {err}"),
            }
        }
        if *name == "ledger" {
            std::fs::write(dir.join("lrun/ledger.jsonl"), valid).unwrap();
        }
    }
    assert!(
        failures > cases.len() * per_reader / 3,
        "only {failures} inputs were refused: the mutations are too mild"
    );
}
