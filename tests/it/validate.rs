//! `validate planner` as a user runs it: planted planners over real HTTP on simulated screens.
//! A few replicates only (the full calibration, 200 replicates, is in the closing note and the
//! report's methods appendix); the run is deterministic, so the flags below are exact.

use crate::util::bin;

#[test]
fn validate_planner_flags_the_planted_effects_and_only_them() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("validation");
    let o = bin()
        .args([
            "validate",
            "planner",
            "--replicates",
            "3",
            "--seeds",
            "8",
            "--rounds",
            "5",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("memoriser") && text.contains("false-positive rate"),
        "{text}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("planner.json")).unwrap()).unwrap();
    let cells = v["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 4);
    let flagged = |planner: &str| {
        let c = cells.iter().find(|c| c["planner"] == planner).unwrap();
        assert_eq!(c["replicates"], 3);
        assert_eq!(c["p_values"].as_array().unwrap().len(), 3);
        c["flagged"].as_u64().unwrap()
    };
    // Masking flags the memoriser every time; the context user and the ignorer at most once.
    assert_eq!(flagged("memoriser"), 3);
    assert!(flagged("context") <= 1);
    assert!(flagged("ignorer") <= 1);
    assert!(flagged("feedback") >= 1);
    // The scratch folders are gone; a bad setting is one line and a non-zero exit.
    assert!(!out.join("scratch").exists());
    let bad = bin()
        .args(["validate", "planner", "--alpha", "1.5", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("alpha"));
}

/// `validate judges` as a user runs it: planted judges over real HTTP, a few replicates (the
/// 500-replicate table is in `docs/results/validation/`). Deterministic, so exact.
#[test]
fn validate_judges_holds_level_detects_preference_and_corrects_calibration() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("validation");
    let o = bin()
        .args([
            "validate",
            "judges",
            "--replicates",
            "4",
            "--resamples",
            "500",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("judges.json")).unwrap()).unwrap();
    let cell = |name: &str| {
        v["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["case"] == name)
            .unwrap()
            .clone()
    };
    let rate = |c: &serde_json::Value, k: &str| c[k][0].as_f64().unwrap();
    // the planted preference and the strong one are found at the trajectory level
    assert!(rate(&cell("not-equivalent"), "clustered_rate") >= 0.75);
    assert_eq!(rate(&cell("not-equivalent"), "equivalent_rate"), 0.0);
    // strong clustering inflates the variance: the design effect shows it
    assert!(
        cell("null-clustered")["mean_design_effect"]
            .as_f64()
            .unwrap()
            > 2.0
    );
    assert!(cell("null")["mean_design_effect"].as_f64().unwrap() < 2.0);
    // position bias alone is cancelled by the two orders
    assert!((cell("null-position")["mean_win_rate"].as_f64().unwrap() - 0.5).abs() < 0.05);
    // the miscalibrated judges overstate; the person's labels pull the estimate back
    let m = cell("miscalibrated");
    let k = &m["calibration"];
    assert!(m["mean_win_rate"].as_f64().unwrap() > 0.65);
    assert!((k["mean_ppi"].as_f64().unwrap() - 0.5).abs() < 0.1, "{k}");
    assert!(!out.join("scratch").exists());
    let bad = bin()
        .args(["validate", "judges", "--margin", "0.5,0.7", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("margin"));
}
