//! Prior knowledge over the screen's perturbations: similarity kernels (STRING network, GO
//! term overlap), their spectral embeddings (so every candidate has features before it is ever
//! measured), and each candidate's curated closeness to the target pathway.
//!
//! - **STRING**: `A_ij` = edge weight between the two targets (score/1000). The embedding is
//!   the leading eigenvectors of the regularised normalised adjacency
//!   `D^-1/2 (A + τ/n·11ᵀ) D^-1/2` (τ = mean degree; the regulariser keeps isolated genes
//!   well-defined), trivial top eigenvector dropped, each scaled by its eigenvalue.
//! - **GO**: Jaccard overlap of direct GO term sets (a positive semi-definite kernel); the
//!   embedding is its leading eigenvectors scaled by √λ.
//! - Kernels are cosine-normalised (`K_ij / √(K_ii K_jj)`, clamped to [−1, 1] against
//!   rounding), so each has unit diagonal, its largest entry is exactly 1, and all can be
//!   averaged (IterPert's "mean" integration with "diag" normalisation; its max-normalisation
//!   is then the identity). A kernel of a low-dimensional embedding ([`Kernel::Rows`]) keeps
//!   the embedding and computes an entry when it is read (the strategies read a few hundred
//!   thousand of the n² entries; at n = 10⁴ a stored kernel is 800 MB).

use crate::data::annotation::{jaccard, Annotations};
use crate::data::network::Network;
use crate::data::pathway::GeneSet;
use crate::numeric::eigen_top::{top_eigen_of, SymmetricOperator};
use crate::numeric::linalg::{LinalgError, Mat};
use crate::screen::Screen;

#[derive(Debug, Clone)]
pub struct PriorConfig {
    /// Eigenvectors kept per prior.
    pub dim: usize,
}

impl Default for PriorConfig {
    fn default() -> Self {
        PriorConfig { dim: 16 }
    }
}

#[derive(Debug, Clone)]
pub struct Priors {
    /// Named, cosine-normalised kernels over perturbations (n × n).
    pub kernels: Vec<(String, Kernel)>,
    /// Concatenated prior embeddings (n × d; d = 0 when no prior was given).
    pub embedding: Mat,
    /// Curated closeness of each perturbation's target to the pathway (higher = closer).
    pub closeness: Vec<f64>,
    /// Whether each perturbation's target is a pathway member or a STRING neighbour of one
    /// (what a designer who knows the pathway would draw from: `random-pathway`).
    pub neighbourhood: Vec<bool>,
}

/// A kernel over this screen's perturbations from another screen's responses (e.g. the same
/// knock-downs in another cell line): cosine similarity of the other screen's response
/// profiles of the same targets (averaged over its perturbations of a target), on the readout
/// genes both share. A perturbation whose target the other screen lacks has a unit diagonal
/// and zero similarity to everything else.
pub fn cross_screen_kernel(screen: &Screen, other: &Screen) -> Mat {
    let mine = screen.gene_index();
    // The other screen's readout columns that this screen also reads out.
    let shared: Vec<usize> = (0..other.n_genes())
        .filter(|&j| mine.contains_key(other.genes[j].as_str()))
        .collect();
    let mut by_target: std::collections::HashMap<&str, (Vec<f64>, usize)> =
        std::collections::HashMap::new();
    for (i, t) in other.targets.iter().enumerate() {
        let e = by_target
            .entry(t.as_str())
            .or_insert_with(|| (vec![0.0; shared.len()], 0));
        for (k, &j) in shared.iter().enumerate() {
            e.0[k] += other.values.get(i, j);
        }
        e.1 += 1;
    }
    let n = screen.n_perts();
    let d = shared.len();
    let e = Mat::from_fn(n, d, |p, k| {
        by_target
            .get(screen.targets[p].as_str())
            .map_or(0.0, |(s, c)| s[k] / *c as f64)
    });
    cosine_kernel(&e)
}

/// A cosine-normalised kernel over the screen's perturbations: unit diagonal, entries in
/// [−1, 1]; a row of zero norm is similar to nothing but itself.
#[derive(Debug, Clone)]
pub enum Kernel {
    /// The rows of an embedding (n × d, d small) and their norms; an entry is computed when
    /// read, with the bits [`cosine_kernel`] would store.
    Rows { e: Mat, norms: Vec<f64> },
    /// Stored n × n (rows too long to recompute per entry, e.g. another screen's responses).
    Dense(Mat),
}

impl Kernel {
    /// The cosine kernel of an embedding's rows, computed when read.
    pub fn rows(e: Mat) -> Kernel {
        let norms = row_norms(&e);
        Kernel::Rows { e, norms }
    }

    #[inline]
    pub fn get(&self, a: usize, b: usize) -> f64 {
        match self {
            Kernel::Rows { e, norms } => {
                if a == b {
                    1.0
                } else {
                    cosine(
                        crate::numeric::linalg::dot(e.row(a), e.row(b)),
                        norms[a],
                        norms[b],
                    )
                }
            }
            Kernel::Dense(m) => m.get(a, b),
        }
    }
}

impl Kernel {
    /// `out[t] = self.get(a, bs[t])`, the dot products four at a time (`dots`: the same bits;
    /// `dot(y, x)` has `dot(x, y)`'s bits).
    pub fn get_many(&self, a: usize, bs: &[usize], out: &mut [f64]) {
        match self {
            Kernel::Rows { e, norms } => {
                let rows: Vec<&[f64]> = bs.iter().map(|&b| e.row(b)).collect();
                crate::numeric::linalg::dots(&rows, e.row(a), out);
                for (o, &b) in out.iter_mut().zip(bs) {
                    *o = if a == b {
                        1.0
                    } else {
                        cosine(*o, norms[a], norms[b])
                    };
                }
            }
            Kernel::Dense(m) => {
                for (o, &b) in out.iter_mut().zip(bs) {
                    *o = m.get(a, b);
                }
            }
        }
    }
}

fn row_norms(e: &Mat) -> Vec<f64> {
    (0..e.rows)
        .map(|i| crate::numeric::linalg::dot(e.row(i), e.row(i)).sqrt())
        .collect()
}

/// One off-diagonal entry from the rows' dot product and norms.
#[inline]
fn cosine(dot: f64, na: f64, nb: f64) -> f64 {
    if na > 0.0 && nb > 0.0 {
        (dot / (na * nb)).clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

/// Cosine-normalise rows of an embedding into a kernel; rows of zero norm get a unit diagonal
/// and zero similarity to everything else.
pub fn cosine_kernel(e: &Mat) -> Mat {
    let n = e.rows;
    let norms = row_norms(e);
    // One triangle, mirrored: `dot(x, y)` and `dot(y, x)` multiply the same pairs and add them
    // in the same order, so entry (j, i) has entry (i, j)'s bits. Four dots at a time (`dots`).
    let rows: Vec<&[f64]> = (0..n).map(|i| e.row(i)).collect();
    let mut k = Mat::zeros(n, n);
    let mut d = vec![0.0; n];
    for i in 0..n {
        crate::numeric::linalg::dots(&rows[i + 1..], rows[i], &mut d[i + 1..]);
        k.set(i, i, 1.0);
        for j in i + 1..n {
            let v = cosine(d[j], norms[i], norms[j]);
            k.set(i, j, v);
            k.set(j, i, v);
        }
    }
    k
}

/// Leading `k` eigenvectors of a symmetric matrix, each column scaled by `f(λ)`, skipping the
/// first `skip` (and any with λ ≤ 0).
fn spectral(
    m: &dyn SymmetricOperator,
    k: usize,
    skip: usize,
    f: impl Fn(f64) -> f64,
) -> Result<Mat, LinalgError> {
    // Only the leading k + skip pairs are ever used: a top-k solver, not the full spectrum.
    let (vals, vecs) = top_eigen_of(m, k + skip)?;
    let keep: Vec<usize> = (skip..vals.len())
        .filter(|&c| vals[c] > 1e-10)
        .take(k)
        .collect();
    Ok(Mat::from_fn(m.n(), keep.len(), |i, j| {
        vecs.get(i, keep[j]) * f(vals[keep[j]])
    }))
}

/// The spectral embedding of a positive semi-definite kernel (e.g. [`cross_screen_kernel`]):
/// its leading `dim` eigenvectors scaled by √λ.
pub fn kernel_embedding(kernel: &Mat, dim: usize) -> Result<Mat, LinalgError> {
    spectral(kernel, dim, 0, f64::sqrt)
}

/// Append the columns of `extra` to the priors' embedding (same rows).
pub fn append_embedding(priors: &mut Priors, extra: &Mat) {
    let (n, d0) = (priors.embedding.rows, priors.embedding.cols);
    assert_eq!(extra.rows, n, "embedding rows");
    priors.embedding = Mat::from_fn(n, d0 + extra.cols, |i, j| {
        if j < d0 {
            priors.embedding.get(i, j)
        } else {
            extra.get(i, j - d0)
        }
    });
}

/// The Jaccard overlap of every pair of sorted term-id sets (n × n; 0 when either is empty).
/// Intersections are counted through each term's list of sets (only pairs sharing a term are
/// visited; most pairs share none) on one triangle, mirrored: `inter / (|x| + |y| − inter)`
/// is symmetric, so both entries have the same bits as a pairwise merge would give.
fn jaccard_kernel(sets: &[Vec<u32>], n_terms: usize) -> Mat {
    let n = sets.len();
    let mut with: Vec<Vec<u32>> = vec![Vec::new(); n_terms];
    for (a, s) in sets.iter().enumerate() {
        for &t in s {
            with[t as usize].push(a as u32);
        }
    }
    let mut j = Mat::zeros(n, n);
    let mut count = vec![0u32; n];
    let mut touched: Vec<u32> = Vec::new();
    for (a, x) in sets.iter().enumerate() {
        if x.is_empty() {
            continue;
        }
        j.set(a, a, 1.0);
        for &t in x {
            let list = &with[t as usize];
            let start = list.partition_point(|&b| b as usize <= a);
            for &b in &list[start..] {
                if count[b as usize] == 0 {
                    touched.push(b);
                }
                count[b as usize] += 1;
            }
        }
        for &b in &touched {
            let b = b as usize;
            let inter = count[b] as f64;
            let v = inter / (x.len() as f64 + sets[b].len() as f64 - inter);
            j.set(a, b, v);
            j.set(b, a, v);
            count[b] = 0;
        }
        touched.clear();
    }
    j
}

/// STRING spectral embedding of the perturbations' targets: the leading eigenvectors of
/// `M = D^-1/2 (A + τ/n·11ᵀ) D^-1/2`, multiplied as the sparse `D^-1/2 A D^-1/2` plus the rank-one
/// regulariser (O(edges + n) per product, not n²: STRING keeps a few dozen edges per gene).
pub fn string_embedding(targets: &[String], net: &Network, dim: usize) -> Result<Mat, LinalgError> {
    spectral(&StringOperator::new(targets, net), dim, 1, |l| l)
}

/// `M = S + reg·u uᵀ` with `S = D^-1/2 A D^-1/2` sparse and `u = D^-1/2 1` (D = degree + τ).
struct StringOperator {
    /// Row i of S: `(j, a_ij / (dᵢ dⱼ))`, j ascending.
    s: Vec<Vec<(usize, f64)>>,
    /// The adjacency's rows (for the dense form).
    a: Vec<Vec<(usize, f64)>>,
    /// `√(degree + τ)` per row.
    dreg: Vec<f64>,
    u: Vec<f64>,
    reg: f64,
}

impl StringOperator {
    fn new(targets: &[String], net: &Network) -> StringOperator {
        let n = targets.len();
        let a = adjacency_rows(targets, net);
        // Row sums in column order (the dense row's sum: its zeros add nothing).
        let deg: Vec<f64> = a.iter().map(|r| r.iter().map(|(_, w)| w).sum()).collect();
        let tau = (deg.iter().sum::<f64>() / n.max(1) as f64).max(1e-3);
        let reg = tau / n as f64;
        let dreg: Vec<f64> = deg.iter().map(|d| (d + tau).sqrt()).collect();
        let s = a
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.iter()
                    .map(|&(j, w)| (j, w / (dreg[i] * dreg[j])))
                    .collect()
            })
            .collect();
        let u = dreg.iter().map(|d| 1.0 / d).collect();
        StringOperator { s, a, dreg, u, reg }
    }
}

impl SymmetricOperator for StringOperator {
    fn n(&self) -> usize {
        self.u.len()
    }

    fn apply_block(&self, vs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        vs.iter()
            .map(|x| {
                let t = self.reg * crate::numeric::linalg::dot(&self.u, x);
                self.s
                    .iter()
                    .zip(&self.u)
                    .map(|(row, ui)| row.iter().map(|&(j, v)| v * x[j]).sum::<f64>() + t * ui)
                    .collect()
            })
            .collect()
    }

    fn to_dense(&self) -> Mat {
        let n = self.n();
        let mut m = Mat::from_fn(n, n, |i, j| self.reg / (self.dreg[i] * self.dreg[j]));
        for (i, row) in self.a.iter().enumerate() {
            for &(j, w) in row {
                m.set(i, j, (w + self.reg) / (self.dreg[i] * self.dreg[j]));
            }
        }
        m
    }
}

/// The targets' adjacency as sparse rows (column ascending): `a[i][j] = net.weight(t_i, t_j)`
/// off the diagonal, absent when 0. Built from each target's edge list (O(edges), not n²
/// look-ups: a genome-wide pool has 10⁸ pairs), with the first listed edge winning as in
/// [`Network::weight`], so the values are the same.
fn adjacency_rows(targets: &[String], net: &Network) -> Vec<Vec<(usize, f64)>> {
    let n = targets.len();
    // Network gene id → the targets that are that gene (a pool may list a target twice).
    let ids: Vec<Option<u32>> = targets.iter().map(|t| net.id(t)).collect();
    let mut at: Vec<Vec<usize>> = vec![Vec::new(); net.n_genes()];
    for (j, id) in ids.iter().enumerate() {
        if let Some(id) = id {
            at[*id as usize].push(j);
        }
    }
    let mut set = vec![false; n];
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            let mut row: Vec<(usize, f64)> = Vec::new();
            for &(g, w) in id.map(|id| net.neighbour_ids(id)).unwrap_or(&[]) {
                for &j in &at[g as usize] {
                    if j != i && !set[j] {
                        set[j] = true;
                        row.push((j, w));
                    }
                }
            }
            for &(j, _) in &row {
                set[j] = false;
            }
            row.retain(|&(_, w)| w != 0.0);
            row.sort_unstable_by_key(|&(j, _)| j);
            row
        })
        .collect()
}

/// GO-overlap (Jaccard) embedding of the perturbations' targets.
pub fn go_embedding(targets: &[String], ann: &Annotations, dim: usize) -> Result<Mat, LinalgError> {
    // Each target's terms as sorted ids (the annotations' interned indices): the counts, and
    // so the Jaccard values, are `Annotations::go_jaccard`'s.
    let sets: Vec<Vec<u32>> = targets
        .iter()
        .map(|t| ann.go.get(t).map(|v| v.to_vec()).unwrap_or_default())
        .collect();
    let j = jaccard_kernel(&sets, ann.go.n_terms());
    spectral(&j, dim, 0, f64::sqrt)
}

fn top_mean(mut v: Vec<f64>, k: usize) -> f64 {
    v.sort_by(|a, b| b.total_cmp(a));
    let k = k.min(v.len());
    if k == 0 {
        0.0
    } else {
        v[..k].iter().sum::<f64>() / k as f64
    }
}

/// Build the priors for a screen and pathway. Either source may be absent.
pub fn build(
    screen: &Screen,
    pathway: &GeneSet,
    net: Option<&Network>,
    ann: Option<&Annotations>,
    cfg: &PriorConfig,
) -> Result<Priors, LinalgError> {
    let parts = embeddings(&screen.targets, net, ann, cfg)?;
    Ok(assemble(screen, pathway, net, ann, parts))
}

/// The named spectral embeddings (`string`, `go`) of the perturbations' targets: the costly,
/// pathway-independent part of the priors (what a cache may keep).
pub fn embeddings(
    targets: &[String],
    net: Option<&Network>,
    ann: Option<&Annotations>,
    cfg: &PriorConfig,
) -> Result<Vec<(String, Mat)>, LinalgError> {
    // The two embeddings are independent: each on its own thread (each is a fixed sequence of
    // operations, so the bits do not depend on this).
    let ann = ann.filter(|a| !a.go.is_empty());
    let (string, go) = std::thread::scope(|s| {
        let go = ann.map(|ann| s.spawn(move || go_embedding(targets, ann, cfg.dim)));
        let string = net.map(|net| string_embedding(targets, net, cfg.dim));
        (string, go.map(|h| h.join().expect("GO embedding thread")))
    });
    let mut parts = Vec::new();
    if let Some(e) = string {
        parts.push(("string".to_string(), e?));
    }
    if let Some(e) = go {
        parts.push(("go".to_string(), e?));
    }
    Ok(parts)
}

/// The priors from their embeddings (see [`embeddings`]): kernels, the concatenated
/// embedding, and the pathway-specific closeness and neighbourhood.
pub fn assemble(
    screen: &Screen,
    pathway: &GeneSet,
    net: Option<&Network>,
    ann: Option<&Annotations>,
    parts: Vec<(String, Mat)>,
) -> Priors {
    let n = screen.n_perts();
    let kernels: Vec<(String, Kernel)> = parts
        .iter()
        .map(|(name, e)| (name.clone(), Kernel::rows(e.clone())))
        .collect();
    let d: usize = parts.iter().map(|(_, p)| p.cols).sum();
    let mut embedding = Mat::zeros(n, d);
    let mut off = 0;
    for (_, p) in &parts {
        for i in 0..n {
            embedding.row_mut(i)[off..off + p.cols].copy_from_slice(p.row(i));
        }
        off += p.cols;
    }
    let members: std::collections::HashSet<&str> =
        pathway.genes.iter().map(|s| s.as_str()).collect();
    // The pathway's genes as network ids and GO term sets, looked up once (not per target).
    let member_ids: Vec<Option<u32>> = net
        .map(|net| pathway.genes.iter().map(|m| net.id(m)).collect())
        .unwrap_or_default();
    let member_go: Vec<&[u32]> = ann
        .map(|a| {
            pathway
                .genes
                .iter()
                .map(|m| a.go.get(m).unwrap_or(&[]))
                .collect()
        })
        .unwrap_or_default();
    let closeness = screen
        .targets
        .iter()
        .map(|t| {
            let inside = if members.contains(t.as_str()) {
                1.0
            } else {
                0.0
            };
            let others = || (0..pathway.genes.len()).filter(|&k| pathway.genes[k] != *t);
            let s = net
                .map(|net| {
                    let ti = net.id(t);
                    let w = |k: usize| match (ti, member_ids[k]) {
                        (Some(a), Some(b)) => net.weight_ids(a, b),
                        _ => 0.0,
                    };
                    top_mean(others().map(w).collect(), 5)
                })
                .unwrap_or(0.0);
            let g = ann
                .map(|a| {
                    let x = a.go.get(t).unwrap_or(&[]);
                    top_mean(others().map(|k| jaccard(x, member_go[k])).collect(), 5)
                })
                .unwrap_or(0.0);
            inside + s + g
        })
        .collect();
    let neighbourhood = screen
        .targets
        .iter()
        .map(|t| {
            members.contains(t.as_str())
                || net.is_some_and(|net| net.neighbours(t).any(|(g, _)| members.contains(g)))
        })
        .collect();
    Priors {
        kernels,
        embedding,
        closeness,
        neighbourhood,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The adjacency from edge lists is `net.weight` pair by pair, on a network with repeated
    /// targets, a self-loop (the loader drops it), a duplicated edge and targets outside the
    /// network.
    /// A kernel read from its rows has the stored kernel's bits, entries within [−1, 1]
    /// (twins included: equal rows give exactly 1), and zero rows similar to nothing.
    #[test]
    fn rows_kernel_reads_the_stored_bits() {
        let mut rng = crate::numeric::seed::stream(2, "test/kernel-rows");
        let mut e = Mat::from_vec(
            30,
            5,
            (0..150)
                .map(|_| rand::RngExt::random_range(&mut rng, -1.0..1.0))
                .collect(),
        );
        for j in 0..5 {
            let v = e.get(3, j);
            e.set(7, j, v * 3.0); // a twin of row 3, scaled
            e.set(11, j, 0.0); // a zero row
        }
        let dense = cosine_kernel(&e);
        let k = Kernel::rows(e);
        for a in 0..30 {
            for b in 0..30 {
                assert_eq!(
                    k.get(a, b).to_bits(),
                    dense.get(a, b).to_bits(),
                    "({a}, {b})"
                );
                assert!(k.get(a, b).abs() <= 1.0);
            }
        }
        assert!((k.get(3, 7) - 1.0).abs() < 1e-15);
        assert_eq!(k.get(11, 11), 1.0);
        assert!((0..30).filter(|&b| b != 11).all(|b| k.get(11, b) == 0.0));
    }

    /// The sparse-plus-rank-one product is the dense matrix's product, to rounding, on a
    /// network with twins (one target perturbed twice), a self-edge and an isolated target.
    #[test]
    fn string_operator_multiplies_as_the_dense_matrix() {
        let mut net = Network::default();
        for (a, b, w) in [
            ("A", "B", 0.9),
            ("B", "C", 0.4),
            ("A", "A", 0.7),
            ("C", "D", 0.65),
        ] {
            net.add(a, b, w);
        }
        let targets: Vec<String> = ["A", "B", "A", "C", "X", "D"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let op = StringOperator::new(&targets, &net);
        let dense = op.to_dense();
        for i in 0..6 {
            for j in 0..6 {
                assert!(
                    (dense.get(i, j) - dense.get(j, i)).abs() < 1e-15,
                    "symmetric"
                );
            }
        }
        let xs: Vec<Vec<f64>> = (0..3)
            .map(|s| (0..6).map(|i| ((i * 7 + s * 3) % 5) as f64 - 2.0).collect())
            .collect();
        for (x, y) in xs.iter().zip(op.apply_block(&xs)) {
            for i in 0..6 {
                let want = crate::numeric::linalg::dot(dense.row(i), x);
                assert!((y[i] - want).abs() < 1e-14, "row {i}: {} vs {want}", y[i]);
            }
        }
    }

    /// The counted kernel has the pairwise merge's bits (random sets, empty ones included).
    #[test]
    fn jaccard_kernel_is_the_pairwise_one() {
        let mut rng = crate::numeric::seed::stream(8, "test/jaccard");
        let sets: Vec<Vec<u32>> = (0..60)
            .map(|_| {
                let len = rand::RngExt::random_range(&mut rng, 0..12usize);
                let mut v: Vec<u32> = (0..len)
                    .map(|_| rand::RngExt::random_range(&mut rng, 0..40u32))
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        let k = jaccard_kernel(&sets, 40);
        for a in 0..60 {
            for b in 0..60 {
                let (x, y) = (&sets[a], &sets[b]);
                let want = if x.is_empty() || y.is_empty() {
                    0.0
                } else {
                    let inter = x.iter().filter(|t| y.contains(t)).count() as f64;
                    inter / (x.len() as f64 + y.len() as f64 - inter)
                };
                assert_eq!(k.get(a, b).to_bits(), want.to_bits(), "({a}, {b})");
            }
        }
    }

    #[test]
    fn adjacency_matches_pairwise_weights() {
        let dir = std::env::temp_dir().join(format!("pertaudit-adj-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("net.tsv");
        std::fs::write(
            &p,
            "symbol_1\tsymbol_2\tcombined_score\nA\tB\t900\nB\tC\t400\nA\tA\t700\nC\tD\t650\nA\tB\t300\nD\tE\t999\n",
        )
        .unwrap();
        let net = Network::load(&p, 0.0).unwrap();
        let targets: Vec<String> = ["A", "B", "A", "C", "X", "D", "E", "B"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let n = targets.len();
        let want = Mat::from_fn(n, n, |i, j| {
            if i == j {
                0.0
            } else {
                net.weight(&targets[i], &targets[j])
            }
        });
        let mut got = Mat::zeros(n, n);
        for (i, row) in adjacency_rows(&targets, &net).iter().enumerate() {
            for &(j, w) in row {
                got.set(i, j, w);
            }
        }
        assert_eq!(
            got.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            want.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        assert!(got.get(0, 1) > 0.0 && got.get(1, 3) > 0.0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The merged-id Jaccard matrix is `go_jaccard` pair by pair (empty and missing sets too).
    #[test]
    fn go_embedding_uses_the_same_jaccard() {
        let mut ann = Annotations::default();
        for (g, terms) in [
            ("A", vec!["1", "2", "3"]),
            ("B", vec!["2", "3", "4", "5"]),
            ("C", vec![]),
            ("D", vec!["5", "1"]),
        ] {
            for t in terms {
                ann.go.insert(g, t);
            }
        }
        let targets: Vec<String> = ["A", "B", "C", "D", "Z", "B"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let n = targets.len();
        let want = Mat::from_fn(n, n, |a, b| ann.go_jaccard(&targets[a], &targets[b]));
        let (vals, vecs) = crate::numeric::eigen_top::top_eigen(&want, 3).unwrap();
        let e = go_embedding(&targets, &ann, 3).unwrap();
        let keep: Vec<usize> = (0..vals.len()).filter(|&c| vals[c] > 1e-10).collect();
        let direct = Mat::from_fn(n, keep.len(), |i, j| {
            vecs.get(i, keep[j]) * vals[keep[j]].sqrt()
        });
        assert_eq!(
            e.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            direct.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }

    /// The cross-screen kernel: same-target rows of the other screen decide similarity; a
    /// target the other screen lacks is similar only to itself.
    #[test]
    fn cross_screen_kernel_matches_targets() {
        let mk = |perts: &[&str], genes: &[&str], v: Vec<f64>| Screen {
            name: "s".into(),
            source: "s".into(),
            perturbations: perts.iter().map(|s| s.to_string()).collect(),
            targets: perts.iter().map(|s| s.to_string()).collect(),
            genes: genes.iter().map(|s| s.to_string()).collect(),
            values: Mat::from_vec(perts.len(), genes.len(), v),
            labels: None,
            response: Default::default(),
        };
        let here = mk(&["A", "B", "C"], &["g1", "g2"], vec![0.0; 6]);
        // A and B respond alike in the other screen, C is absent; g3 is not read out here.
        let other = mk(
            &["A", "B", "D"],
            &["g1", "g2", "g3"],
            vec![1.0, 2.0, 9.0, 2.0, 4.0, -9.0, -1.0, 0.0, 0.0],
        );
        let k = cross_screen_kernel(&here, &other);
        assert!((k.get(0, 1) - 1.0).abs() < 1e-12, "A ~ B on g1, g2");
        assert_eq!(k.get(0, 2), 0.0);
        assert_eq!(k.get(2, 2), 1.0);
    }

    #[test]
    fn string_embedding_separates_components() {
        // two triangles, no edges between them
        let mut net = Network::default();
        for (a, b) in [
            ("A", "B"),
            ("B", "C"),
            ("A", "C"),
            ("D", "E"),
            ("E", "F"),
            ("D", "F"),
        ] {
            net.add(a, b, 0.9);
        }
        let t: Vec<String> = ["A", "B", "C", "D", "E", "F"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let e = string_embedding(&t, &net, 2).unwrap();
        let k = cosine_kernel(&e);
        assert!(k.get(0, 1) > 0.9 && k.get(3, 4) > 0.9);
        assert!(k.get(0, 3) < 0.0);
    }
}
