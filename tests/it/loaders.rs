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
    // N = 2: rank 1 → ±1, rank 2 → ±0.5
    assert_eq!(s.row(0), &[1.0, -0.5]);
    assert_eq!(s.row(1), &[0.0, 1.0]);
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
