//! `pertaudit stats --verdicts` end to end.

use crate::util::bin;
use std::path::Path;

/// `stats --verdicts FILE --json`: its stdout bytes and the parsed JSON (it must succeed).
fn stats_json(p: &Path) -> (Vec<u8>, serde_json::Value) {
    let out = bin()
        .args(["stats", "--verdicts", p.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = serde_json::from_slice(&out.stdout).unwrap();
    (out.stdout, v)
}

#[test]
fn stats_from_a_verdict_csv_prints_json() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("v.csv");
    let mut csv = String::from("item,judge,order,strategy_a,strategy_b,winner\n");
    // 12 items: llm wins both orders on 10, loses both on 2; one failure on item 0 order 2
    for i in 0..12 {
        let (w1, w2) = if i < 10 { ("A", "B") } else { ("B", "A") };
        let w2 = if i == 0 { "failure" } else { w2 };
        csv += &format!("{i},j1,1,llm,random,{w1}\n{i},j1,2,random,llm,{w2}\n");
    }
    std::fs::write(&p, csv).unwrap();
    let (stdout, all) = stats_json(&p);
    let v = &all["all_judges"];
    let pair = &v["pairs"][0];
    assert_eq!(pair["s"], "llm");
    assert_eq!(
        (pair["wins"].as_u64(), pair["losses"].as_u64()),
        (Some(10), Some(2))
    );
    assert!((pair["win_rate"].as_f64().unwrap() - 10.0 / 12.0).abs() < 1e-12);
    // scipy.stats.binomtest(10, 12).pvalue = 0.0385742187500000
    assert!((pair["sign_test_p"].as_f64().unwrap() - 0.03857421875).abs() < 1e-12);
    assert_eq!(v["failures"], 1);
    assert_eq!(v["position_bias"][0]["consistency"], 1.0);
    // No ties: the Davidson tie parameter is not estimable, and the output says why.
    assert!(v["bradley_terry"]["note"]
        .as_str()
        .unwrap()
        .contains("no ties"));
    assert_eq!(all["without_flagged"], serde_json::Value::Null);
    // same seed → identical output
    assert_eq!(stdout, stats_json(&p).0);
}

#[test]
fn bad_verdict_row_is_one_line_naming_file_line_field() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("bad.csv");
    std::fs::write(
        &p,
        "item,judge,order,strategy_a,strategy_b,winner\n1,j,1,a,b,A\n2,j,1,a,b,C\n",
    )
    .unwrap();
    let out = bin()
        .args(["stats", "--verdicts", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1);
    assert!(err.contains("bad.csv:3") && err.contains("winner"), "{err}");
}

/// The edge cases at the CSV level against scipy/statsmodels (tests/fixtures/stats/make_edge.py).
#[test]
fn edge_cases_match_the_reference() {
    let f: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/stats/edge_cases.json").unwrap(),
    )
    .unwrap();
    let d = tempfile::tempdir().unwrap();
    for (name, c) in f["cases"].as_object().unwrap() {
        let p = d.path().join(format!("{name}.csv"));
        std::fs::write(&p, c["csv"].as_str().unwrap()).unwrap();
        let out = bin()
            .args([
                "stats",
                "--verdicts",
                p.to_str().unwrap(),
                "--json",
                "--resamples",
                "500",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let all = &v["all_judges"];
        if name == "n0" {
            assert_eq!(all["pairs"].as_array().unwrap().len(), 0, "{name}");
            assert_eq!(all["failures"], 3);
            continue;
        }
        let p = &all["pairs"][0];
        for k in ["wins", "losses", "ties"] {
            assert_eq!(p[k], c[k], "{name} {k}");
        }
        let close = |a: &serde_json::Value, b: &serde_json::Value| {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            (a - b).abs() <= 1e-9 * b.abs().max(1e-12)
        };
        assert!(close(&p["win_rate"], &c["win_rate"]), "{name}");
        assert!(
            close(&p["sign_test_p"], &c["sign_test_p"]),
            "{name}: {}",
            p["sign_test_p"]
        );
        if let Some(w) = c.get("wilson") {
            assert!(
                close(&p["wilson_ci"][0], &w[0])
                    || (p["wilson_ci"][0].as_f64().unwrap().abs() < 1e-12
                        && w[0].as_f64().unwrap() == 0.0),
                "{name}: {}",
                p["wilson_ci"]
            );
            assert!(
                close(&p["wilson_ci"][1], &w[1]),
                "{name}: {}",
                p["wilson_ci"]
            );
        }
        if let Some(s) = c.get("sign_test_split_ties_p") {
            assert!(close(&p["sign_test_split_ties_p"], s), "{name}");
        }
        if name == "never_wins" {
            // A strategy that never wins: Bradley–Terry strengths are unbounded, and the output says so.
            assert!(all["bradley_terry_tie_half"]["note"]
                .as_str()
                .unwrap()
                .contains("never beats"));
        }
    }
}

/// verdicts.csv goes through the csv crate: a quoted judge name with a comma and a quote is
/// one field, and the columns may come in any order (extra ones ignored).
#[test]
fn quoted_fields_and_reordered_columns_are_read() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("v.csv");
    let mut csv = String::from("winner,note,strategy_b,strategy_a,order,judge,item\n");
    for i in 0..6 {
        csv += &format!("A,x,random,llm,1,\"gpt, \"\"4o\"\"\",{i}\n");
    }
    std::fs::write(&p, csv).unwrap();
    let (_, v) = stats_json(&p);
    assert_eq!(v["all_judges"]["pairs"][0]["wins"], 6);
    assert_eq!(v["all_judges"]["per_judge"][0]["judge"], "gpt, \"4o\"");
}

/// 10 trajectories × 6 items; every item of a trajectory agrees (strong clustering), 7
/// trajectories prefer llm and 3 random. Item level: 42 vs 18 (scipy binomtest p = 0.00267,
/// "significant"); trajectory level: 7 vs 3 (p = 0.34375). The clustered keys sit beside the
/// old ones, and the design effect shows the dependence.
fn clustered_csv(with_units: bool) -> String {
    let mut csv = String::from("item,judge,order,strategy_a,strategy_b,winner");
    csv += if with_units {
        ",trajectory,context\n"
    } else {
        "\n"
    };
    for g in 0..10 {
        for r in 0..6 {
            let (w1, w2) = if g < 7 { ("A", "B") } else { ("B", "A") };
            let units = if with_units {
                format!(",S|P|seed{g},S|P|seed{g}|round{r}")
            } else {
                String::new()
            };
            csv += &format!(
                "i{g}_{r},j1,1,llm,random,{w1}{units}\ni{g}_{r},j1,2,random,llm,{w2}{units}\n"
            );
        }
    }
    csv
}

#[test]
fn trajectory_columns_add_clustered_keys_beside_the_old_ones() {
    let d = tempfile::tempdir().unwrap();
    let (plain, units) = (d.path().join("plain.csv"), d.path().join("units.csv"));
    std::fs::write(&plain, clustered_csv(false)).unwrap();
    std::fs::write(&units, clustered_csv(true)).unwrap();
    let (_, a) = stats_json(&plain);
    let (_, b) = stats_json(&units);
    let (pa, pb) = (&a["all_judges"]["pairs"][0], &b["all_judges"]["pairs"][0]);
    // Every key of the plain output is still there, with the same value.
    for (k, v) in pa.as_object().unwrap() {
        if k == "equivalence" {
            continue; // items are the unit without trajectories
        }
        assert_eq!(&pb[k], v, "key {k}");
    }
    assert!(pa.get("p_clustered").is_none() && pa.get("trajectories").is_none());
    assert!((pb["sign_test_p"].as_f64().unwrap() - 0.002670436282807066).abs() < 1e-12);
    assert_eq!(pb["trajectories"], 10);
    assert!((pb["p_clustered"].as_f64().unwrap() - 0.34375).abs() < 1e-12);
    let ci = pb["ci_clustered"].as_array().unwrap();
    let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
    let item_ci = pb["bootstrap_ci"].as_array().unwrap();
    assert!(
        lo < item_ci[0].as_f64().unwrap() && hi > item_ci[1].as_f64().unwrap(),
        "the clustered CI is wider: [{lo}, {hi}] vs {item_ci:?}"
    );
    // identical items within trajectories: the design effect is the cluster size (≈ 6)
    let deff = pb["design_effect"].as_f64().unwrap();
    assert!(deff > 5.0 && deff < 7.0, "{deff}");
    assert_eq!(b["all_judges"]["trajectories"], 10);
    assert_eq!(b["all_judges"]["primary"]["round"], 0);
    assert_eq!(b["all_judges"]["primary"]["items"], 10);
    assert_eq!(pb["equivalence"]["unit"], "trajectory");
    assert_eq!(pb["equivalence"]["verdict"], "inconclusive");
    // the table output names the trajectory-level test
    let out = bin()
        .args(["stats", "--verdicts", units.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("10 independent trajectories"), "{text}");
    assert!(text.contains("primary judged round (round 0"), "{text}");
}

#[test]
fn bad_settings_and_half_given_units_are_one_line() {
    let d = tempfile::tempdir().unwrap();
    let units = d.path().join("units.csv");
    std::fs::write(&units, clustered_csv(true)).unwrap();
    for (flag, value) in [
        ("--margin", "0.6,0.4"),
        ("--margin", "0.4"),
        ("--margin", "-0.1,0.6"),
        ("--margin", "0.4,1.5"),
        ("--alpha", "0"),
        ("--alpha", "1"),
        ("--resamples", "0"),
    ] {
        let out = bin()
            .args(["stats", "--verdicts", units.to_str().unwrap(), flag, value])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag} {value}: {err}");
    }
    // a trajectory on some rows only
    let mut text = clustered_csv(true);
    text = text.replacen(",S|P|seed0,S|P|seed0|round1\n", ",,S|P|seed0|round1\n", 1);
    let bad = d.path().join("half.csv");
    std::fs::write(&bad, text).unwrap();
    let out = bin()
        .args(["stats", "--verdicts", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("half.csv:4") && err.contains("trajectory"),
        "{err}"
    );
}
