//! The statistics module against reference values from scipy 1.17, statsmodels 0.15 and
//! krippendorff 0.8 (`tests/fixtures/stats/make_fixtures.py` made `reference.json`).

use pertaudit::stats::*;
use serde_json::Value;

fn reference() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/stats/reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(1e-300) || (got - want).abs() < 1e-15
}

fn cases<'a>(r: &'a Value, key: &str) -> &'a Vec<Value> {
    let v = r[key].as_array().unwrap();
    assert!(v.len() >= 20, "{key}: only {} cases", v.len());
    v
}

#[test]
fn binomial_tests_match_scipy() {
    let r = reference();
    for c in cases(&r, "binomtest_two_sided") {
        let (n, k, p0) = (
            c["n"].as_u64().unwrap(),
            c["k"].as_u64().unwrap(),
            c["p0"].as_f64().unwrap(),
        );
        let got = binom_test_two_sided(k, n, p0);
        let want = c["pvalue"].as_f64().unwrap();
        assert!(
            close(got, want, 1e-9),
            "binomtest({k}, {n}, {p0}) = {got}, scipy {want}"
        );
    }
}

#[test]
fn wilson_matches_statsmodels() {
    let r = reference();
    for c in cases(&r, "wilson") {
        let (n, k) = (c["n"].as_f64().unwrap(), c["k"].as_f64().unwrap());
        let (lo, hi) = wilson(k, n, 0.05);
        let (wl, wh) = (c["lo"].as_f64().unwrap(), c["hi"].as_f64().unwrap());
        assert!(
            close(lo, wl, 1e-9) && close(hi, wh, 1e-9),
            "wilson({k}/{n}) = ({lo}, {hi}), statsmodels ({wl}, {wh})"
        );
    }
}

#[test]
fn holm_and_bh_match_statsmodels() {
    let r = reference();
    for c in cases(&r, "multipletests") {
        let p: Vec<f64> = c["p"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for (name, got) in [("holm", holm(&p)), ("bh", benjamini_hochberg(&p))] {
            let want: Vec<f64> = c[name]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    close(*g, *w, 1e-9),
                    "{name}({p:?}) = {got:?}, statsmodels {want:?}"
                );
            }
        }
    }
}

fn opt(v: &Value) -> Option<f64> {
    v.as_f64()
}

#[test]
fn agreement_matches_statsmodels_and_krippendorff() {
    let r = reference();
    let ints = |v: &Value| -> Vec<usize> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect()
    };
    for c in cases(&r, "cohen_kappa") {
        let got = cohen_kappa(&ints(&c["a"]), &ints(&c["b"]), 3);
        match opt(&c["kappa"]) {
            Some(w) => assert!(close(got, w, 1e-9), "cohen {got} vs {w}"),
            None => assert!(got.is_nan()),
        }
    }
    for c in cases(&r, "fleiss_kappa") {
        let counts: Vec<Vec<f64>> = c["ratings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                let mut row = vec![0.0; 3];
                for x in ints(item) {
                    row[x] += 1.0;
                }
                row
            })
            .collect();
        let got = fleiss_kappa(&counts);
        match opt(&c["kappa"]) {
            Some(w) => assert!(close(got, w, 1e-9), "fleiss {got} vs {w}"),
            None => assert!(got.is_nan()),
        }
    }
    for c in cases(&r, "krippendorff_nominal") {
        let data: Vec<Vec<Option<usize>>> = c["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().map(|u| u as usize))
                    .collect()
            })
            .collect();
        let got = krippendorff_alpha_nominal(&data);
        match opt(&c["alpha"]) {
            Some(w) => assert!(close(got, w, 1e-9), "alpha {got} vs {w}"),
            None => assert!(got.is_nan(), "alpha {got} where krippendorff raised"),
        }
    }
}

#[test]
fn mcnemar_matches_statsmodels() {
    let r = reference();
    for c in cases(&r, "mcnemar_exact") {
        let (b, cc) = (c["b"].as_u64().unwrap(), c["c"].as_u64().unwrap());
        let got = mcnemar_exact(b, cc);
        let want = c["pvalue"].as_f64().unwrap();
        assert!(
            close(got, want, 1e-9),
            "mcnemar({b}, {cc}) = {got}, statsmodels {want}"
        );
    }
}

fn paired() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/stats/paired.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn wilcoxon_matches_scipy() {
    let r = paired();
    let mut methods = std::collections::BTreeSet::new();
    for c in cases(&r, "wilcoxon") {
        let w = wilcoxon_signed_rank(&floats(&c["x"]), &floats(&c["y"]));
        methods.insert(w.method);
        let (ws, wp) = (
            c["statistic"].as_f64().unwrap(),
            c["pvalue"].as_f64().unwrap(),
        );
        assert!(
            close(w.statistic, ws, 1e-9),
            "statistic {} vs {ws}",
            w.statistic
        );
        assert!(
            close(w.pvalue, wp, 1e-9),
            "p {} vs {wp} ({})",
            w.pvalue,
            w.method
        );
    }
    assert!(
        methods.contains("exact") && methods.len() >= 2,
        "{methods:?}"
    );
}

#[test]
fn paired_permutation_matches_scipy() {
    let r = paired();
    let mut rng = pertaudit::numeric::seed::stream(0, "test");
    for c in cases(&r, "paired_permutation") {
        let p = paired_permutation_test(&floats(&c["x"]), &floats(&c["y"]), 0, &mut rng);
        let want = c["pvalue"].as_f64().unwrap();
        assert!(close(p, want, 1e-9), "perm p {p} vs {want}");
    }
}

#[test]
fn davidson_bradley_terry_matches_scipy_optimize() {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/stats/bradley_terry.json"
    );
    let r: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    let mat = |v: &Value| -> Vec<Vec<f64>> { v.as_array().unwrap().iter().map(floats).collect() };
    for c in cases(&r, "davidson") {
        let fit = bradley_terry_davidson(&mat(&c["wins"]), &mat(&c["ties"])).unwrap();
        let want = floats(&c["theta"]);
        for (g, w) in fit.theta.iter().zip(&want) {
            assert!(
                (g - w).abs() < 1e-6 * (1.0 + w.abs()),
                "theta {:?} vs {want:?}",
                fit.theta
            );
        }
        let nu = c["nu"].as_f64().unwrap();
        assert!(close(fit.nu, nu, 1e-6), "nu {} vs {nu}", fit.nu);
        assert!(fit.loglik >= c["loglik"].as_f64().unwrap() - 1e-9);
        assert!(fit.theta.iter().sum::<f64>().abs() < 1e-12);
    }
}

#[test]
fn davidson_refuses_a_strategy_that_never_wins() {
    let wins = vec![vec![0.0, 5.0], vec![0.0, 0.0]];
    let ties = vec![vec![0.0, 0.0], vec![0.0, 0.0]];
    assert!(bradley_terry_davidson(&wins, &ties).is_err());
    // strengths are invariant to the order in which the strategies are listed
    let w = vec![
        vec![0.0, 6.0, 3.0],
        vec![2.0, 0.0, 4.0],
        vec![1.0, 5.0, 0.0],
    ];
    let t = vec![
        vec![0.0, 2.0, 1.0],
        vec![2.0, 0.0, 3.0],
        vec![1.0, 3.0, 0.0],
    ];
    let a = bradley_terry_davidson(&w, &t).unwrap();
    let perm = [2, 0, 1];
    let wp: Vec<Vec<f64>> = perm
        .iter()
        .map(|&i| perm.iter().map(|&j| w[i][j]).collect())
        .collect();
    let tp: Vec<Vec<f64>> = perm
        .iter()
        .map(|&i| perm.iter().map(|&j| t[i][j]).collect())
        .collect();
    let b = bradley_terry_davidson(&wp, &tp).unwrap();
    for (pos, &i) in perm.iter().enumerate() {
        assert!((a.theta[i] - b.theta[pos]).abs() < 1e-8);
    }
}

mod power_and_half_ties {
    use pertaudit::stats::{bradley_terry_half, items_needed, sign_test_power};
    use serde_json::Value;

    fn fixture() -> Value {
        serde_json::from_str(
            &std::fs::read_to_string("tests/fixtures/stats/power_bt.json").unwrap(),
        )
        .unwrap()
    }

    fn m(v: &Value) -> Vec<Vec<f64>> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn tie_as_half_bradley_terry_matches_choix() {
        let f = fixture();
        let cases = f["bt_half"].as_array().unwrap();
        assert!(cases.len() >= 20);
        for (i, c) in cases.iter().enumerate() {
            let got = bradley_terry_half(&m(&c["wins"]), &m(&c["ties"])).unwrap();
            let want: Vec<f64> = c["theta"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-6 * (1.0 + w.abs()),
                    "case {i}: {got:?} vs {want:?}"
                );
            }
            assert!(got.iter().sum::<f64>().abs() < 1e-9);
        }
    }

    #[test]
    fn tie_as_half_never_wins_is_not_estimable() {
        let w = vec![vec![0.0, 3.0], vec![0.0, 0.0]];
        let t = vec![vec![0.0, 0.0], vec![0.0, 0.0]];
        assert!(bradley_terry_half(&w, &t).is_err());
        // A tie rescues it: half a win each way.
        let t = vec![vec![0.0, 1.0], vec![1.0, 0.0]];
        let th = bradley_terry_half(&w, &t).unwrap();
        // 3.5 vs 0.5 half-wins: θ0 − θ1 = ln 7.
        assert!((th[0] - th[1] - 7f64.ln()).abs() < 1e-10);
    }

    #[test]
    fn sign_test_power_matches_scipy() {
        let f = fixture();
        for c in f["sign_power"].as_array().unwrap() {
            let got = sign_test_power(
                c["n"].as_u64().unwrap(),
                c["w"].as_f64().unwrap(),
                c["level"].as_f64().unwrap(),
            );
            let want = c["power"].as_f64().unwrap();
            assert!(
                (got - want).abs() <= 1e-9 * want.max(1e-300) + 1e-15,
                "{c}: {got}"
            );
        }
    }

    #[test]
    fn items_needed_under_holm_matches_scipy() {
        let f = fixture();
        for c in f["items_needed"].as_array().unwrap() {
            let got = items_needed(
                c["w"].as_f64().unwrap(),
                c["alpha"].as_f64().unwrap(),
                c["m"].as_u64().unwrap() as usize,
                c["power"].as_f64().unwrap(),
                100_000,
            );
            assert_eq!(got, c["n"].as_u64(), "{c}");
        }
    }
}

/// Judge inference under dependence and equivalence against statsmodels 0.15 / scipy 1.17
/// (`tests/fixtures/stats/make_inference.py` made `inference.json`).
#[test]
fn inference_matches_statsmodels_and_scipy() {
    let r: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/stats/inference.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let nums = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let at_least = |key: &str, n: usize| {
        let v = r[key].as_array().unwrap();
        assert!(v.len() >= n, "{key}: only {} cases", v.len());
        v.clone()
    };
    for c in at_least("tost_mean", 20) {
        let t = tost_mean(
            &nums(&c["x"]),
            c["low"].as_f64().unwrap(),
            c["high"].as_f64().unwrap(),
        );
        for (got, key) in [
            (t.p, "p"),
            (t.p_low, "p_low"),
            (t.p_high, "p_high"),
            (t.df, "df"),
        ] {
            let want = c[key].as_f64().unwrap();
            assert!(close(got, want, 1e-9), "ttost_mean {key}: {got} vs {want}");
        }
    }
    for c in at_least("tost_paired", 10) {
        let d = c["delta"].as_f64().unwrap();
        let t = tost_paired(&nums(&c["x"]), &nums(&c["y"]), -d, d);
        let want = c["p"].as_f64().unwrap();
        assert!(close(t.p, want, 1e-9), "ttost_paired: {} vs {want}", t.p);
    }
    for c in at_least("design_effect", 10) {
        let y = nums(&c["y"]);
        let labels: Vec<(String, String)> = c["groups"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, g)| (format!("g{:03}", g.as_u64().unwrap()), format!("u{i}")))
            .collect();
        let cl = Clustering::from_labels(&labels);
        let (naive, robust) = mean_variances(&y, &cl);
        for (got, key) in [
            (naive, "var_naive"),
            (robust, "var_cluster"),
            (design_effect(&y, &cl), "design_effect"),
        ] {
            let want = c[key].as_f64().unwrap();
            assert!(close(got, want, 1e-9), "{key}: {got} vs statsmodels {want}");
        }
    }
    for c in at_least("chi2_homogeneity", 10) {
        let table: Vec<[f64; 2]> = c["table"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let v = nums(r);
                [v[0], v[1]]
            })
            .collect();
        let (chi2, df, p) = chi2_homogeneity(&table);
        assert!(close(chi2, c["chi2"].as_f64().unwrap(), 1e-9));
        assert_eq!(df as u64, c["df"].as_u64().unwrap());
        assert!(
            close(p, c["p"].as_f64().unwrap(), 1e-8),
            "{p} vs {}",
            c["p"]
        );
    }
    for c in at_least("ols", 10) {
        let x: Vec<Vec<f64>> = c["x"].as_array().unwrap().iter().map(nums).collect();
        let b = ols(&nums(&c["y"]), &x).unwrap();
        for (got, want) in b.iter().zip(nums(&c["params"])) {
            assert!(close(*got, want, 1e-8), "ols: {got} vs statsmodels {want}");
        }
    }
    for c in at_least("ppi_mean", 10) {
        let (est, lo, hi) = pertaudit::judge::calibration::ppi_mean(
            &nums(&c["y"]),
            &nums(&c["yhat"]),
            &nums(&c["yhat_unlabelled"]),
            0.05,
        );
        for (got, key) in [(est, "estimate"), (lo, "low"), (hi, "high")] {
            let want = c[key].as_f64().unwrap();
            assert!(close(got, want, 1e-9), "ppi {key}: {got} vs ppi_py {want}");
        }
    }
    for c in at_least("stratified_sign_flip", 10) {
        let strata: Vec<Vec<f64>> = c["strata"].as_array().unwrap().iter().map(nums).collect();
        let mut rng = pertaudit::numeric::seed::stream(0, "unused");
        let p = stratified_sign_flip_test(&strata, 0, &mut rng);
        let want = c["p"].as_f64().unwrap();
        assert!(close(p, want, 1e-9), "pooled: {p} vs scipy {want}");
    }
}
