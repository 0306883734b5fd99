//! The one-command audit, its lock and report, the demo, and `data fetch`, through the real
//! binary.

use crate::util::{bin, chromium, model_present, snapshot, tree};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&str], cwd: &Path) -> Output {
    let o = bin().args(args).current_dir(cwd).output().unwrap();
    o
}

fn ok(args: &[&str], cwd: &Path) -> String {
    let o = run(args, cwd);
    assert!(
        o.status.success(),
        "pertaudit {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(args: &[&str], cwd: &Path) -> String {
    let o = run(args, cwd);
    assert_eq!(
        o.status.code(),
        Some(2),
        "pertaudit {args:?} should fail with exit 2"
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const NO_LLM: &str = r#"
[study]
name = "nollm"
seed = 3

[[screens]]
name = "sim"
simulated = true
screen = "data/screen.tsv"
gene_sets = "data/pathways.gmt"
pathways = ["SIM_PATHWAY_1", "SIM_PATHWAY_3"]
network = "data/network.tsv"
annotations = "data/context.tsv"

[design]
strategies = ["random", "prior", "bald", "iterpert"]
rounds = 3
batch = 6
seeds = 3

[stats]
resamples = 500
"#;

fn no_llm_study(dir: &Path) {
    ok(&["simulate", "--out", "data", "--seed", "5"], dir);
    std::fs::write(dir.join("study.toml"), NO_LLM).unwrap();
}

fn report_files(reports: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    tree(reports)
}

#[test]
fn audit_without_llm_locks_reports_resumes_and_records_deviations() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    no_llm_study(dir);
    let out = ok(
        &["audit", "study.toml", "--out", "run", "--reports", "reps"],
        dir,
    );
    assert!(out.contains("report: reps/nollm-"), "{out}");
    let lock = std::fs::read_to_string(dir.join("run/lock.json")).unwrap();
    for want in [
        "data/screen.tsv",
        "data/pathways.gmt",
        "\"analysis_plan\"",
        "\"config\"",
    ] {
        assert!(lock.contains(want), "lock lacks {want}");
    }
    let first = report_files(&dir.join("reps"));
    let md = first
        .iter()
        .find(|(p, _)| p.ends_with("report.md"))
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .unwrap();
    snapshot("report_nollm.md", &md);
    assert!(md.contains("SIMULATED DATA"));
    assert!(md.contains("### sim / SIM_PATHWAY_3"));
    assert!(md.contains("None: every locked input is unchanged"));
    assert!(
        md.contains("| prior |") || md.contains("| **prior** (best) |"),
        "{md}"
    );
    let html = first
        .iter()
        .find(|(p, _)| p.ends_with("report.html"))
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        2,
        "two learning-curve figures inline"
    );
    assert!(!html.contains("src=\"http") && !html.contains("<link") && !html.contains("<script"));
    let v = ok(&["verify", "run"], dir);
    assert!(v.contains("locked inputs re-hashed, all unchanged"), "{v}");
    // A run cut short (audit.json says so) gets no report.
    let aj = std::fs::read_to_string(dir.join("run/audit.json")).unwrap();
    assert!(aj.contains("\"complete\": true"));
    std::fs::write(
        dir.join("run/audit.json"),
        aj.replace("\"complete\": true", "\"complete\": false"),
    )
    .unwrap();
    let e = err(&["report", "run", "--reports", "reps"], dir);
    assert!(e.contains("has not finished"), "{e}");
    std::fs::write(dir.join("run/audit.json"), &aj).unwrap();

    // Resume: the same outputs and the same report, byte for byte.
    let run_before = tree(&dir.join("run/plan"));
    let o = run(
        &["audit", "study.toml", "--out", "run", "--reports", "reps"],
        dir,
    );
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("resuming"));
    assert_eq!(tree(&dir.join("run/plan")), run_before);
    assert_eq!(report_files(&dir.join("reps")), first);

    // A changed input after the lock: refused (naming it), nothing rewritten.
    let mut net = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("data/network.tsv"))
        .unwrap();
    writeln!(net, "SIMP1C1G01\tSIMP2C1G01\t901").unwrap();
    drop(net);
    let e = err(
        &["audit", "study.toml", "--out", "run", "--reports", "reps"],
        dir,
    );
    assert!(e.contains("inputs: screens.sim.network: sha256"), "{e}");
    assert!(e.contains("--deviation"), "{e}");
    assert_eq!(tree(&dir.join("run/plan")), run_before);
    let e = err(&["verify", "run"], dir);
    assert!(
        e.contains("locked inputs changed") && e.contains("screens.sim.network"),
        "{e}"
    );
    // Accepted with a reason: recorded, and listed by the report.
    ok(
        &[
            "audit",
            "study.toml",
            "--out",
            "run",
            "--reports",
            "reps",
            "--deviation",
            "added a curated edge",
        ],
        dir,
    );
    let dev = std::fs::read_to_string(dir.join("run/deviations.jsonl")).unwrap();
    assert!(dev.contains("added a curated edge"));
    let md2 = report_files(&dir.join("reps"))
        .into_iter()
        .find(|(p, _)| p.ends_with("report.md"))
        .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
        .unwrap();
    assert!(
        md2.contains("Locked input changed after the lock: inputs: screens.sim.network"),
        "{md2}"
    );
    assert!(md2.contains("added a curated edge"));
    // After the deviation, a plain resume and verify hold the run to the accepted state.
    let o = run(
        &["audit", "study.toml", "--out", "run", "--reports", "reps"],
        dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir
        .join("run/superseded/1/plan/sim/SIM_PATHWAY_1/metrics.csv")
        .exists());
    assert!(!dir.join("run/superseded/2").exists());
    let v = ok(&["verify", "run"], dir);
    assert!(v.contains("all unchanged"), "{v}");
}

/// A design that cannot reach α is warned about before the lock; with `preflight = "refuse"`
/// it stops there in one line, leaving no lock behind.
#[test]
fn preflight_warns_or_refuses_an_unreachable_design() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    no_llm_study(dir);
    let refuse = NO_LLM.replace("[stats]", "[stats]\npreflight = \"refuse\"");
    assert_ne!(refuse, NO_LLM, "the study has a [stats] table");
    std::fs::write(dir.join("refuse.toml"), refuse).unwrap();
    let e = err(&["audit", "refuse.toml", "--out", "run-refused"], dir);
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(
        e.contains("stats.preflight") && e.contains("cannot reach") && e.contains("8 seeds needed"),
        "{e}"
    );
    assert!(!dir.join("run-refused/lock.json").exists());
    let o = run(&["audit", "study.toml", "--out", "run-warned"], dir);
    assert!(o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("preflight: best strategy"), "{stderr}");
    let plan = std::fs::read_to_string(dir.join("run-warned/analysis_plan.md")).unwrap();
    assert!(
        plan.contains("**cannot reach α = 0.05** (8 seeds needed)"),
        "{plan}"
    );
}

#[test]
fn bad_config_names_file_line_and_field() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    no_llm_study(dir);
    std::fs::write(
        dir.join("typo.toml"),
        NO_LLM.replace("seeds = 3", "sedes = 3"),
    )
    .unwrap();
    let e = err(&["audit", "typo.toml"], dir);
    assert!(e.contains("typo.toml:") && e.contains("sedes"), "{e}");
    std::fs::write(
        dir.join("missing.toml"),
        NO_LLM.replace("data/screen.tsv", "data/nope.tsv"),
    )
    .unwrap();
    let e = err(&["audit", "missing.toml", "--out", "r2"], dir);
    assert!(
        e.contains("data/nope.tsv") && e.contains("screens.sim.screen"),
        "{e}"
    );
    assert!(
        !dir.join("r2/lock.json").exists(),
        "no lock for a study that cannot start"
    );
    std::fs::write(
        dir.join("llm.toml"),
        NO_LLM.replace("\"random\", \"prior\"", "\"random\", \"llm\""),
    )
    .unwrap();
    let e = err(&["audit", "llm.toml"], dir);
    assert!(e.contains("field `planner`"), "{e}");
    std::fs::write(
        dir.join("pw.toml"),
        NO_LLM.replace("SIM_PATHWAY_3", "SIM_PATHWAY_9"),
    )
    .unwrap();
    let e = err(&["audit", "pw.toml", "--out", "r3"], dir);
    assert!(
        e.contains("field `screens[0].pathways`") && e.contains("SIM_PATHWAY_9"),
        "{e}"
    );
    std::fs::write(
        dir.join("st.toml"),
        NO_LLM.replace("\"prior\"", "\"priority\""),
    )
    .unwrap();
    let e = err(&["audit", "st.toml", "--out", "r4"], dir);
    assert!(e.contains("unknown strategy \"priority\""), "{e}");
    assert!(!dir.join("r3/lock.json").exists() && !dir.join("r4/lock.json").exists());
}

#[test]
fn example_configs_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut n = 0;
    for e in std::fs::read_dir(&root).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "toml") {
            pertaudit::audit::config::AuditConfig::load(&p)
                .unwrap_or_else(|e| panic!("{}: {e:#}", p.display()));
            n += 1;
        }
    }
    assert!(n >= 2, "examples/ holds {n} configs");
    // The demo's own config too.
    pertaudit::audit::config::AuditConfig::parse(
        &pertaudit::audit::demo::config_text(0),
        Path::new("demo.toml"),
    )
    .unwrap();
}

/// A one-shot HTTP server on 127.0.0.1 that answers every request with `body`.
fn serve_once(body: Vec<u8>, times: usize) -> (String, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        for _ in 0..times {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&body).unwrap();
        }
    });
    (format!("http://{addr}/files/1"), h)
}

#[test]
fn data_fetch_checks_size_and_sha256_and_keeps_nothing_wrong() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let body = b"fake h5ad bytes for the fetch test\n".repeat(100);
    let sha = pertaudit::data::runfile::sha256_bytes(&body);
    let (url, h) = serve_once(body.clone(), 3);
    let reg = |sha: &str, size: usize| {
        format!("[[file]]\nname = \"x.h5ad\"\nurl = \"{url}\"\nsha256 = \"{sha}\"\nsize = {size}\ndescription = \"test\"\n")
    };
    std::fs::write(dir.join("good.toml"), reg(&sha, body.len())).unwrap();
    std::fs::write(dir.join("badsha.toml"), reg(&"0".repeat(64), body.len())).unwrap();
    std::fs::write(dir.join("badsize.toml"), reg(&sha, body.len() + 1)).unwrap();
    let e = err(
        &[
            "data",
            "fetch",
            "x.h5ad",
            "--registry",
            "badsha.toml",
            "--dir",
            "dl",
        ],
        dir,
    );
    assert!(e.contains("sha256") && e.contains("not kept"), "{e}");
    let e = err(
        &[
            "data",
            "fetch",
            "x.h5ad",
            "--registry",
            "badsize.toml",
            "--dir",
            "dl",
        ],
        dir,
    );
    assert!(
        e.contains("bytes, expected") && e.contains("not kept"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_dir(dir.join("dl")).unwrap().count(),
        0,
        "nothing kept"
    );
    let o = ok(
        &[
            "data",
            "fetch",
            "x.h5ad",
            "--registry",
            "good.toml",
            "--dir",
            "dl",
        ],
        dir,
    );
    assert!(o.contains("checked"), "{o}");
    assert_eq!(std::fs::read(dir.join("dl/x.h5ad")).unwrap(), body);
    h.join().unwrap();
    let e = err(&["data", "fetch", "nope.h5ad"], dir);
    assert!(e.contains("K562_essential_normalized_bulk_01.h5ad"), "{e}");
    let l = ok(&["data", "list"], dir);
    assert_eq!(l.lines().count(), 3);
}

/// The README's first command, twice: identical reports; then replay, verify, resume, and the
/// report in headless Chromium (screenshot and PDF). A tiny demo by default; the documented
/// one when `PERTAUDIT_FULL_DEMO=1` (as `.ci/run` sets).
#[cfg(feature = "local-llm")]
#[test]
fn demo_is_deterministic_replayable_and_renders() {
    if !model_present() {
        return;
    }
    let _one = crate::util::one_model_at_a_time();
    let full = std::env::var_os("PERTAUDIT_FULL_DEMO").is_some_and(|v| v == "1");
    let demo = |out: &str, reps: &str, dir: &Path| {
        let mut a = vec!["demo", "--out", out, "--reports", reps];
        if !full {
            a.push("--tiny");
        }
        ok(&a, dir)
    };
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // The two runs side by side (each embedded model runs one thread): they must agree byte
    // for byte while competing for the machine, and CI waits for one demo's time, not two.
    let (out, _) = std::thread::scope(|s| {
        let b = s.spawn(|| demo("runs/b", "reps-b", dir));
        (demo("runs/a", "reps-a", dir), b.join().unwrap())
    });
    assert!(out.contains("SIMULATED"), "{out}");
    assert!(out.contains("report: reps-a/demo-"), "{out}");
    let a = tree(&dir.join("reps-a"));
    let b = tree(&dir.join("reps-b"));
    assert!(a.iter().any(|(p, _)| p.ends_with("report.html")));
    assert_eq!(
        a, b,
        "two demo runs with the same seed give identical reports"
    );
    // The ledgers themselves are identical too (the order of calls is fixed).
    assert_eq!(
        std::fs::read(dir.join("runs/a/ledger.jsonl")).unwrap(),
        std::fs::read(dir.join("runs/b/ledger.jsonl")).unwrap()
    );

    let md = a
        .iter()
        .find(|(p, _)| p.ends_with("report.md"))
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .unwrap();
    for want in [
        "SIMULATED DATA",
        "## Predictive performance",
        "## Judged coherence",
        "Bradley–Terry",
        "Fleiss' κ",
        "first-position rate",
        "## LLM-planner controls",
        "Leak checks passed before sending",
        "De-masking probe",
        "## Failures",
        "## Token use and cost",
        "## Methods",
        "## Provenance",
        "ledger head",
        "model weights",
    ] {
        assert!(md.contains(want), "report lacks {want:?}");
    }

    let v = ok(&["verify", "runs/a"], dir);
    assert!(v.starts_with("ok: ") && v.contains("all unchanged"), "{v}");

    // From the ledger alone: every step recomputed with no LLM call, the same report bytes.
    std::fs::remove_dir_all(dir.join("reps-a")).unwrap();
    let r = ok(
        &["report", "runs/a", "--replay", "--reports", "reps-a"],
        dir,
    );
    assert!(r.contains("identical to the run's, no LLM call"), "{r}");
    assert_eq!(tree(&dir.join("reps-a")), b);

    // Resume: the demo again makes no new LLM exchange.
    let exchanges = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .filter(|l| l.contains("\"kind\":\"exchange\""))
            .count()
    };
    let before = exchanges(&dir.join("runs/a/ledger.jsonl"));
    demo("runs/a", "reps-a", dir);
    assert_eq!(exchanges(&dir.join("runs/a/ledger.jsonl")), before);

    // Headless Chromium: a screenshot and a PDF of the self-contained page.
    let Some(browser) = chromium() else {
        eprintln!("skipping the Chromium rendering: no chromium on PATH (Debian: apt-get install chromium)");
        return;
    };
    let html = a
        .iter()
        .find(|(p, _)| p.ends_with("report.html"))
        .unwrap()
        .0
        .clone();
    let html = dir.join("reps-a").join(html);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/render-report.sh");
    let o = Command::new("bash")
        .arg(&script)
        .arg(&html)
        .arg(dir)
        .env("CHROMIUM", &browser)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let png = std::fs::read(dir.join("report.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (w, h) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert!(w >= 1000 && h >= 3000, "{w}×{h}");
    assert!(
        png.len() > 100_000,
        "a page with plots, not a blank: {} bytes",
        png.len()
    );
    let pdf = std::fs::read(dir.join("report.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let pages = String::from_utf8_lossy(&pdf).matches("/Type /Page").count()
        + String::from_utf8_lossy(&pdf).matches("/Type/Page").count();
    assert!(pages >= 3, "{pages} PDF pages");
}
