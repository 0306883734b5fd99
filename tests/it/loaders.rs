//! Loader tests: small self-made fixtures always; the real shared files when present.

use pertaudit::data::screen_file::{load, LoadOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: shared data file {} is absent", p.display());
        None
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    p
}

#[test]
fn ranked_degs_fixture() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "x.tsv",
        "perturbation\trank\tgene\tin_top_up\nA\t1\tG1\t1\nA\t2\tG2\t0\nB\t1\tG2\t1\n",
    );
    let s = load(&p, &LoadOptions::default()).unwrap();
    assert_eq!(s.perturbations, vec!["A", "B"]);
    assert_eq!(s.genes, vec!["G1", "G2"]);
    // An up-signature: in_top_up is not a sign. A's list has N = 2 (rank 1 → 1, rank 2 →
    // 0.5); B's has N = 1. Unlisted → 0.
    assert_eq!(s.row(0), &[1.0, 0.5]);
    assert_eq!(s.row(1), &[0.0, 1.0]);
    assert_eq!(s.response, pertaudit::screen::Response::UpSignature);
}

/// A gene listed twice for one perturbation is an error naming both lines; of it and a bad
/// field, the one on the earlier line is reported (as a reader going line by line would).
#[test]
fn ranked_degs_repeated_gene_is_the_first_error() {
    let d = tempfile::tempdir().unwrap();
    let head = "perturbation\trank\tgene\tin_top_up\n";
    let err = |body: &str| {
        let p = write(d.path(), "r.tsv", &format!("{head}{body}"));
        format!("{:#}", load(&p, &LoadOptions::default()).unwrap_err())
    };
    // Line 2 and line 5 list G1 for A; B's G1 (line 4) is another perturbation's.
    let e = err("A\t1\tG1\t1\nA\t2\tG2\t1\nB\t1\tG1\t1\nA\t3\tG1\t0\n");
    assert!(
        e.contains(":5: field `gene`") && e.contains("first at line 2"),
        "{e}"
    );
    // The repeat (line 3) comes before a bad rank (line 4): the repeat is reported.
    let e = err("A\t1\tG1\t1\nA\t2\tG1\t1\nA\tx\tG3\t1\n");
    assert!(
        e.contains(":3: field `gene`") && e.contains("listed twice"),
        "{e}"
    );
    // A bad rank (line 3) before the repeat (line 4): the rank is reported.
    let e = err("A\t1\tG1\t1\nA\t0\tG2\t1\nA\t3\tG1\t1\n");
    assert!(e.contains(":3: field `rank`"), "{e}");
    // No repeat: it loads.
    let p = write(
        d.path(),
        "ok.tsv",
        &format!("{head}A\t1\tG1\t1\nB\t1\tG1\t1\n"),
    );
    assert!(load(&p, &LoadOptions::default()).is_ok());
}

#[test]
fn pairs_fixture_with_directions() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "t-de.csv",
        "pert,gene,label,split\nA,G1,1,train\nA,G2,0,train\nB,G1,1,test\n",
    );
    write(
        d.path(),
        "t-dir.csv",
        "pert,gene,label,split\nA,G1,0,train\nB,G1,1,test\n",
    );
    let s = load(&p, &LoadOptions::default()).unwrap();
    assert_eq!(s.name, "t");
    let labels = s.labels.as_ref().unwrap();
    assert_eq!(labels.len(), 3);
    assert_eq!(s.row(0), &[-1.0, 0.0]);
    assert_eq!(s.row(1), &[1.0, 0.0]);
    assert_eq!(labels[0].up, Some(false));
}

#[test]
fn dense_fixture_subtracts_control_per_context() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "m.tsv",
        "cell_type\tperturbation\tn_cells\tG1\tG2\nA\tKLF1\t3\t2\t5\nA\tcontrol\t9\t1\t1\nB\tKLF1\t3\t0\t0\nB\tcontrol\t9\t1\t2\n",
    );
    let s = load(&p, &LoadOptions::default()).unwrap();
    assert_eq!(s.perturbations, vec!["A:KLF1", "B:KLF1"]);
    assert_eq!(s.targets, vec!["KLF1", "KLF1"]);
    assert_eq!(s.row(0), &[1.0, 4.0]);
    assert_eq!(s.row(1), &[-1.0, -2.0]);
    // a given control vector instead
    let cv = write(d.path(), "c.tsv", "gene\tvalue\nG1\t1\nG2\t1\n");
    let s = load(
        &p,
        &LoadOptions {
            control: None,
            control_vector: Some(cv),
        },
    )
    .unwrap();
    assert_eq!(s.row(1), &[-1.0, -1.0]);
}

#[test]
fn h5ad_dense_replogle_layout_fixture() {
    let s = load(&fixture("replogle_bulk_tiny.h5ad"), &LoadOptions::default()).unwrap();
    assert_eq!(s.targets, vec!["AAAS", "AARS", "RPL3"]);
    assert_eq!(s.genes, vec!["AAAS", "AARS", "RPL3", "GAPDH"]);
    // non-targeting row (0.5 everywhere) subtracted
    assert_eq!(s.row(0), &[-2.5, 0.0, f64::from(0.1f32) - 0.5, -0.5]);
}

#[test]
fn h5ad_csr_cells_fixture_is_pseudobulked() {
    let s = load(&fixture("cells_csr_tiny.h5ad"), &LoadOptions::default()).unwrap();
    assert_eq!(s.perturbations, vec!["A:KLF1", "B:KLF1"]);
    // A: KLF1 mean (2,0,1) − control (1,1,1); B: (0,3,1) − (1,1,0)
    assert_eq!(s.row(0), &[1.0, -1.0, 0.0]);
    assert_eq!(s.row(1), &[-1.0, 2.0, 1.0]);
}

#[test]
fn real_sigrecon_k562() {
    let Some(p) =
        shared("perturbseq/sigrecon/replogle2022_k562_essential_top1000_ranked_DEGs.tsv.gz")
    else {
        return;
    };
    let s = load(&p, &LoadOptions::default()).unwrap();
    assert_eq!(s.n_perts(), 585);
    assert_eq!(s.n_genes(), 7225);
    let i = s.perturbations.iter().position(|p| p == "UBL5").unwrap();
    let g = s.genes.iter().position(|g| g == "SLC3A2").unwrap();
    assert_eq!(s.values.get(i, g), 1.0); // rank 1, up
                                         // every (perturbation, listed gene) entry is non-zero: 585 × 1000 of them
    let nonzero = s.values.data.iter().filter(|v| **v != 0.0).count();
    assert_eq!(nonzero, 585_000);
    // The sign the file really has: none. Every listed gene is positive (an up-signature)
    // and no knocked-down target is in its own list.
    assert!(s.values.data.iter().all(|v| *v >= 0.0));
    let idx = s.gene_index();
    let in_own = s
        .targets
        .iter()
        .enumerate()
        .filter(|(i, t)| {
            idx.get(t.as_str())
                .is_some_and(|&g| s.values.get(*i, g) != 0.0)
        })
        .count();
    assert_eq!(in_own, 0);
}

/// `inspect --json` on the real sigrecon file: stable keys, no negative value, and the
/// warnings a careful reader needs (flag = significance, targets never in their lists).
#[test]
fn inspect_real_sigrecon_and_perturbqa() {
    let Some(p) =
        shared("perturbseq/sigrecon/replogle2022_k562_essential_top1000_ranked_DEGs.tsv.gz")
    else {
        return;
    };
    let o = crate::util::bin()
        .args(["inspect", p.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["perturbations"], 585);
    assert_eq!(v["readouts"], 7225);
    assert_eq!(v["fraction_negative"], 0.0);
    assert!(
        (v["fraction_positive"].as_f64().unwrap() - 585_000.0 / (585.0 * 7225.0)).abs() < 1e-12
    );
    assert!(
        (v["fraction_zero"].as_f64().unwrap() + v["fraction_positive"].as_f64().unwrap() - 1.0)
            .abs()
            < 1e-12
    );
    assert_eq!(v["response"], "up_signature");
    assert_eq!(v["targets_in_own_response"], 0);
    let w = v["warnings"].to_string();
    assert!(w.contains("marks significance, not direction"), "{w}");
    assert!(
        w.contains("no knocked-down target appears in its own response"),
        "{w}"
    );

    let Some(q) = shared("perturbseq/perturbqa/k562-de.csv") else {
        return;
    };
    let o = crate::util::bin()
        .args(["inspect", q.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["response"], "labels");
    assert!(
        v["fraction_negative"].as_f64().unwrap() > 0.0,
        "PerturbQA has down calls"
    );
    assert!(!v["warnings"].to_string().contains("marks significance"));
}

/// The inspector's warnings fire on planted layouts and stay quiet on a clean one.
#[test]
fn inspect_warnings_fire_on_planted_layouts() {
    let d = tempfile::tempdir().unwrap();
    let run = |p: &Path| -> serde_json::Value {
        let o = crate::util::bin()
            .args(["inspect", p.to_str().unwrap(), "--json"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    // A clean signed dense screen: each target down in its own response, one twin pair.
    let clean = write(
        d.path(),
        "clean.tsv",
        "perturbation\tA\tB\tC\ncontrol\t1\t1\t1\nA\t0\t2\t1\nB\t2\t0\t1\n1_C_P1\t1\t2\t0\n2_C_P2\t1\t1\t0.5\n",
    );
    let v = run(&clean);
    assert_eq!(v["response"], "signed");
    assert_eq!(v["targets_down_in_own_response"], 4);
    let w = v["warnings"].as_array().unwrap();
    assert!(
        w.iter().all(|x| !x.as_str().unwrap().contains("negative")),
        "{w:?}"
    );
    // All-positive data read as a delta, with every target up in its own response.
    let pos = write(
        d.path(),
        "pos.tsv",
        "perturbation\tA\tB\tC\tD\tE\ncontrol\t0\t0\t0\t0\t0\nA\t1\t2\t1\t1\t1\nB\t2\t1\t1\t1\t1\nC\t1\t2\t3\t1\t1\nD\t1\t1\t1\t2\t1\nE\t1\t1\t1\t1\t2\n",
    );
    let w = run(&pos)["warnings"].to_string();
    assert!(w.contains("all-positive data are not a delta"), "{w}");
    assert!(
        w.contains("down in its own response for only 0 of 5"),
        "{w}"
    );
    // A rare, top-bunched flag on ranked lists.
    let mut ranked = String::from("perturbation\trank\tgene\tin_top_up\n");
    for p in ["P1", "P2"] {
        for r in 1..=20 {
            ranked += &format!("{p}\t{r}\tG{r}\t{}\n", (r <= 2) as u8);
        }
    }
    let w = run(&write(d.path(), "r.tsv", &ranked))["warnings"].to_string();
    assert!(w.contains("marks significance, not direction"), "{w}");
}

#[test]
fn real_perturbqa_k562() {
    let Some(p) = shared("perturbseq/perturbqa/k562-de.csv") else {
        return;
    };
    let s = load(&p, &LoadOptions::default()).unwrap();
    let labels = s.labels.as_ref().unwrap();
    assert_eq!(labels.len(), 157_679);
    assert_eq!(s.n_perts(), 1831);
    assert_eq!(s.n_genes(), 4136);
    let with_dir = labels.iter().filter(|l| l.up.is_some()).count();
    assert_eq!(with_dir, labels.iter().filter(|l| l.de).count());
}

#[test]
fn real_devel_h5ad_matches_published_pseudobulk() {
    let (Some(h), Some(t)) = (
        shared("perturbseq/perturbench/devel.h5ad"),
        shared("perturbseq/perturbench/devel_pseudobulk_mean_log1p.tsv"),
    ) else {
        return;
    };
    let a = load(&h, &LoadOptions::default()).unwrap();
    let b = load(&t, &LoadOptions::default()).unwrap();
    assert_eq!(a.n_genes(), 500);
    assert_eq!(a.genes, b.genes);
    assert_eq!(a.n_perts(), b.n_perts());
    let mut worst: f64 = 0.0;
    for (i, name) in b.perturbations.iter().enumerate() {
        let j = a
            .perturbations
            .iter()
            .position(|p| {
                p.ends_with(name.rsplit(':').next().unwrap())
                    && p.starts_with(name.split(':').next().unwrap())
            })
            .unwrap();
        for g in 0..500 {
            worst = worst.max((a.values.get(j, g) - b.values.get(i, g)).abs());
        }
    }
    // the TSV keeps 5 significant digits
    assert!(worst < 1e-4, "max abs difference {worst}");
}

#[test]
fn h5ad_normalised_bulk_without_control_keeps_values() {
    let s = load(
        &fixture("replogle_normalized_tiny.h5ad"),
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(s.targets, vec!["AAAS", "AARS"]);
    assert_eq!(s.row(0), &[-1.5, 0.25]);
    assert_eq!(s.row(1), &[0.5, -2.0]);
}
