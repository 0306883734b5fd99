//! The perturbation-response predictor: an ensemble of ridge regressions in a gene-embedding
//! space (the linear baseline of Ahlmann-Eltze et al. 2024), whose disagreement is its
//! epistemic uncertainty.
//!
//! Each fit, on the training perturbations `S` with responses `Y_S` (n × G):
//! 1. PCA of the centred training responses via the n × n Gram matrix (precomputed once for
//!    the whole screen in [`Workspace`]): `Y_c = U Λ^½ Vᵀ`; keep K components. `V_K` (G × K)
//!    are the gene embeddings; `T = U_K Λ_K^½` are the training responses in that space.
//! 2. A perturbation's features: its target gene's row of `V_K` when the target is a measured
//!    readout gene (else zeros), an indicator of that, and its prior embedding (STRING / GO
//!    spectral, see `prior.rs`), so that every candidate in the pool can be scored.
//! 3. Each member m fits ridge `T ≈ Z W_m` on a bootstrap of the training perturbations and a
//!    random subset of the feature columns.
//! 4. Prediction: `ŷ(p) = μ_S + mean_m(z_p W_m) V_Kᵀ`. Uncertainty per candidate: the variance
//!    across members of the latent prediction summed over components (equal to the summed
//!    variance over genes, since `V_K` is orthonormal), and the Gaussian mutual information
//!    `Σ_k ½ ln(1 + σ²_k(p) / s²_k)` with `s²_k` the members' out-of-bag residual variance.

use crate::numeric::eigen_leading::leading_eigen;
use crate::numeric::linalg::{LinalgError, Mat};
use crate::numeric::ridge::{Ridge, LOO_GRID};
use crate::screen::Screen;
use rand::rngs::ChaCha8Rng;
use rand::RngExt;

/// What the scored prediction is.
///
/// The default is the full-data ridge: on PerturbQA K562 (KEGG ribosome, 5 strategies × 5
/// seeds) the ensemble mean was below the mean-of-training baseline in 21 of 30 (strategy,
/// round) cells and the ridge with a leave-one-out penalty in 10 (the members each see a
/// bootstrap and 80 % of the features at a fixed λ = 1, and their mean inherits both handicaps).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Predictor {
    /// The ensemble's mean (each member: a bootstrap and a feature subset, penalty `lambda`).
    Ensemble,
    /// One ridge on every measured perturbation and every feature, its penalty chosen by
    /// exact leave-one-out error over [`LOO_GRID`]; the ensemble gives the uncertainty only.
    #[default]
    RidgeLoo,
}

impl Predictor {
    fn before_option() -> Predictor {
        Predictor::Ensemble
    }

    pub fn parse(s: &str) -> Option<Predictor> {
        match s {
            "ensemble" => Some(Predictor::Ensemble),
            "ridge-loo" => Some(Predictor::RidgeLoo),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EnsembleConfig {
    pub members: usize,
    pub lambda: f64,
    pub pca_dim: usize,
    /// Fraction of feature columns each member sees.
    pub feature_fraction: f64,
    /// What is scored. Run files written before the option existed lack it: they scored the
    /// ensemble mean.
    #[serde(default = "Predictor::before_option")]
    pub predictor: Predictor,
}

impl Default for EnsembleConfig {
    fn default() -> Self {
        EnsembleConfig {
            members: 10,
            lambda: 1.0,
            pca_dim: 16,
            feature_fraction: 0.8,
            predictor: Predictor::RidgeLoo,
        }
    }
}

/// Screen-wide precomputation shared by every fit of every strategy and seed.
pub struct Workspace<'a> {
    pub screen: &'a Screen,
    /// `Y Yᵀ` over all perturbations: every entry up front, or each on first use.
    pub gram: Gram,
    /// Readout-gene column of each perturbation's target, when measured.
    pub target_gene: Vec<Option<usize>>,
    /// Prior embedding rows (n × d_prior).
    pub prior: &'a Mat,
    /// What scoring needs of each perturbation's response (its top-DE genes and Pearson
    /// summary), found on first use: the test rows are scored every round of every strategy.
    truth_rows: Vec<std::sync::OnceLock<crate::predict::metrics::TruthRow>>,
}

impl<'a> Workspace<'a> {
    pub fn new(screen: &'a Screen, prior: &'a Mat) -> Workspace<'a> {
        Workspace::with_gram(screen, prior, Gram::new(&screen.values))
    }

    /// [`Workspace::new`] with the screen's Gram built elsewhere (`Gram::new(&screen.values)`).
    pub fn with_gram(screen: &'a Screen, prior: &'a Mat, gram: Gram) -> Workspace<'a> {
        let n = screen.n_perts();
        let idx = screen.gene_index();
        let target_gene = screen
            .targets
            .iter()
            .map(|t| idx.get(t.as_str()).copied())
            .collect();
        assert_eq!(prior.rows, n, "prior rows must match perturbations");
        Workspace {
            screen,
            gram,
            target_gene,
            prior,
            truth_rows: (0..n).map(|_| std::sync::OnceLock::new()).collect(),
        }
    }

    /// [`crate::predict::metrics::score`] of predictions for `perts` against the screen, with
    /// what scoring needs of each truth row found once per workspace.
    pub fn score(&self, perts: &[usize], pred: &Mat) -> crate::predict::metrics::Scores {
        self.score_predictions(perts, crate::predict::metrics::Predictions::Rows(pred))
    }

    /// [`Workspace::score`] of one prediction for every row of `perts` (a constant predictor
    /// such as the training mean), without repeating it per row.
    pub fn score_constant(&self, perts: &[usize], pred: &[f64]) -> crate::predict::metrics::Scores {
        self.score_predictions(perts, crate::predict::metrics::Predictions::Same(pred))
    }

    fn score_predictions(
        &self,
        perts: &[usize],
        pred: crate::predict::metrics::Predictions,
    ) -> crate::predict::metrics::Scores {
        use crate::predict::metrics::{score_with, TruthRow};
        let y = &self.screen.values;
        score_with(
            y,
            perts,
            pred,
            self.screen.labels.as_deref(),
            &|p: usize| {
                std::borrow::Cow::Borrowed(
                    self.truth_rows[p].get_or_init(|| TruthRow::of(y.row(p))),
                )
            },
        )
    }
}

/// Screens with at most this many perturbations get their whole Gram matrix up front.
const EAGER_GRAM_MAX: usize = 4096;

/// The entries of `Y Yᵀ` the fits read. A fit reads only the rows of its training set (at
/// most initial + rounds × batch perturbations), so beyond [`EAGER_GRAM_MAX`] perturbations
/// (a genome-wide pool: 10⁴ rows, where the whole matrix is 800 MB and ~10¹¹ multiply-adds)
/// entries are computed on first use and kept, shared by every job. Entry `(i, j)`, `i ≥ j`,
/// is always `dot(Y_i, Y_j)` in column order, as the eager product computes it (its sparse
/// path gives the same bits), so both give the same bits and the choice never shows in a
/// run's output.
pub struct Gram {
    full: Option<Mat>,
    lazy: Vec<std::sync::Mutex<std::collections::HashMap<u32, f64>>>,
}

impl Gram {
    pub fn new(y: &Mat) -> Gram {
        Gram::build(y, y.rows <= EAGER_GRAM_MAX)
    }

    fn build(y: &Mat, eager: bool) -> Gram {
        if eager {
            Gram {
                full: Some(gram_matrix(y)),
                lazy: Vec::new(),
            }
        } else {
            Gram {
                full: None,
                lazy: (0..y.rows).map(|_| Default::default()).collect(),
            }
        }
    }

    /// The Gram matrix of the rows `idx` of `y` (the `Y` this was built from).
    pub fn sub(&self, y: &Mat, idx: &[usize]) -> Mat {
        let n = idx.len();
        if let Some(g) = &self.full {
            return Mat::from_fn(n, n, |a, b| g.get(idx[a], idx[b]));
        }
        let mut m = Mat::zeros(n, n);
        for a in 0..n {
            for b in 0..=a {
                let (hi, lo) = (idx[a].max(idx[b]), idx[a].min(idx[b]));
                let known = self.lazy[hi]
                    .lock()
                    .expect("gram row")
                    .get(&(lo as u32))
                    .copied();
                let v = known.unwrap_or_else(|| {
                    let v = crate::numeric::linalg::dot(y.row(hi), y.row(lo));
                    self.lazy[hi].lock().expect("gram row").insert(lo as u32, v);
                    v
                });
                m.set(a, b, v);
                m.set(b, a, v);
            }
        }
        m
    }
}

/// `Y Yᵀ`, rows split over the available cores; each entry is one dot product in a fixed
/// order, so the result does not depend on the thread count.
///
/// A mostly-zero `Y` (labelled pairs: 99.7 % zeros on PerturbQA K562) takes a sparse path:
/// each row's non-zeros in column order, entries by merging two such lists. The non-zero
/// products are added in the same order as the dense product adds them and the zero products
/// it skips are exact no-ops, so the result is the same bits (a zero entry is +0.0 either way).
pub fn gram_matrix(y: &Mat) -> Mat {
    let nonzero = y.data.iter().filter(|v| **v != 0.0).count();
    // A merge step costs a few multiply-adds: below ~5 % non-zeros merging wins.
    if (nonzero as f64) < 0.05 * y.data.len() as f64 {
        return sparse_gram(y);
    }
    dense_gram(y)
}

/// The sparse path through each column's non-zeros: row i's non-zeros in column order, each
/// multiplied into every earlier row that has the same column, so each entry (i, j) adds the
/// products of the columns i and j share in column order: the merge of the two rows' lists,
/// with work only where both are non-zero (a pairwise merge walked every pair of lists).
fn sparse_gram(y: &Mat) -> Mat {
    let n = y.rows;
    let mut rows: Vec<Vec<(usize, f64)>> = Vec::with_capacity(n);
    let mut cols: Vec<Vec<(usize, f64)>> = vec![Vec::new(); y.cols];
    for i in 0..n {
        let row: Vec<(usize, f64)> = y
            .row(i)
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0.0)
            .map(|(c, v)| (c, *v))
            .collect();
        for &(c, v) in &row {
            cols[c].push((i, v));
        }
        rows.push(row);
    }
    let mut g = Mat::zeros(n, n);
    let mut acc = vec![0.0f64; n];
    for (i, row) in rows.iter().enumerate() {
        acc[..=i].iter_mut().for_each(|s| *s = 0.0);
        for &(c, v) in row {
            for &(j, w) in cols[c].iter().take_while(|(j, _)| *j <= i) {
                acc[j] += v * w;
            }
        }
        for (j, &s) in acc[..=i].iter().enumerate() {
            let s = if s == 0.0 { 0.0 } else { s };
            g.set(i, j, s);
            g.set(j, i, s);
        }
    }
    g
}

/// Rows of `Y` per interleaved group of [`dense_gram`] (two AVX2 registers).
const GRAM_LANES: usize = crate::numeric::linalg::INTERLEAVED;

/// The dense path: rows taken eight at a time, interleaved (`[column][lane]`), and every later
/// row's products with the eight accumulated in registers, four rows at a time. Entry (i, j)
/// is `dot(y_j, y_i)`, the products added in column order from −0.0: the bits of `dot(y_i,
/// y_j)`. Groups are dealt round-robin over the cores (a group's cost falls with its index)
/// and each entry is placed by its index, so the split never shows in the bits.
fn dense_gram(y: &Mat) -> Mat {
    let n = y.rows;
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let groups = n.div_ceil(GRAM_LANES);
    let dealt: Vec<Vec<usize>> = (0..threads)
        .map(|t| (t..groups).step_by(threads).collect())
        .collect();
    let parts: Vec<Vec<(usize, Vec<f64>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = dealt
            .iter()
            .map(|bs| {
                s.spawn(move || {
                    bs.iter()
                        .map(|&b| (b * GRAM_LANES, gram_group(y, b * GRAM_LANES)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("gram worker"))
            .collect()
    });
    let mut g = Mat::zeros(n, n);
    for part in parts {
        for (j0, out) in part {
            for (r, acc) in out.chunks_exact(GRAM_LANES).enumerate() {
                let i = j0 + r;
                for (l, &v) in acc.iter().enumerate() {
                    let j = j0 + l;
                    if j <= i {
                        g.set(i, j, v);
                        g.set(j, i, v);
                    }
                }
            }
        }
    }
    g
}

/// `dot(y_{j0+l}, y_i)` for every row i ≥ j0 and lane l (zero rows past the end), as
/// `out[(i − j0)·8 + l]`.
fn gram_group(y: &Mat, j0: usize) -> Vec<f64> {
    let n = y.rows;
    let group: Vec<&[f64]> = (j0..n.min(j0 + GRAM_LANES)).map(|j| y.row(j)).collect();
    let packed = crate::numeric::linalg::interleave(&group, y.cols);
    let rows: Vec<&[f64]> = (j0..n).map(|i| y.row(i)).collect();
    let mut out = vec![0.0; rows.len() * GRAM_LANES];
    crate::numeric::linalg::dots_interleaved(&packed, &rows, &mut out);
    out
}

#[derive(Debug, Clone)]
pub struct Member {
    pub cols: Vec<usize>,
    pub ridge: Ridge,
}

/// What closed-form batch BALD chose: (position in the pool, leverage when picked) in pick
/// order, and every candidate's leverage before any pick.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedFormBald {
    pub picks: Vec<(usize, f64)>,
    pub leverage: Vec<f64>,
}

/// Per-candidate uncertainty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Uncertainty {
    /// Summed across-member variance of the predicted response.
    pub variance: f64,
    /// Gaussian mutual information between the prediction and the ensemble member (BALD).
    pub mutual_information: f64,
}

#[derive(Debug, Clone)]
pub struct FittedEnsemble {
    pub train: Vec<usize>,
    pub y_mean: Vec<f64>,
    /// The gene embeddings transposed, K × G (`V_Kᵀ`): one row per component, so that the
    /// predictions of several rows for several genes are contiguous, vectorisable loads.
    pub loadings_t: Mat,
    /// Features of every perturbation (n × d).
    pub features: Mat,
    pub members: Vec<Member>,
    /// Out-of-bag residual variance per latent component.
    pub noise: Vec<f64>,
    /// The ridge penalty the members were fitted with (the closed-form posterior uses it too).
    pub lambda: f64,
    /// The full-data ridge and its leave-one-out penalty (with [`Predictor::RidgeLoo`]).
    pub full: Option<(Ridge, f64)>,
    /// Out-of-bag latent predictions of the measured perturbations: (perturbation, mean over
    /// the members whose bootstrap left it out). Only measured rows: what an experimenter can
    /// score the model on without a held-out set.
    pub oob: Vec<(usize, Vec<f64>)>,
}

impl FittedEnsemble {
    pub fn k(&self) -> usize {
        self.loadings_t.rows
    }

    /// Each member's latent prediction for each perturbation: `[member][pert][k]`.
    fn member_latents(&self, perts: &[usize]) -> Vec<Mat> {
        let k = self.k();
        self.members
            .iter()
            .map(|m| {
                let mut out = Mat::zeros(perts.len(), k);
                let mut z = vec![0.0; m.cols.len()];
                for (r, &p) in perts.iter().enumerate() {
                    for (zz, &c) in z.iter_mut().zip(&m.cols) {
                        *zz = self.features.get(p, c);
                    }
                    m.ridge.predict_row(&z, out.row_mut(r));
                }
                out
            })
            .collect()
    }

    /// Ensemble-mean latent prediction (m × K): the model's embedding of each perturbation.
    pub fn latent_mean(&self, perts: &[usize]) -> Mat {
        let ms = self.member_latents(perts);
        let mut mean = Mat::zeros(perts.len(), self.k());
        for m in &ms {
            for (a, b) in mean.data.iter_mut().zip(&m.data) {
                *a += b / ms.len() as f64;
            }
        }
        mean
    }

    /// Predicted responses over all readout genes (m × G): the full-data ridge when there is
    /// one, else the ensemble mean.
    pub fn predict(&self, perts: &[usize]) -> Mat {
        match &self.full {
            Some((ridge, _)) => {
                let mut lat = Mat::zeros(perts.len(), self.k());
                for (r, &p) in perts.iter().enumerate() {
                    ridge.predict_row(self.features.row(p), lat.row_mut(r));
                }
                self.to_genes(&lat)
            }
            None => self.to_genes(&self.latent_mean(perts)),
        }
    }

    /// The out-of-bag predictions of the measured perturbations that some member left out:
    /// their indices and predicted responses (the PCA basis was fitted with them, so the
    /// figure is mildly optimistic, but it reads measured data only).
    pub fn oob_prediction(&self) -> (Vec<usize>, Mat) {
        let perts: Vec<usize> = self.oob.iter().map(|(p, _)| *p).collect();
        let k = self.k();
        let lat = Mat::from_fn(perts.len(), k, |r, c| self.oob[r].1[c]);
        (perts, self.to_genes(&lat))
    }

    /// Closed-form batch BALD for the Bayesian ridge on all features (standardised on the
    /// measured set, prior precision λ): the posterior variance of every latent component at
    /// a candidate is `σ²_k · h(x)` with leverage `h(x) = zᵀ(ZᵀZ + λI)⁻¹z + 1/n`, so the mutual
    /// information with the outcome is `Σ_k ½ ln(1 + h(x))` and needs no sampling. Greedy
    /// batch selection conditions on the picks so far (Sherman–Morrison updates of the
    /// inverse), i.e. greedy D-optimal design. Returns (candidate position in `pool`, leverage
    /// at the time it was picked), in pick order.
    /// The measured set's standardised design: the candidates' standardised feature rows,
    /// `(ZᵀZ + λI)⁻¹` over the measured rows, and their count.
    fn design(&self, pool: &[usize]) -> Result<(Vec<Vec<f64>>, Mat, f64), LinalgError> {
        let d = self.features.cols;
        let n = self.train.len().max(1) as f64;
        let mut mean = vec![0.0; d];
        for &i in &self.train {
            for (m, v) in mean.iter_mut().zip(self.features.row(i)) {
                *m += v / n;
            }
        }
        let mut scale = vec![0.0; d];
        for &i in &self.train {
            for j in 0..d {
                scale[j] += (self.features.get(i, j) - mean[j]).powi(2) / n;
            }
        }
        let z = |p: usize| -> Vec<f64> {
            (0..d)
                .map(|j| {
                    let s = scale[j].sqrt();
                    if s > 1e-12 {
                        (self.features.get(p, j) - mean[j]) / s
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let mut g = Mat::zeros(d, d);
        for &i in &self.train {
            let zi = z(i);
            for a in 0..d {
                for b in 0..d {
                    g.data[a * d + b] += zi[a] * zi[b];
                }
            }
        }
        for j in 0..d {
            g.data[j * d + j] += self.posterior_lambda();
        }
        // The inverse, column by column from the Cholesky factor.
        let l = crate::numeric::linalg::cholesky(&g)?;
        let inv = crate::numeric::linalg::cholesky_solve(
            &l,
            &Mat::from_fn(d, d, |a, b| (a == b) as u8 as f64),
        );
        let zs: Vec<Vec<f64>> = pool.iter().map(|&p| z(p)).collect();
        Ok((zs, inv, n))
    }

    /// The prior precision of the closed-form posterior: the penalty of the model that is
    /// scored (the leave-one-out choice of the full-data ridge, else the members' λ).
    pub fn posterior_lambda(&self) -> f64 {
        self.full.as_ref().map_or(self.lambda, |(_, l)| *l)
    }

    /// Target-aware batch design: greedy expected reduction of the posterior variance summed
    /// over the `targets` (perturbations whose responses the study cares about; only their
    /// features are read). With `G = ZᵀZ + λI`, measuring `x` lowers `Σ_t z_tᵀG⁻¹z_t` by
    /// `xᵀG⁻¹AG⁻¹x / (1 + xᵀG⁻¹x)` with `A = Σ_t z_t z_tᵀ`; after each pick `G⁻¹` is updated
    /// (Sherman–Morrison), so later picks count only what earlier ones left. Returns (position
    /// in `pool`, reduction when picked) in pick order, and the total target variance
    /// `Σ_t z_tᵀG⁻¹z_t` before any pick.
    pub fn expected_variance_reduction(
        &self,
        pool: &[usize],
        targets: &[usize],
        batch: usize,
    ) -> Result<(Vec<(usize, f64)>, f64), LinalgError> {
        let all: Vec<usize> = pool.iter().chain(targets).copied().collect();
        let (zs, mut inv, _) = self.design(&all)?;
        let (xs, ts) = zs.split_at(pool.len());
        let before: f64 = ts.iter().map(|t| quad(&inv, t).1).sum();
        let mut taken = vec![false; pool.len()];
        let mut picks = Vec::with_capacity(batch);
        for _ in 0..batch.min(pool.len()) {
            // u_t = G⁻¹ z_t; the reduction of x is Σ_t (u_t·x)² / (1 + xᵀG⁻¹x).
            let us: Vec<Vec<f64>> = ts.iter().map(|t| quad(&inv, t).0).collect();
            let mut best: Option<(usize, f64)> = None;
            for (i, x) in xs.iter().enumerate() {
                if taken[i] {
                    continue;
                }
                let q = quad(&inv, x).1;
                let num: f64 = us
                    .iter()
                    .map(|u| crate::numeric::linalg::dot(u, x).powi(2))
                    .sum();
                let r = num / (1.0 + q);
                if best.is_none_or(|(_, b)| r > b) {
                    best = Some((i, r));
                }
            }
            let Some((i, r)) = best else { break };
            taken[i] = true;
            picks.push((i, r));
            condition_on(&mut inv, &xs[i]);
        }
        Ok((picks, before))
    }

    /// The leverage `h(x) = zᵀ(ZᵀZ + λI)⁻¹z + 1/n` of each candidate given the measured set.
    pub fn leverage(&self, pool: &[usize]) -> Result<Vec<f64>, LinalgError> {
        Ok(self.closed_form_bald(pool, 0)?.leverage)
    }

    /// Closed-form batch BALD (see the type's docs): greedy, with Sherman–Morrison updates.
    /// The first sweep is every candidate's leverage, returned beside the picks.
    pub fn closed_form_bald(
        &self,
        pool: &[usize],
        batch: usize,
    ) -> Result<ClosedFormBald, LinalgError> {
        let (zs, mut inv, n) = self.design(pool)?;
        let mut h: Vec<f64> = zs.iter().map(|v| quad(&inv, v).1 + 1.0 / n).collect();
        let leverage = h.clone();
        let mut taken = vec![false; pool.len()];
        let mut picks = Vec::with_capacity(batch);
        for _ in 0..batch.min(pool.len()) {
            let mut best: Option<(usize, f64)> = None;
            for (i, &hi) in h.iter().enumerate() {
                if !taken[i] && best.is_none_or(|(_, b)| hi > b) {
                    best = Some((i, hi));
                }
            }
            let Some((i, hi)) = best else { break };
            taken[i] = true;
            picks.push((i, hi));
            // Conditioning on z_i lowers every quadratic form by a rank-one term:
            // zᵀ(G⁻¹ − wwᵀ/(1 + q))z = zᵀG⁻¹z − (w·z)²/(1 + q), w = G⁻¹z_i, q = z_iᵀw. O(d) per
            // candidate instead of O(d²) (re-evaluating the updated form: 32 picks × the
            // pool × d² was most of a `bald` round).
            let (w, q) = quad(&inv, &zs[i]);
            for (j, v) in zs.iter().enumerate() {
                if !taken[j] {
                    h[j] -= crate::numeric::linalg::dot(&w, v).powi(2) / (1.0 + q);
                }
            }
            condition_on(&mut inv, &zs[i]);
        }
        Ok(ClosedFormBald { picks, leverage })
    }

    /// Latent rows → gene space: `ȳ + V_K z`.
    fn to_genes(&self, lat: &Mat) -> Mat {
        let mut out = Mat::zeros(lat.rows, self.y_mean.len());
        to_genes_into(&mut out, &self.loadings_t, lat, &self.y_mean);
        out
    }

    pub fn uncertainty(&self, perts: &[usize]) -> Vec<Uncertainty> {
        let ms = self.member_latents(perts);
        let k = self.k();
        let m = ms.len() as f64;
        (0..perts.len())
            .map(|r| {
                let mut variance = 0.0;
                let mut mi = 0.0;
                for c in 0..k {
                    let mean = ms.iter().map(|x| x.get(r, c)).sum::<f64>() / m;
                    let var = ms.iter().map(|x| (x.get(r, c) - mean).powi(2)).sum::<f64>() / m;
                    variance += var;
                    mi += 0.5 * (1.0 + var / self.noise[c].max(1e-12)).ln();
                }
                Uncertainty {
                    variance,
                    mutual_information: mi,
                }
            })
            .collect()
    }
}

/// PCA of the centred training responses from the Gram matrix: returns `(T, V_Kᵀ, μ)`.
fn pca(ws: &Workspace, train: &[usize], max_k: usize) -> Result<(Mat, Mat, Vec<f64>), LinalgError> {
    let n = train.len();
    let y = &ws.screen.values;
    let g = y.cols;
    let mu = training_mean(ws.screen, train);
    let sub = ws.gram.sub(y, train);
    let rmean: Vec<f64> = (0..n)
        .map(|a| sub.row(a).iter().sum::<f64>() / n as f64)
        .collect();
    let tmean = rmean.iter().sum::<f64>() / n as f64;
    let c = Mat::from_fn(n, n, |a, b| sub.get(a, b) - rmean[a] - rmean[b] + tmean);
    // Only the leading `max_k` pairs above the floor are computed (see `eigen_leading`).
    let (vals, vecs) = leading_eigen(&c, max_k, 1e-10)?;
    let k = vals.len();
    let t = Mat::from_fn(n, k, |a, j| vecs.get(a, j) * vals[j].sqrt());
    // V_Kᵀ[j][g] = Σ_a (y_ag − μ_g) · w_aj, the training rows added in order from +0 (w has
    // zero columns up to a whole register block).
    let kp = k.div_ceil(COMPONENT_LANES) * COMPONENT_LANES;
    let w = Mat::from_fn(n, kp, |a, j| {
        if j < k {
            vecs.get(a, j) / vals[j].sqrt()
        } else {
            0.0
        }
    });
    let rows: Vec<&[f64]> = train.iter().map(|&i| y.row(i)).collect();
    let mut vt = Mat::zeros(k, g);
    loadings_t_into(&mut vt, &rows, &mu, &w);
    Ok((t, vt, mu))
}

/// Genes per register block of the two V_K kernels (two AVX2 registers).
const GENE_LANES: usize = 8;
/// Genes whose centred training values [`loadings_t_into`] copies together.
const GENE_BLOCK: usize = 256;
/// Components per register block of [`loadings_t_into`].
const COMPONENT_LANES: usize = 4;
/// Rows per register block of [`to_genes_into`].
const ROW_LANES: usize = 4;

crate::numeric::wide::avx2_twin!(
    /// `V_Kᵀ` (k × G) from the training rows, their means `mu` and the weights `w` (n × k′,
    /// k′ ≥ k a whole number of register blocks, the columns past k zero): entry (j, g) is
    /// `Σ_a (rows[a][g] − mu[g]) · w[a][j]`, added in training-row order from +0. Eight genes × four components stay in registers while every training row passes
    /// (with AVX2 when the CPU has it: the same bits, see `numeric::wide`).
    fn loadings_t_into(vt: &mut Mat, rows: &[&[f64]], mu: &[f64], w: &Mat) = loadings_t_portable
);

#[inline(always)]
fn loadings_t_portable(vt: &mut Mat, rows: &[&[f64]], mu: &[f64], w: &Mat) {
    let (k, g, n) = (vt.rows, vt.cols, rows.len());
    let full = g - g % GENE_LANES;
    // The centred training values of a block of genes, copied chunk by chunk (`[chunk][row]
    // [lane]`), so that the register blocks stream through contiguous memory: reading the
    // rows in place touches one page per training row per pass.
    let mut pack = vec![0.0; n * GENE_BLOCK];
    for b0 in (0..full).step_by(GENE_BLOCK) {
        let chunks = (GENE_BLOCK / GENE_LANES).min((full - b0) / GENE_LANES);
        let span = b0..b0 + chunks * GENE_LANES;
        for (a, row) in rows.iter().enumerate() {
            let src = row[span.clone()].chunks_exact(GENE_LANES);
            for (q, (y, m)) in src
                .zip(mu[span.clone()].chunks_exact(GENE_LANES))
                .enumerate()
            {
                let y: &[f64; GENE_LANES] = y.try_into().unwrap();
                let m: &[f64; GENE_LANES] = m.try_into().unwrap();
                let c: [f64; GENE_LANES] = std::array::from_fn(|t| y[t] - m[t]);
                pack[(q * n + a) * GENE_LANES..][..GENE_LANES].copy_from_slice(&c);
            }
        }
        for q in 0..chunks {
            let g0 = b0 + q * GENE_LANES;
            let pack = &pack[q * n * GENE_LANES..][..n * GENE_LANES];
            for j0 in (0..k).step_by(COMPONENT_LANES) {
                let jn = COMPONENT_LANES.min(k - j0);
                let mut acc = [[0.0f64; GENE_LANES]; COMPONENT_LANES];
                for (a, c) in pack.chunks_exact(GENE_LANES).enumerate() {
                    let c: &[f64; GENE_LANES] = c.try_into().unwrap();
                    // Past k, a zero weight adds c · 0 to an unused accumulator.
                    let wa: &[f64; COMPONENT_LANES] =
                        w.row(a)[j0..j0 + COMPONENT_LANES].try_into().unwrap();
                    for (acc, &wj) in acc.iter_mut().zip(wa) {
                        for t in 0..GENE_LANES {
                            acc[t] += c[t] * wj;
                        }
                    }
                }
                for (jj, acc) in acc.iter().enumerate().take(jn) {
                    vt.row_mut(j0 + jj)[g0..g0 + GENE_LANES].copy_from_slice(acc);
                }
            }
        }
    }
    for gi in full..g {
        for j in 0..k {
            let mut acc = 0.0;
            for (a, row) in rows.iter().enumerate() {
                acc += (row[gi] - mu[gi]) * w.get(a, j);
            }
            vt.set(j, gi, acc);
        }
    }
}

crate::numeric::wide::avx2_twin!(
    /// `out[r][g] = mu[g] + Σ_j vt[j][g] · lat[r][j]`, the sum in component order from −0.0
    /// (the bits of `dot(V_K row, z)`), four rows × eight genes in registers per pass over the
    /// components (with AVX2 when the CPU has it: the same bits, see `numeric::wide`).
    fn to_genes_into(out: &mut Mat, vt: &Mat, lat: &Mat, mu: &[f64]) = to_genes_portable
);

#[inline(always)]
fn to_genes_portable(out: &mut Mat, vt: &Mat, lat: &Mat, mu: &[f64]) {
    let mut r0 = 0;
    while r0 + ROW_LANES <= lat.rows {
        to_genes_rows::<ROW_LANES>(out, vt, lat, mu, r0);
        r0 += ROW_LANES;
    }
    while r0 < lat.rows {
        to_genes_rows::<1>(out, vt, lat, mu, r0);
        r0 += 1;
    }
}

#[inline(always)]
fn to_genes_rows<const R: usize>(out: &mut Mat, vt: &Mat, lat: &Mat, mu: &[f64], r0: usize) {
    let (k, g) = (vt.rows, vt.cols);
    let full = g - g % GENE_LANES;
    let z: [&[f64]; R] = std::array::from_fn(|rr| lat.row(r0 + rr));
    for g0 in (0..full).step_by(GENE_LANES) {
        let mut acc = [[-0.0f64; GENE_LANES]; R];
        for j in 0..k {
            let v: &[f64; GENE_LANES] = vt.row(j)[g0..g0 + GENE_LANES].try_into().unwrap();
            for rr in 0..R {
                let zj = z[rr][j];
                for t in 0..GENE_LANES {
                    acc[rr][t] += v[t] * zj;
                }
            }
        }
        for (rr, acc) in acc.iter().enumerate() {
            let o = &mut out.row_mut(r0 + rr)[g0..g0 + GENE_LANES];
            for t in 0..GENE_LANES {
                o[t] = mu[g0 + t] + acc[t];
            }
        }
    }
    for gi in full..g {
        for (rr, z) in z.iter().enumerate() {
            let mut acc = -0.0;
            for (j, zj) in z.iter().enumerate().take(k) {
                acc += vt.get(j, gi) * zj;
            }
            out.set(r0 + rr, gi, mu[gi] + acc);
        }
    }
}

/// Fit the ensemble on `train` (indices into the screen). Draws only from `rng`.
pub fn fit(
    ws: &Workspace,
    train: &[usize],
    cfg: &EnsembleConfig,
    rng: &mut ChaCha8Rng,
) -> Result<FittedEnsemble, LinalgError> {
    assert!(train.len() >= 2, "need at least two training perturbations");
    let (t, v, mu) = pca(ws, train, cfg.pca_dim)?;
    let k = v.rows;
    let n_all = ws.screen.n_perts();
    let dp = ws.prior.cols;
    let d = k + 1 + dp;
    // A target counts as a measured readout only when some training response reads it out
    // (a non-zero column): with ranked lists the screen's gene universe is the union of every
    // list, held-out ones included, and whether a gene is in it must not reach the features.
    // Only target columns are asked about: each is looked up in the training rows once (not
    // every gene of every training row per fit).
    let y = &ws.screen.values;
    let mut measured_gene: Vec<Option<bool>> = vec![None; y.cols];
    let target: Vec<Option<usize>> = ws
        .target_gene
        .iter()
        .map(|&t| {
            t.filter(|&g| {
                *measured_gene[g].get_or_insert_with(|| train.iter().any(|&i| y.get(i, g) != 0.0))
            })
        })
        .collect();
    let target_gene = |p: usize| target[p];
    let features = Mat::from_fn(n_all, d, |p, j| {
        if j < k {
            target_gene(p).map(|g| v.get(j, g)).unwrap_or(0.0)
        } else if j == k {
            if target_gene(p).is_some() {
                1.0
            } else {
                0.0
            }
        } else {
            ws.prior.get(p, j - k - 1)
        }
    });
    let n = train.len();
    let n_cols = ((d as f64 * cfg.feature_fraction).ceil() as usize).clamp(1, d);
    let mut members = Vec::with_capacity(cfg.members);
    let mut oob_sum = vec![0.0; k];
    let mut oob_n = 0usize;
    let mut oob_lat = vec![vec![0.0; k]; n];
    let mut oob_count = vec![0usize; n];
    for _ in 0..cfg.members {
        let boot: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
        let mut cols: Vec<usize> = (0..d).collect();
        // partial Fisher–Yates: the first n_cols entries are a uniform subset
        for i in 0..n_cols {
            let j = rng.random_range(i..d);
            cols.swap(i, j);
        }
        cols.truncate(n_cols);
        cols.sort_unstable();
        let x = Mat::from_fn(n, cols.len(), |r, c| features.get(train[boot[r]], cols[c]));
        let y = Mat::from_fn(n, k, |r, c| t.get(boot[r], c));
        let ridge = Ridge::fit(&x, &y, cfg.lambda)?;
        let mut in_bag = vec![false; n];
        boot.iter().for_each(|&b| in_bag[b] = true);
        let mut pred = vec![0.0; k];
        let mut z = vec![0.0; cols.len()];
        for r in (0..n).filter(|&r| !in_bag[r]) {
            for (zz, &c) in z.iter_mut().zip(&cols) {
                *zz = features.get(train[r], c);
            }
            ridge.predict_row(&z, &mut pred);
            for c in 0..k {
                oob_sum[c] += (t.get(r, c) - pred[c]).powi(2);
                oob_lat[r][c] += pred[c];
            }
            oob_count[r] += 1;
            oob_n += 1;
        }
        members.push(Member { cols, ridge });
    }
    let noise = if oob_n > 0 {
        oob_sum.iter().map(|s| s / oob_n as f64).collect()
    } else {
        (0..k)
            .map(|c| (0..n).map(|r| t.get(r, c).powi(2)).sum::<f64>() / n as f64)
            .collect()
    };
    let oob = (0..n)
        .filter(|&r| oob_count[r] > 0)
        .map(|r| {
            let m = oob_count[r] as f64;
            (train[r], oob_lat[r].iter().map(|x| x / m).collect())
        })
        .collect();
    let full = match cfg.predictor {
        Predictor::Ensemble => None,
        Predictor::RidgeLoo => {
            let x = Mat::from_fn(n, d, |r, c| features.get(train[r], c));
            let fit = Ridge::fit_loo(&x, &t, &LOO_GRID)?;
            Some((fit.ridge, fit.lambda))
        }
    };
    Ok(FittedEnsemble {
        full,
        train: train.to_vec(),
        y_mean: mu,
        loadings_t: v,
        features,
        members,
        noise,
        lambda: cfg.lambda,
        oob,
    })
}

/// `(G⁻¹v, vᵀG⁻¹v)` for a symmetric `G⁻¹` (the closed-form posterior's quadratic form).
fn quad(inv: &Mat, v: &[f64]) -> (Vec<f64>, f64) {
    let w: Vec<f64> = (0..inv.rows)
        .map(|a| crate::numeric::linalg::dot(inv.row(a), v))
        .collect();
    let q = crate::numeric::linalg::dot(&w, v);
    (w, q)
}

/// Condition the posterior on measuring `v` (Sherman–Morrison):
/// `(G + v vᵀ)⁻¹ = G⁻¹ − (G⁻¹v)(G⁻¹v)ᵀ / (1 + vᵀG⁻¹v)`.
fn condition_on(inv: &mut Mat, v: &[f64]) {
    let (w, q) = quad(inv, v);
    let d = inv.rows;
    for a in 0..d {
        for b in 0..d {
            inv.data[a * d + b] -= w[a] * w[b] / (1.0 + q);
        }
    }
}

/// The mean training response: the PCA's centre, and the mean-of-training baseline, which
/// predicts it for everything ([`Workspace::score_constant`]).
pub fn training_mean(screen: &Screen, train: &[usize]) -> Vec<f64> {
    let mut mu = vec![0.0; screen.n_genes()];
    for &i in train {
        add_quotients(&mut mu, screen.row(i), train.len() as f64);
    }
    mu
}

crate::numeric::wide::avx2_twin!(
    /// `mu[g] += row[g] / n` (with AVX2 when the CPU has it: the same bits, see
    /// `numeric::wide`; division bounds this loop, and four lanes divide at once).
    fn add_quotients(mu: &mut [f64], row: &[f64], n: f64) = add_quotients_portable
);

#[inline(always)]
fn add_quotients_portable(mu: &mut [f64], row: &[f64], n: f64) {
    for (m, v) in mu.iter_mut().zip(row) {
        *m += v / n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numeric::seed::stream;

    /// Entries computed on first use are the eager product's bits, dense or sparse.
    #[test]
    fn lazy_gram_has_the_eager_bits() {
        let mut rng = stream(3, "test");
        for sparse in [false, true] {
            let data: Vec<f64> = (0..40 * 300)
                .map(|_| {
                    let v: f64 = rng.random_range(-1.0..1.0);
                    if sparse && v.abs() > 0.03 {
                        0.0
                    } else {
                        v
                    }
                })
                .collect();
            let y = Mat::from_vec(40, 300, data);
            let (eager, lazy) = (Gram::build(&y, true), Gram::build(&y, false));
            let idx = [7, 3, 39, 0, 3, 12, 25];
            for _ in 0..2 {
                let (a, b) = (eager.sub(&y, &idx), lazy.sub(&y, &idx));
                let bits = |m: &Mat| m.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&a), bits(&b), "sparse = {sparse}");
            }
        }
    }

    /// Both V_K kernels, each copy, have the bits of the plain formulas they replace (a
    /// gene-major V_K built row by row from +0 skipping zero weights; `dot` of a V_K row with
    /// the latent row from −0.0): every shape of block tail, zero weights included.
    #[test]
    fn v_k_kernels_have_the_plain_bits() {
        let mut rng = stream(9, "test/loadings");
        let bits = |v: &[f64]| v.iter().map(|t| t.to_bits()).collect::<Vec<_>>();
        for (n, g, k) in [
            (23, 300, 16),
            (5, 7, 3),
            (9, 17, 5),
            (1, 8, 4),
            (12, 33, 1),
            (3, 9, 0),
        ] {
            let data: Vec<Vec<f64>> = (0..n)
                .map(|_| (0..g).map(|_| rng.random_range(-5.0..5.0)).collect())
                .collect();
            let rows: Vec<&[f64]> = data.iter().map(|r| r.as_slice()).collect();
            let mu: Vec<f64> = (0..g).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut w = Mat::zeros(n, k);
            for a in 0..n {
                for j in 0..k {
                    if (a + j) % 9 != 0 {
                        w.set(a, j, rng.random_range(-1.0..1.0));
                    }
                }
            }
            let mut plain = Mat::zeros(g, k);
            for (a, row) in rows.iter().enumerate() {
                for gi in 0..g {
                    for j in (0..k).filter(|&j| w.get(a, j) != 0.0) {
                        plain.data[gi * k + j] += (row[gi] - mu[gi]) * w.get(a, j);
                    }
                }
            }
            let kp = k.div_ceil(COMPONENT_LANES) * COMPONENT_LANES;
            let wp = Mat::from_fn(n, kp, |a, j| if j < k { w.get(a, j) } else { 0.0 });
            let (mut x, mut y) = (Mat::zeros(k, g), Mat::zeros(k, g));
            loadings_t_into(&mut x, &rows, &mu, &wp);
            loadings_t_portable(&mut y, &rows, &mu, &wp);
            assert_eq!(bits(&x.data), bits(&plain.transpose().data), "{n} {g} {k}");
            assert_eq!(bits(&y.data), bits(&x.data));
            let v = x.transpose();
            for m in [1, 4, 6, 9] {
                let mut lat = Mat::zeros(m, k);
                lat.data
                    .iter_mut()
                    .for_each(|z| *z = rng.random_range(-3.0..3.0));
                let mut plain = Mat::zeros(m, g);
                for r in 0..m {
                    for gi in 0..g {
                        let d = crate::numeric::linalg::dot(v.row(gi), lat.row(r));
                        plain.set(r, gi, mu[gi] + d);
                    }
                }
                let (mut a, mut b) = (Mat::zeros(m, g), Mat::zeros(m, g));
                to_genes_into(&mut a, &x, &lat, &mu);
                to_genes_portable(&mut b, &x, &lat, &mu);
                assert_eq!(bits(&a.data), bits(&plain.data), "{n} {g} {k} {m}");
                assert_eq!(bits(&b.data), bits(&a.data));
            }
        }
    }

    fn toy_screen() -> Screen {
        // 6 perturbations × 4 genes of rank 2 plus a little structure.
        let values = Mat::from_vec(
            6,
            4,
            vec![
                1.0, 0.5, 0.0, -1.0, //
                2.0, 1.0, 0.1, -2.0, //
                0.0, 1.0, 1.0, 0.0, //
                0.0, 2.0, 2.1, 0.0, //
                1.0, 1.5, 1.0, -1.0, //
                -1.0, 0.0, 0.5, 1.0,
            ],
        );
        Screen {
            name: "toy".into(),
            source: "toy".into(),
            perturbations: (0..6).map(|i| format!("G{i}")).collect(),
            targets: vec![
                "G0".into(),
                "G1".into(),
                "G2".into(),
                "G3".into(),
                "X".into(),
                "Y".into(),
            ],
            genes: vec!["G0".into(), "G1".into(), "G2".into(), "G3".into()],
            values,
            labels: None,
            response: Default::default(),
        }
    }

    /// Closed-form BALD: the leverage is the posterior quadratic form (checked against a
    /// direct solve), a candidate far from the measured set (a planted outlier in prior
    /// space) is picked first, and conditioning on a pick never raises another's leverage.
    #[test]
    fn closed_form_bald_picks_the_outlier_and_conditions() {
        let s = toy_screen();
        // One prior column: the measured rows sit near 0; perturbation 5 is far out.
        let prior = Mat::from_vec(6, 1, vec![0.1, -0.1, 0.0, 0.2, 0.15, 9.0]);
        let ws = Workspace::new(&s, &prior);
        let cfg = EnsembleConfig {
            members: 4,
            ..Default::default()
        };
        let m = fit(&ws, &[0, 1, 2], &cfg, &mut stream(1, "t")).unwrap();
        let pool = [3, 4, 5];
        let lev = m.leverage(&pool).unwrap();
        let (zs, _, n) = m.design(&pool).unwrap();
        // Direct: solve (ZᵀZ + λI) w = z, then h = zᵀw + 1/n.
        let d = m.features.cols;
        let mut g = Mat::zeros(d, d);
        let (train_z, _, _) = m.design(&m.train).unwrap();
        for z in &train_z {
            for a in 0..d {
                for b in 0..d {
                    g.data[a * d + b] += z[a] * z[b];
                }
            }
        }
        for j in 0..d {
            g.data[j * d + j] += m.posterior_lambda();
        }
        let l = crate::numeric::linalg::cholesky(&g).unwrap();
        for (z, h) in zs.iter().zip(&lev) {
            let w = crate::numeric::linalg::cholesky_solve(&l, &Mat::from_vec(d, 1, z.clone()));
            let direct = crate::numeric::linalg::dot(&w.data, z) + 1.0 / n;
            assert!((direct - h).abs() < 1e-9, "{direct} vs {h}");
        }
        let picks = m.closed_form_bald(&pool, 3).unwrap().picks;
        assert_eq!(pool[picks[0].0], 5, "the outlier first: {picks:?} {lev:?}");
        let mut seen = std::collections::BTreeSet::new();
        for (i, h) in &picks {
            assert!(seen.insert(*i));
            assert!(*h <= lev[*i] + 1e-12, "conditioning cannot raise leverage");
        }
    }

    /// The greedy batch with rank-one downdates of the leverages is the greedy batch that
    /// re-evaluates every candidate's quadratic form under the updated inverse (the old
    /// O(d²)-per-candidate loop): the same picks, leverages equal to 1e-9, on a real fit.
    #[test]
    fn downdated_leverages_are_the_reevaluated_ones() {
        let mut rng = stream(4, "bald-downdate");
        let (n, g) = (60, 25);
        let values = Mat::from_vec(
            n,
            g,
            (0..n * g).map(|_| rng.random_range(-1.0..1.0)).collect(),
        );
        let s = Screen {
            name: "r".into(),
            source: "r".into(),
            perturbations: (0..n).map(|i| format!("P{i}")).collect(),
            targets: (0..n).map(|i| format!("G{}", i % 30)).collect(),
            genes: (0..g).map(|j| format!("G{j}")).collect(),
            values,
            labels: None,
            response: Default::default(),
        };
        let prior = Mat::from_vec(
            n,
            5,
            (0..n * 5).map(|_| rng.random_range(-2.0..2.0)).collect(),
        );
        let ws = Workspace::new(&s, &prior);
        let train: Vec<usize> = (0..20).collect();
        let m = fit(&ws, &train, &EnsembleConfig::default(), &mut stream(1, "f")).unwrap();
        let pool: Vec<usize> = (20..n).collect();
        let got = m.closed_form_bald(&pool, 12).unwrap();
        // Reference: re-evaluate zᵀG⁻¹z + 1/n for every candidate after every pick.
        let (zs, mut inv, nn) = m.design(&pool).unwrap();
        let mut taken = vec![false; pool.len()];
        let mut want = Vec::new();
        for _ in 0..12 {
            let h: Vec<f64> = zs.iter().map(|v| quad(&inv, v).1 + 1.0 / nn).collect();
            let mut best: Option<(usize, f64)> = None;
            for (i, &hi) in h.iter().enumerate() {
                if !taken[i] && best.is_none_or(|(_, b)| hi > b) {
                    best = Some((i, hi));
                }
            }
            let (i, hi) = best.unwrap();
            taken[i] = true;
            want.push((i, hi));
            condition_on(&mut inv, &zs[i]);
        }
        assert_eq!(
            got.picks.iter().map(|p| p.0).collect::<Vec<_>>(),
            want.iter().map(|p| p.0).collect::<Vec<_>>()
        );
        for (a, b) in got.picks.iter().zip(&want) {
            assert!(
                (a.1 - b.1).abs() < 1e-9 * b.1.abs().max(1.0),
                "{a:?} vs {b:?}"
            );
        }
        // Conditioning lowers the leverage of every later pick below its value before.
        assert!(got
            .picks
            .iter()
            .all(|(i, h)| *h <= got.leverage[*i] + 1e-12));
    }

    /// Target-aware EVR: with a target far out along one prior axis, a candidate near the
    /// target beats an outlier on the other axis (which BALD prefers), the reductions shrink
    /// as picks accumulate, and they never exceed the targets' variance before the batch.
    #[test]
    fn evr_picks_what_informs_the_target() {
        let s = toy_screen();
        // Two prior columns; measured rows 0..3 near the origin. 3: near the target (5) on
        // axis 1; 4: far out on axis 2 (the bigger leverage); 5: the target.
        let prior = Mat::from_vec(
            6,
            2,
            vec![0.1, 0.0, -0.1, 0.1, 0.0, -0.1, 4.0, 0.0, 0.0, 9.0, 5.0, 0.0],
        );
        let ws = Workspace::new(&s, &prior);
        let cfg = EnsembleConfig {
            members: 4,
            predictor: Predictor::Ensemble,
            ..Default::default()
        };
        let m = fit(&ws, &[0, 1, 2], &cfg, &mut stream(1, "t")).unwrap();
        let pool = [3, 4];
        let bald = m.closed_form_bald(&pool, 1).unwrap().picks;
        assert_eq!(pool[bald[0].0], 4, "BALD takes the outlier");
        let (picks, before) = m.expected_variance_reduction(&pool, &[5], 2).unwrap();
        assert_eq!(
            pool[picks[0].0], 3,
            "EVR takes the target's neighbour: {picks:?}"
        );
        assert!(picks[0].1 >= picks[1].1);
        assert!(picks.iter().map(|p| p.1).sum::<f64>() <= before + 1e-12);
    }

    /// Ranked lists: a gene that only a held-out list names is in the screen's gene universe,
    /// but the features (and so every prediction and acquisition) are the same as without it.
    #[test]
    fn features_ignore_genes_only_untrained_rows_read_out() {
        let a = toy_screen();
        let mut b = toy_screen();
        // Perturbation 4 targets "X"; make X a readout gene that only row 5 (not trained on)
        // reads out.
        b.genes.push("X".into());
        let mut vals = Vec::new();
        for r in 0..6 {
            vals.extend_from_slice(a.values.row(r));
            vals.push(if r == 5 { 3.0 } else { 0.0 });
        }
        b.values = Mat::from_vec(6, 5, vals);
        let prior = Mat::zeros(6, 0);
        let cfg = EnsembleConfig {
            members: 3,
            ..Default::default()
        };
        let train = [0, 1, 2, 3];
        let (wa, wb) = (Workspace::new(&a, &prior), Workspace::new(&b, &prior));
        assert!(wb.target_gene[4].is_some() && wa.target_gene[4].is_none());
        let fa = fit(&wa, &train, &cfg, &mut stream(2, "f")).unwrap();
        let fb = fit(&wb, &train, &cfg, &mut stream(2, "f")).unwrap();
        assert_eq!(fa.features, fb.features);
        assert_eq!(
            fa.closed_form_bald(&[4, 5], 2).unwrap(),
            fb.closed_form_bald(&[4, 5], 2).unwrap()
        );
    }

    /// The sparse path gives the dense path's bits.
    #[test]
    fn sparse_gram_is_the_dense_gram() {
        let mut rng = stream(9, "gram");
        for (rows, cols, zeros) in [(30, 50, 0.9), (61, 17, 0.5), (40, 300, 0.99), (9, 4, 0.0)] {
            let y = Mat::from_vec(
                rows,
                cols,
                (0..rows * cols)
                    .map(|_| {
                        let u: f64 = rng.random_range(0.0..1.0);
                        if u < zeros {
                            0.0
                        } else {
                            rng.random_range(-2.0..2.0)
                        }
                    })
                    .collect(),
            );
            let (s, d) = (sparse_gram(&y), dense_gram(&y));
            assert_eq!(
                s.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                d.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
    }

    /// Every dense Gram entry is `dot(y_i, y_j)` to the bit (group tails, rows past the end
    /// of the last group and a zero row included), from either copy of the kernel.
    #[test]
    fn dense_gram_entries_are_dots() {
        let mut rng = stream(4, "test/gram");
        for (rows, cols) in [(1, 3), (7, 5), (8, 9), (13, 33), (21, 2)] {
            let mut y = Mat::zeros(rows, cols);
            for i in 1..rows {
                for g in 0..cols {
                    y.set(i, g, rng.random_range(-3.0..3.0));
                }
            }
            let d = dense_gram(&y);
            for i in 0..rows {
                for j in 0..rows {
                    let want = crate::numeric::linalg::dot(y.row(i), y.row(j));
                    assert_eq!(
                        d.get(i, j).to_bits(),
                        want.to_bits(),
                        "{rows}x{cols} ({i},{j})"
                    );
                }
            }
            let packed: Vec<f64> = (0..cols * GRAM_LANES)
                .map(|k| {
                    let (g, l) = (k / GRAM_LANES, k % GRAM_LANES);
                    if l < rows {
                        y.get(l, g)
                    } else {
                        0.0
                    }
                })
                .collect();
            let all: Vec<&[f64]> = (0..rows).map(|i| y.row(i)).collect();
            let (mut a, mut b) = (vec![0.0; rows * GRAM_LANES], vec![0.0; rows * GRAM_LANES]);
            crate::numeric::linalg::dots_interleaved(&packed, &all, &mut a);
            crate::numeric::linalg::dots_interleaved_portable(&packed, &all, &mut b);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b));
        }
    }

    #[test]
    fn pca_reconstructs_centred_training_data() {
        let s = toy_screen();
        let prior = Mat::zeros(6, 0);
        let ws = Workspace::new(&s, &prior);
        let train = [0, 1, 2, 3, 4];
        let (t, vt, mu) = pca(&ws, &train, 10).unwrap();
        let v = vt.transpose();
        // full-rank PCA: T Vᵀ + μ reproduces Y exactly
        for (a, &i) in train.iter().enumerate() {
            for g in 0..4 {
                let r: f64 = (0..v.cols).map(|j| t.get(a, j) * v.get(g, j)).sum::<f64>() + mu[g];
                assert!((r - s.values.get(i, g)).abs() < 1e-10);
            }
        }
        // loadings are orthonormal
        let q = v.tmatmul(&v);
        for i in 0..v.cols {
            for j in 0..v.cols {
                assert!((q.get(i, j) - if i == j { 1.0 } else { 0.0 }).abs() < 1e-10);
            }
        }
    }

    #[test]
    fn gram_matches_direct_product() {
        let s = toy_screen();
        let g = gram_matrix(&s.values);
        let direct = s.values.matmul(&s.values.transpose());
        for (a, b) in g.data.iter().zip(&direct.data) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn single_member_without_bootstrap_noise_is_deterministic() {
        let s = toy_screen();
        let prior = Mat::zeros(6, 0);
        let ws = Workspace::new(&s, &prior);
        let cfg = EnsembleConfig {
            members: 5,
            ..Default::default()
        };
        let a = fit(&ws, &[0, 1, 2, 3], &cfg, &mut stream(1, "t")).unwrap();
        let b = fit(&ws, &[0, 1, 2, 3], &cfg, &mut stream(1, "t")).unwrap();
        assert_eq!(a.predict(&[4, 5]).data, b.predict(&[4, 5]).data);
        let u = a.uncertainty(&[4, 5]);
        assert!(u
            .iter()
            .all(|u| u.variance >= 0.0 && u.mutual_information >= 0.0));
    }

    /// The AVX2 copy of the training mean's step has the portable bits.
    #[test]
    fn add_quotients_twins_agree() {
        let mut rng = stream(5, "test/quotients");
        let row: Vec<f64> = (0..1003).map(|_| rng.random_range(-9.0..9.0)).collect();
        let start: Vec<f64> = (0..1003).map(|_| rng.random_range(-1.0..1.0)).collect();
        let (mut a, mut b) = (start.clone(), start);
        add_quotients(&mut a, &row, 7.0);
        add_quotients_portable(&mut b, &row, 7.0);
        assert_eq!(
            a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn training_mean_is_the_mean_training_response() {
        let s = toy_screen();
        assert_eq!(training_mean(&s, &[0, 1]), [1.5, 0.75, 0.05, -1.5]);
    }

    /// A constant prediction scores with the bits of the same row repeated per perturbation.
    #[test]
    fn constant_scores_are_repeated_row_scores() {
        let s = toy_screen();
        let prior = Mat::zeros(6, 0);
        let ws = Workspace::new(&s, &prior);
        let mu = training_mean(&s, &[0, 1, 2]);
        let perts = [1, 3, 4, 5, 2];
        let rows = Mat::from_fn(perts.len(), mu.len(), |_, g| mu[g]);
        let (a, b) = (ws.score_constant(&perts, &mu), ws.score(&perts, &rows));
        let bits = |s: crate::predict::metrics::Scores| {
            [s.pearson_delta, s.top20_pearson, s.top20_mse].map(f64::to_bits)
        };
        assert_eq!(bits(a), bits(b));
    }
}
