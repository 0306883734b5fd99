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
