//! End-to-end tests of `pertaudit plan` on a small synthetic screen made here, plus
//! property tests of the strategies' invariants.

use crate::util::bin;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A ranked-DEG screen of 60 perturbations with two modules, a GMT and a STRING-like network.
fn synthetic(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let mut degs = String::from("perturbation\trank\tgene\tin_top_up\n");
    for p in 0..60 {
        let module = p % 2;
        for r in 1..=12 {
            let g = (module * 7 + r * (1 + p % 3) + p / 5) % 40;
            let up = (g + p) % 3 != 0;
            if degs.contains(&format!("P{p}\t{}\tR{g}\t", r - 1)) {
                continue;
            }
            let line = format!("P{p}\t{r}\tR{g}\t{}\n", up as u8);
            // skip duplicates of (P, gene)
            if degs.lines().any(|l| {
                l.starts_with(&format!("P{p}\t")) && l.split('\t').nth(2) == Some(&format!("R{g}"))
            }) {
                continue;
            }
            degs += &line;
        }
    }
    let screen = dir.join("screen.tsv");
    std::fs::write(&screen, degs).unwrap();
    let mut gmt = String::from("MODULE_ZERO\tfirst module");
    for p in (0..60).step_by(2).take(14) {
        let _ = write!(gmt, "\tP{p}");
    }
    gmt += "\nMODULE_ONE\tsecond\tP1\tP3\n";
    let gmt_path = dir.join("sets.gmt");
    std::fs::write(&gmt_path, gmt).unwrap();
    let mut net = String::from("symbol_1\tsymbol_2\tcombined_score\n");
    for p in 0..58 {
        let _ = writeln!(net, "P{p}\tP{}\t{}", p + 2, 700 + p);
    }
    let net_path = dir.join("net.tsv");
    std::fs::write(&net_path, net).unwrap();
    (screen, gmt_path, net_path)
}

fn plan_args(screen: &Path, gmt: &Path, net: &Path, out: &Path) -> Vec<String> {
    [
        "plan",
        "--screen",
        screen.to_str().unwrap(),
        "--pathways",
        gmt.to_str().unwrap(),
        "--pathway",
        "MODULE_ZERO",
        "--network",
        net.to_str().unwrap(),
        "--rounds",
        "3",
        "--batch",
        "4",
        "--seeds",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn plan_runs_and_is_byte_identical_across_runs() {
    let d = tempfile::tempdir().unwrap();
    let (s, g, n) = synthetic(d.path());
    let (o1, o2) = (d.path().join("r1"), d.path().join("r2"));
    for o in [&o1, &o2] {
        let out = bin().args(plan_args(&s, &g, &n, o)).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("pearson_delta"));
    }
    for f in [
        "metrics.csv",
        "selections.jsonl",
        "splits.jsonl",
        "curve.csv",
    ] {
        assert_eq!(
            std::fs::read(o1.join(f)).unwrap(),
            std::fs::read(o2.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let metrics = std::fs::read_to_string(o1.join("metrics.csv")).unwrap();
    // 2 seeds × 5 strategies × 4 rounds (0..=3) + header
    assert_eq!(metrics.lines().count(), 1 + 2 * 5 * 4);
    // Typed rows: calibration is a number for every round that acquired a batch (4 picks,
    // so a Spearman exists unless a side is constant) and NA in the last round.
    let rows: Vec<pertaudit::data::rows::MetricsRow> =
        pertaudit::data::rows::read_csv(&o1.join("metrics.csv")).unwrap();
    for r in &rows {
        if r.round == 3 {
            assert!(r.calibration_spearman.0.is_nan(), "{r:?}");
        }
    }
    let finite = rows
        .iter()
        .filter(|r| r.round < 3 && r.calibration_spearman.0.is_finite())
        .count();
    assert!(
        finite >= 20,
        "{finite} of 30 acquiring rounds have a calibration"
    );
    assert!(rows
        .iter()
        .all(|r| r.calibration_spearman.0.is_nan() || r.calibration_spearman.0.abs() <= 1.0));
    // selections: 2 seeds × 5 strategies × 3 rounds × 4 picks
    let sel = std::fs::read_to_string(o1.join("selections.jsonl")).unwrap();
    assert_eq!(sel.lines().count(), 2 * 5 * 3 * 4);
    // no perturbation is picked twice within one (seed, strategy), none is a test item
    let splits: Vec<serde_json::Value> = std::fs::read_to_string(o1.join("splits.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut seen = std::collections::HashSet::new();
    for l in sel.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let key = (
            v["seed"].as_u64().unwrap(),
            v["strategy"].as_str().unwrap().to_string(),
            v["perturbation"].as_str().unwrap().to_string(),
        );
        let split = splits.iter().find(|s| s["seed"] == v["seed"]).unwrap();
        assert!(!split["test"]
            .as_array()
            .unwrap()
            .contains(&v["perturbation"]));
        assert!(!split["initial"]
            .as_array()
            .unwrap()
            .contains(&v["perturbation"]));
        assert!(seen.insert(key), "repeat pick {l}");
    }
}

fn expect_error(args: &[&str], needles: &[&str]) {
    let out = bin().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "args {args:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "{err:?} lacks {n:?}");
    }
}

#[test]
fn bad_inputs_fail_with_one_clear_line() {
    let d = tempfile::tempdir().unwrap();
    let (s, g, n) = synthetic(d.path());
    let (s, g, n) = (
        s.to_str().unwrap(),
        g.to_str().unwrap(),
        n.to_str().unwrap(),
    );
    let o = d.path().join("o");
    let o = o.to_str().unwrap();
    // missing file
    expect_error(
        &[
            "plan",
            "--screen",
            "/nonexistent/x.tsv",
            "--pathways",
            g,
            "--pathway",
            "MODULE_ZERO",
            "--out",
            o,
        ],
        &["/nonexistent/x.tsv", "cannot read"],
    );
    // malformed row
    let bad = d.path().join("bad.tsv");
    std::fs::write(
        &bad,
        "perturbation\trank\tgene\tin_top_up\nA\t1\tG\t1\nA\tx\tH\t1\n",
    )
    .unwrap();
    expect_error(
        &[
            "plan",
            "--screen",
            bad.to_str().unwrap(),
            "--pathways",
            g,
            "--pathway",
            "MODULE_ZERO",
            "--out",
            o,
        ],
        &["bad.tsv:3", "rank"],
    );
    // NaN in a dense matrix
    let nan = d.path().join("nan.tsv");
    std::fs::write(&nan, "perturbation\tG1\tG2\ncontrol\t1\t1\nA\t1\tNaN\n").unwrap();
    expect_error(
        &[
            "plan",
            "--screen",
            nan.to_str().unwrap(),
            "--pathways",
            g,
            "--pathway",
            "MODULE_ZERO",
            "--out",
            o,
        ],
        &["nan.tsv:3", "G2", "not a finite number"],
    );
    // unknown pathway
    expect_error(
        &[
            "plan",
            "--screen",
            s,
            "--pathways",
            g,
            "--pathway",
            "MODULE_ZER",
            "--out",
            o,
        ],
        &["sets.gmt", "unknown pathway", "MODULE_ZERO"],
    );
    // batch larger than the pool
    expect_error(
        &[
            "plan",
            "--screen",
            s,
            "--pathways",
            g,
            "--pathway",
            "MODULE_ZERO",
            "--network",
            n,
            "--batch",
            "40",
            "--out",
            o,
        ],
        &["batch larger than the pool"],
    );
    // nothing was written by the failed runs
    assert!(!Path::new(o).join("metrics.csv").exists());
}

mod properties {
    use pertaudit::data::pathway::GeneSet;
    use pertaudit::numeric::linalg::Mat;
    use pertaudit::numeric::seed::stream;
    use pertaudit::planner::spec::StrategyKind;
    use pertaudit::planner::strategy::{builtin, AcquisitionContext, Lazy, Measured};
    use pertaudit::predict::ensemble::{fit, EnsembleConfig, Workspace};
    use pertaudit::predict::metrics::Scores;
    use pertaudit::predict::prior::{Kernel, Priors};
    use pertaudit::screen::Screen;
    use proptest::prelude::*;

    fn screen(n: usize, g: usize, salt: u64) -> Screen {
        let values = Mat::from_fn(n, g, |i, j| {
            (((i as u64 * 31 + j as u64 * 17 + salt * 7) % 23) as f64 - 11.0) / 11.0
        });
        Screen {
            name: "p".into(),
            source: "p".into(),
            perturbations: (0..n).map(|i| format!("P{i}")).collect(),
            targets: (0..n).map(|i| format!("R{}", i % (g + 3))).collect(),
            genes: (0..g).map(|j| format!("R{j}")).collect(),
            values,
            labels: None,
            response: Default::default(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn picks_come_from_the_pool_never_repeat_and_are_seed_stable(
            n in 20usize..40, salt in 0u64..1000, seed in 0u64..1000, batch in 1usize..6, si in 0usize..StrategyKind::ALL_BUILTIN.len(),
        ) {
            let s = screen(n, 12, salt);
            let emb = Mat::from_fn(n, 3, |i, j| ((i * (j + 2)) % 5) as f64);
            let priors = Priors { kernels: vec![("toy".into(), Kernel::rows(emb.clone()))], embedding: emb, closeness: (0..n).map(|i| (i % 4) as f64).collect(), neighbourhood: (0..n).map(|i| i % 3 == 0).collect() };
            let ws = Workspace::new(&s, &priors.embedding);
            let train: Vec<usize> = (0..6).collect();
            let pool: Vec<usize> = (8..n).collect();
            let model = fit(&ws, &train, &EnsembleConfig::default(), &mut stream(seed, "fit")).unwrap();
            let unc = || model.uncertainty(&pool);
            let pathway = GeneSet { name: "P".into(), description: String::new(), genes: vec!["R1".into()] };
            let measured = || Scores { pearson_delta: 0.0, top20_pearson: 0.0, top20_mse: 0.0, auroc_de: f64::NAN, auprc_de: f64::NAN, direction_accuracy: f64::NAN };
            let ctx = AcquisitionContext {
                screen: &s, pathway: &pathway, priors: &priors, model: &model, train: &train, pool: &pool,
                uncertainty: Lazy::new(&unc), batch, round: 0, seed, measured: Measured::new(&measured),
            };
            let kind = StrategyKind::ALL_BUILTIN[si];
            let a = builtin(kind).unwrap().select(&ctx, &mut stream(seed, "s")).unwrap();
            let b = builtin(kind).unwrap().select(&ctx, &mut stream(seed, "s")).unwrap();
            prop_assert_eq!(&a.picks, &b.picks);
            prop_assert_eq!(a.picks.len(), batch);
            let mut ids: Vec<usize> = a.picks.iter().map(|p| p.pert).collect();
            prop_assert!(ids.iter().all(|p| pool.contains(p)));
            ids.sort_unstable();
            ids.dedup();
            prop_assert_eq!(ids.len(), batch);
            // random-pathway draws from the pathway neighbourhood first (here every third
            // perturbation): all picks inside it while it holds enough candidates.
            if kind == StrategyKind::RandomPathway {
                let near = pool.iter().filter(|&&p| priors.neighbourhood[p]).count();
                let inside = a.picks.iter().filter(|p| priors.neighbourhood[p.pert]).count();
                prop_assert_eq!(inside, batch.min(near));
            }
        }
    }
}

mod llm_planner {
    use super::*;
    use pertaudit::llm::scripted::ScriptedServer;
    use std::time::Duration;

    fn model(dir: &Path, base: &str) -> PathBuf {
        let p = dir.join("planner.toml");
        std::fs::write(
            &p,
            format!("name = \"planner\"\nprovider = \"openai\"\nbase_url = \"{base}\"\nmodel = \"scripted\"\nmax_retries = 0\n"),
        )
        .unwrap();
        p
    }

    /// A temporary folder with the synthetic screen, and a scripted server with its runtime
    /// (keep the whole scene alive while the run uses it).
    struct Scene {
        d: tempfile::TempDir,
        screen: PathBuf,
        gmt: PathBuf,
        net: PathBuf,
        server: ScriptedServer,
        _rt: tokio::runtime::Runtime,
    }

    fn scene() -> Scene {
        let d = tempfile::tempdir().unwrap();
        let (screen, gmt, net) = synthetic(d.path());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(ScriptedServer::start(Duration::ZERO)).unwrap();
        Scene {
            d,
            screen,
            gmt,
            net,
            server,
            _rt: rt,
        }
    }

    /// `pertaudit <command>` on the synthetic screen with a scripted re-ranker; the run folder.
    fn run_with(command: &str, persona: &str, extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let Scene {
            d,
            screen,
            gmt,
            net,
            server,
            _rt,
        } = scene();
        let m = model(d.path(), &format!("http://{}/{persona}/v1", server.addr));
        let out = d.path().join("run");
        let mut args = plan_args(&screen, &gmt, &net, &out);
        args[0] = command.into();
        args.extend(["--llm-model", m.to_str().unwrap()].map(String::from));
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = bin().args(&args).output().unwrap();
        assert!(
            o.status.success(),
            "{persona}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        (d, out)
    }

    fn run(persona: &str) -> (Vec<serde_json::Value>, String) {
        let (_d, out) = run_with("plan", persona, &["--strategies", "random,llm"]);
        let sel: Vec<serde_json::Value> = std::fs::read_to_string(out.join("selections.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|v: &serde_json::Value| v["strategy"] == "llm")
            .collect();
        let ledger = std::fs::read_to_string(out.join("ledger.jsonl")).unwrap();
        let v = bin().arg("verify").arg(&out).output().unwrap();
        assert!(v.status.success());
        (sel, ledger)
    }

    #[test]
    fn valid_answers_are_used_with_their_rationales() {
        let (sel, _) = run("planner-good");
        // 2 seeds × 3 rounds × 4 picks.
        assert_eq!(sel.len(), 24);
        for s in &sel {
            assert!(s["rationale"]
                .as_str()
                .unwrap()
                .ends_with("fills a gap in coverage"));
            assert_eq!(s["details"]["llm_attempts"], 1.0);
            assert!(s["details"].get("llm_fallback").is_none());
            // Shortlisted: within the top 3 × batch by uncertainty.
            assert!(s["details"]["shortlist_rank"].as_f64().unwrap() < 12.0);
        }
    }

    #[test]
    fn invalid_answers_are_reprompted_then_fall_back_on_record() {
        for (persona, error) in [
            ("planner-unknown", "not in the shortlist: NOTAGENE"),
            ("planner-dups", "chosen more than once"),
            ("planner-few", "3 genes chosen; exactly 4 are needed"),
            ("prose", "not a JSON object"),
        ] {
            let (sel, ledger) = run(persona);
            assert_eq!(sel.len(), 24, "{persona}");
            for s in &sel {
                assert_eq!(s["details"]["llm_fallback"], 1.0, "{persona}");
                assert_eq!(s["details"]["llm_attempts"], 3.0, "{persona}");
                assert!(s.get("rationale").is_none());
            }
            let note = sel[0]["notes"][0].as_str().unwrap();
            assert!(
                note.starts_with("fallback to the uncertainty order after 3 invalid answer(s)"),
                "{note}"
            );
            assert!(note.contains(error), "{persona}: {note}");
            // 6 rounds × (1 + 2 re-prompts) exchanges, the re-prompts naming the error.
            assert_eq!(
                ledger.matches("\"kind\":\"exchange\"").count(),
                18,
                "{persona}"
            );
        }
    }

    #[test]
    fn ablate_maps_masked_answers_back_and_compares_arms() {
        let (_d, out) = run_with("ablate", "planner-good", &["--probe"]);
        let ab: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("ablation.json")).unwrap())
                .unwrap();
        assert_eq!(
            ab["arms"],
            serde_json::json!([
                "bald",
                "llm",
                "llm-masked",
                "llm-symbols",
                "llm-shuffled",
                "llm-names",
                "llm-permuted",
                "llm-zeroshot"
            ])
        );
        let pairs = ab["pairs"].as_array().unwrap();
        assert_eq!(pairs.len(), 28);
        // Every masked and shuffled prompt was leak-checked (2 seeds × 3 rounds); the arms that
        // show symbols were not; the probe asked about every shortlisted ID of the
        // identity-hiding arms (this re-ranker answers no guesses: nothing recovered).
        for (arm, n) in [
            ("llm-masked", 6),
            ("llm-names", 6),
            ("llm-shuffled", 6),
            ("llm", 0),
            ("llm-permuted", 0),
        ] {
            assert_eq!(ab["leak_checks"][arm], n, "{arm}");
        }
        for arm in ["llm-masked", "llm-names"] {
            assert!(
                ab["probe"][arm]["asked"].as_u64().unwrap() >= 6 * 8,
                "{arm}"
            );
            assert_eq!(ab["probe"][arm]["recovered"], 0, "{arm}");
        }
        assert!(ab["probe"].get("llm").is_none());
        // One answer per batch, none invalid, no name off the shortlist; each control tested.
        for r in ab["answers"]["llm-permuted"].as_array().unwrap() {
            assert_eq!(r["answers"], 2);
            assert_eq!(r["invalid_rate"], 0.0);
            assert_eq!(r["hallucinated_rate"], 0.0);
        }
        assert_eq!(ab["controls"].as_array().unwrap().len(), 6);
        // A re-ranker that takes the first N genes listed picks the same genes in every arm
        // (all arms list the shortlist in the same seeded order): the masked arm's opaque IDs
        // were mapped back to the same genes. The list is not in uncertainty order, so it
        // does not simply agree with bald.
        let mut bald_overlap = Vec::new();
        for p in pairs {
            assert_eq!(p["batches"], 6);
            if p["a"] == "bald" {
                bald_overlap.push(p["jaccard_mean"].as_f64().unwrap());
                continue;
            }
            assert_eq!(p["jaccard_mean"], 1.0, "{p}");
            for r in p["rounds"].as_array().unwrap() {
                assert_eq!(r["mean_difference"], 0.0);
            }
        }
        assert!(bald_overlap.iter().all(|&j| j < 1.0), "{bald_overlap:?}");
        // The mean shortlist rank of the picks is recorded per arm.
        let r = ab["mean_shortlist_rank"]["llm"].as_f64().unwrap();
        assert!(r > 1.5 && r < 10.5, "{r}");
        assert_eq!(ab["fallback_rate"]["llm-masked"], 0.0);
        let requests: Vec<String> = std::fs::read_to_string(out.join("ledger.jsonl"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        // At most one call per arm × seed × round; identical prompts (e.g. the shuffled arm when
        // every candidate has the same annotation) are answered once, from the ledger.
        let exchanges: Vec<&String> = requests
            .iter()
            .filter(|l| l.contains("\"kind\":\"exchange\""))
            .collect();
        let distinct: std::collections::BTreeSet<String> = exchanges
            .iter()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["request"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(distinct.len(), exchanges.len());
        // Without a gene table the masked and names arms show the same text: their probes
        // (and picks) are then one request each, answered once.
        let probes = exchanges.iter().filter(|l| l.contains("/probe")).count();
        assert!((6..=12).contains(&probes), "{probes}");
        assert!(
            (30..=42).contains(&(exchanges.len() - probes)),
            "{}",
            exchanges.len()
        );
    }

    #[test]
    fn two_backbones_run_head_to_head_without_overwriting_each_other() {
        // The default planner (`planner-good`: the first N listed) and a backbone named by its
        // file stem (`hashy.toml`, `planner-hash`: a hash of the request), each with its own arms.
        // (The answer cache is keyed by provider, model id and request, not by URL: two files
        // for one model id share answers, so the backbone names another model id.)
        let Scene {
            d,
            screen,
            gmt,
            net,
            server,
            _rt,
        } = scene();
        let good = model(d.path(), &format!("http://{}/planner-good/v1", server.addr));
        let hashy = d.path().join("hashy.toml");
        std::fs::write(
            &hashy,
            format!("provider = \"openai\"\nbase_url = \"http://{}/planner-hash/v1\"\nmodel = \"scripted-2\"\nmax_retries = 0\n", server.addr),
        )
        .unwrap();
        let out = d.path().join("run");
        let mut args = plan_args(&screen, &gmt, &net, &out);
        args[0] = "ablate".into();
        args.extend(
            [
                "--llm-model",
                good.to_str().unwrap(),
                "--llm-backbone",
                hashy.to_str().unwrap(),
            ]
            .map(String::from),
        );
        // `ablate` takes the arms from --strategies when they name backbones.
        args.extend(
            ["--strategies", "llm,llm-masked,llm@hashy,llm-masked@hashy"].map(String::from),
        );
        let o = bin().args(&args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let sel: Vec<serde_json::Value> = std::fs::read_to_string(out.join("selections.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let batch = |s: &str| -> Vec<String> {
            sel.iter()
                .filter(|v| v["strategy"] == s)
                .map(|v| v["target"].as_str().unwrap().to_string())
                .collect()
        };
        for s in ["llm", "llm-masked", "llm@hashy", "llm-masked@hashy"] {
            assert_eq!(batch(s).len(), 24, "{s}");
        }
        assert_ne!(
            batch("llm"),
            batch("llm@hashy"),
            "the backbones answered differently"
        );
        let ledger = std::fs::read_to_string(out.join("ledger.jsonl")).unwrap();
        assert!(
            ledger.contains("\"tag\":\"llm-masked@hashy/seed"),
            "backbone tags kept apart"
        );
        let ab: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("ablation.json")).unwrap())
                .unwrap();
        let tests: Vec<(String, String, String)> = ab["controls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["reference"].as_str().unwrap().into(),
                    t["control"].as_str().unwrap().into(),
                    t["detects"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert!(
            tests
                .iter()
                .any(|t| t.0 == "llm@hashy" && t.1 == "llm-masked@hashy"),
            "{tests:?}"
        );
        assert!(
            tests.iter().any(|t| t.0 == "llm" && t.1 == "llm-masked"),
            "{tests:?}"
        );
        assert!(
            tests
                .iter()
                .any(|t| t.0 == "llm" && t.1 == "llm@hashy" && t.2 == "backbones head to head"),
            "{tests:?}"
        );
        // A backbone strategy without its file is one clear line.
        let mut bad = plan_args(&screen, &gmt, &net, &d.path().join("run2"));
        bad.extend(
            [
                "--llm-model",
                good.to_str().unwrap(),
                "--strategies",
                "llm@nosuch",
            ]
            .map(String::from),
        );
        let o = bin().args(&bad).output().unwrap();
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("--llm-backbone nosuch.toml"));
    }

    #[test]
    fn llm_samples_measure_the_models_own_spread() {
        // `planner-hash` answers by the request's hash: another sample (another seed) is
        // another batch. Temperature 0 is refused with one line.
        let Scene {
            d,
            screen,
            gmt,
            net,
            server,
            _rt,
        } = scene();
        let m = d.path().join("warm.toml");
        let write = |t: f64| {
            std::fs::write(
                &m,
                format!("provider = \"openai\"\nbase_url = \"http://{}/planner-hash/v1\"\nmodel = \"scripted\"\ntemperature = {t}\nseed = 7\nmax_retries = 0\n", server.addr),
            )
            .unwrap()
        };
        let args = |out: &str| {
            let mut a = plan_args(&screen, &gmt, &net, &d.path().join(out));
            a[0] = "ablate".into();
            a.extend(
                [
                    "--llm-model",
                    m.to_str().unwrap(),
                    "--strategies",
                    "llm,llm-masked",
                    "--llm-samples",
                    "3",
                ]
                .map(String::from),
            );
            a
        };
        write(0.0);
        let o = bin().args(args("cold")).output().unwrap();
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("temperature 0"));
        write(0.8);
        let o = bin().args(args("warm")).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = d.path().join("warm");
        let ab: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("ablation.json")).unwrap())
                .unwrap();
        for arm in ["llm", "llm-masked"] {
            let s = &ab["samples"][arm];
            assert_eq!(s["states"], 6, "{arm}");
            assert_eq!(s["mean_valid"], 3.0, "{arm}");
            let j = s["mean_jaccard"].as_f64().unwrap();
            assert!(j < 1.0, "{arm}: samples differ ({j})");
            assert!(s["outcome_sd_within_state"].as_f64().unwrap() >= 0.0);
        }
        // Every pick of an LLM batch carries how many drawn batches were scored.
        let sel: Vec<serde_json::Value> = std::fs::read_to_string(out.join("selections.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(sel
            .iter()
            .filter(|s| s["strategy"] == "llm")
            .all(|s| s["details"]["sample_outcome_n"] == 3.0));
        let ledger = std::fs::read_to_string(out.join("ledger.jsonl")).unwrap();
        assert!(ledger.contains("/sample2\""));
    }

    #[test]
    fn sequential_reranking_asks_one_gene_at_a_time() {
        let (_d, out) = run_with(
            "plan",
            "planner-good",
            &["--strategies", "random,llm", "--sequential"],
        );
        let sel: Vec<serde_json::Value> = std::fs::read_to_string(out.join("selections.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|v: &serde_json::Value| v["strategy"] == "llm")
            .collect();
        assert_eq!(sel.len(), 24);
        for s in &sel {
            assert!(s["details"].get("llm_fallback").is_none(), "{s}");
            assert!(s["rationale"]
                .as_str()
                .unwrap()
                .ends_with("fills a gap in coverage"));
        }
        // The first allowed gene each time = the next in the listed (seeded random) order:
        // four distinct shortlisted genes per batch, and not the uncertainty order.
        let mut in_order = 0;
        for batch in sel.chunks(4) {
            let ranks: Vec<f64> = batch
                .iter()
                .map(|s| s["details"]["shortlist_rank"].as_f64().unwrap())
                .collect();
            let mut u = ranks.clone();
            u.sort_by(f64::total_cmp);
            u.dedup();
            assert_eq!(u.len(), 4, "{ranks:?}");
            assert!(ranks.iter().all(|&r| r < 12.0));
            in_order += (ranks == vec![0.0, 1.0, 2.0, 3.0]) as usize;
        }
        assert!(
            in_order < 6,
            "the shortlist is listed in random order, not by uncertainty"
        );
        assert_eq!(
            sel[0]["notes"][0],
            "sequential re-ranking: 4 call(s) for 4 picks"
        );
        let ledger = std::fs::read_to_string(out.join("ledger.jsonl")).unwrap();
        assert_eq!(ledger.matches("\"kind\":\"exchange\"").count(), 6 * 4);
        // An answer outside the enum is re-prompted, then the rest of the batch is recorded as
        // the uncertainty fallback.
        let (_d, out) = run_with(
            "plan",
            "planner-unknown",
            &["--strategies", "random,llm", "--sequential"],
        );
        let first: serde_json::Value = std::fs::read_to_string(out.join("selections.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["strategy"] == "llm")
            .unwrap();
        assert_eq!(first["details"]["llm_fallback"], 1.0);
        let note = first["notes"][0].as_str().unwrap();
        assert!(
            note.starts_with(
                "fallback to the uncertainty order for picks 1–4 after 3 invalid answer(s)"
            ),
            "{note}"
        );
        assert!(note.contains("not in the shortlist: NOTAGENE"), "{note}");
    }

    #[test]
    fn a_reprompt_that_fixes_the_answer_is_used() {
        let (sel, _) = run("planner-fix");
        for s in &sel {
            assert_eq!(s["details"]["llm_attempts"], 2.0);
            assert!(s["details"].get("llm_fallback").is_none());
        }
        assert!(sel[0]["notes"][0]
            .as_str()
            .unwrap()
            .contains("valid after 1 re-prompt(s)"));
    }
}

/// The simulated screen loads in every real format and the planner runs on it; the files say
/// they are simulated, and the same seed gives the same bytes.
#[test]
fn simulated_screen_end_to_end() {
    let d = tempfile::tempdir().unwrap();
    let sim = d.path().join("sim");
    let o = bin()
        .args(["simulate", "--out", sim.to_str().unwrap(), "--seed", "4"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout)
        .starts_with("SIMULATED screen: 240 perturbations × 300 readouts"));
    assert!(std::fs::read_to_string(sim.join("README.md"))
        .unwrap()
        .starts_with("# SIMULATED screen (not real data)"));
    let again = d.path().join("again");
    bin()
        .args(["simulate", "--out", again.to_str().unwrap(), "--seed", "4"])
        .output()
        .unwrap();
    for f in [
        "screen.tsv",
        "pathways.gmt",
        "network.tsv",
        "context.tsv",
        "genes.tsv",
    ] {
        assert_eq!(
            std::fs::read(sim.join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap(),
            "{f}"
        );
    }
    let out = d.path().join("run");
    let o = bin()
        .args(["plan", "--screen"])
        .arg(sim.join("screen.tsv"))
        .arg("--pathways")
        .arg(sim.join("pathways.gmt"))
        .args(["--pathway", "SIM_PATHWAY_2"])
        .arg("--network")
        .arg(sim.join("network.tsv"))
        .args([
            "--strategies",
            "random,prior,bald,iterpert",
            "--rounds",
            "3",
            "--batch",
            "8",
            "--seeds",
            "3",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cmp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("comparison.json")).unwrap())
            .unwrap();
    let auc: std::collections::BTreeMap<String, f64> = cmp["auc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a[0].as_str().unwrap().to_string(), a[1].as_f64().unwrap()))
        .collect();
    // The pathway structure is learnable: the curated prior (network closeness) beats random.
    assert!(auc["prior"] > auc["random"], "{auc:?}");
}

/// `--cross-screen`: another screen's responses become one more prior kernel (IterPert's
/// cross-cell-line kernel), recorded with its hash; it changes what iterpert picks.
#[test]
fn cross_screen_adds_a_kernel() {
    let d = tempfile::tempdir().unwrap();
    let (s, g, n) = synthetic(d.path());
    let run = |out: &Path, extra: &[&str]| {
        let mut args = plan_args(&s, &g, &n, out);
        args.extend(["--strategies", "iterpert"].map(String::from));
        args.extend(extra.iter().map(|x| x.to_string()));
        let o = bin().args(&args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap())
                .unwrap();
        (
            cfg,
            std::fs::read_to_string(out.join("selections.jsonl")).unwrap(),
        )
    };
    let (plain, sel_plain) = run(&d.path().join("a"), &[]);
    let (cross, sel_cross) = run(
        &d.path().join("b"),
        &["--cross-screen", s.to_str().unwrap()],
    );
    assert!(plain["inputs"].get("cross_screen").is_none());
    assert_eq!(
        cross["inputs"]["cross_screen"]["sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    let kernels = cross["prior"]["kernels"].to_string();
    assert!(kernels.contains("cross_screen"), "{kernels}");
    assert_ne!(sel_plain, sel_cross, "the kernel is used");
}
