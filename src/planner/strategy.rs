//! Acquisition strategies: which perturbations to measure next. All sit behind [`Strategy`],
//! which the LLM-guided planner implements too.
//!
//! - `random`: a uniform sample of the pool.
//! - `prior`: curated closeness of the target to the pathway (membership, STRING weight to
//!   the pathway's genes, GO overlap; see `prior.rs`), ties in seeded random order.
//! - `bald`: the largest ensemble mutual information (BALD for a Gaussian ensemble).
//! - `coreset`: greedy k-centre (Sener & Savarese) on the model's standardised perturbation
//!   features, starting from the measured set.
//! - `iterpert`: IterPert as published (Huang et al. 2024): the kernel is the mean of the
//!   max-normalised prior kernels (STRING, GO, and a cross-cell-line Perturb-seq kernel from
//!   another screen when `--cross-screen` gives one) and the model's embedding kernel (cosine of
//!   the ensemble's latent predictions); all are cosine kernels with largest entry exactly 1, so
//!   max-normalising leaves them as they are; the batch is plain greedy k-centre (max-distance) with
//!   the measured set included in the distance.
//! - `iterpert-unc`: the same kernels (cosine-normalised, no cross-screen scaling), each
//!   distance weighted by ensemble uncertainty (`d_min(i) · σ²(i)/max σ²`): uncertain and diverse
//!   (this tool's `iterpert` before it was made faithful).
//! - `evr`: target-aware expected variance reduction: the batch that most lowers the
//!   closed-form posterior variance summed over the pathway's unmeasured perturbations (their
//!   features only, which a designer knows before measuring anything; never their responses).
//! - `random-pathway`: uniform among the pool's pathway members and their STRING neighbours,
//!   topped up at random when that neighbourhood is smaller than the batch.

use crate::data::pathway::GeneSet;
use crate::numeric::linalg::Mat;
use crate::planner::spec::StrategyKind;
use crate::predict::ensemble::{FittedEnsemble, Uncertainty};
use crate::predict::metrics::Scores;
use crate::predict::prior::{Kernel, Priors};
use crate::screen::Screen;
use rand::rngs::ChaCha8Rng;
use rand::RngExt;
use std::collections::BTreeMap;
use thiserror::Error;

/// Everything a strategy may look at when choosing a batch.
pub struct AcquisitionContext<'a> {
    pub screen: &'a Screen,
    pub pathway: &'a GeneSet,
    pub priors: &'a Priors,
    pub model: &'a FittedEnsemble,
    /// Measured perturbations so far.
    pub train: &'a [usize],
    /// Candidates (ascending indices).
    pub pool: &'a [usize],
    /// Uncertainty of each pool candidate (aligned with `pool`). Computed on first read
    /// (every member predicts every candidate; random, prior, coreset and IterPert never read
    /// it).
    pub uncertainty: Lazy<'a, Vec<Uncertainty>>,
    pub batch: usize,
    pub round: usize,
    pub seed: u64,
    /// Scores of the current model on the measured knock-downs, out of bag (what an
    /// experimenter can know). Never the held-out test set: nothing a strategy reads may
    /// depend on it. Computed on first read (only the LLM planner reads it).
    pub measured: Measured<'a>,
}

/// A value computed on first use and kept (see [`AcquisitionContext::uncertainty`] and
/// [`AcquisitionContext::measured`]). It reads as the value itself (`Deref`).
pub struct Lazy<'a, T> {
    value: std::sync::OnceLock<T>,
    compute: &'a (dyn Fn() -> T + Sync),
}

impl<'a, T> Lazy<'a, T> {
    pub fn new(compute: &'a (dyn Fn() -> T + Sync)) -> Self {
        Lazy {
            value: std::sync::OnceLock::new(),
            compute,
        }
    }

    pub fn get(&self) -> &T {
        self.value.get_or_init(|| (self.compute)())
    }
}

impl<T> std::ops::Deref for Lazy<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.get()
    }
}

/// The out-of-bag scores on the measured set: every out-of-bag row predicted over all readout
/// genes, which only the LLM planner reads.
pub type Measured<'a> = Lazy<'a, Scores>;

/// One chosen perturbation with its acquisition score and any details worth keeping.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pick {
    pub pert: usize,
    pub score: f64,
    pub details: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Selection {
    pub picks: Vec<Pick>,
    /// Notes on how the selection was made (e.g. a recorded fallback).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Other batches the strategy could as well have chosen from the same state (the LLM
    /// planner's extra samples): the loop scores each, for the spread of outcomes, and never
    /// acquires them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<Vec<usize>>,
}

#[derive(Debug, Error)]
pub enum StrategyError {
    #[error("strategy {strategy}: {msg}")]
    Failed { strategy: String, msg: String },
}

pub trait Strategy: Send {
    fn name(&self) -> &str;
    fn select(
        &mut self,
        ctx: &AcquisitionContext,
        rng: &mut ChaCha8Rng,
    ) -> Result<Selection, StrategyError>;
}

/// A built-in strategy (names are parsed once, into [`StrategyKind`]); `None` for the LLM
/// arms, which need the planner's client.
pub fn builtin(kind: StrategyKind) -> Option<Box<dyn Strategy>> {
    Some(match kind {
        StrategyKind::Random => Box::new(Random),
        StrategyKind::Prior => Box::new(Prior),
        StrategyKind::Bald => Box::new(Bald),
        StrategyKind::Coreset => Box::new(Coreset),
        StrategyKind::Iterpert => Box::new(IterPert),
        StrategyKind::IterpertUnc => Box::new(IterPertUnc),
        StrategyKind::RandomPathway => Box::new(RandomPathway),
        StrategyKind::Evr => Box::new(Evr),
        StrategyKind::Llm(..) => return None,
    })
}

fn pick(pert: usize, score: f64, details: &[(&str, f64)]) -> Pick {
    Pick {
        pert,
        score,
        details: details.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        rationale: None,
    }
}

/// The pool sorted by descending score, ties by a seeded random key, truncated to `batch`.
fn top_by(ctx: &AcquisitionContext, scores: &[f64], rng: &mut ChaCha8Rng) -> Vec<usize> {
    let keys: Vec<u64> = (0..ctx.pool.len()).map(|_| rng.random()).collect();
    let mut order: Vec<usize> = (0..ctx.pool.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(keys[a].cmp(&keys[b])));
    order.truncate(ctx.batch);
    order
}

pub struct Random;
impl Strategy for Random {
    fn name(&self) -> &str {
        "random"
    }
    fn select(
        &mut self,
        ctx: &AcquisitionContext,
        rng: &mut ChaCha8Rng,
    ) -> Result<Selection, StrategyError> {
        let chosen = rand::seq::index::sample(rng, ctx.pool.len(), ctx.batch.min(ctx.pool.len()));
        Ok(Selection {
            picks: chosen.iter().map(|i| pick(ctx.pool[i], 0.0, &[])).collect(),
            notes: vec![],
            alternatives: Vec::new(),
        })
    }
}

pub struct Prior;
impl Strategy for Prior {
    fn name(&self) -> &str {
        "prior"
    }
    fn select(
        &mut self,
        ctx: &AcquisitionContext,
        rng: &mut ChaCha8Rng,
    ) -> Result<Selection, StrategyError> {
        let s: Vec<f64> = ctx.pool.iter().map(|&p| ctx.priors.closeness[p]).collect();
        let picks = top_by(ctx, &s, rng)
            .into_iter()
            .map(|i| pick(ctx.pool[i], s[i], &[("closeness", s[i])]))
            .collect();
        Ok(Selection {
            picks,
            notes: vec![],
            alternatives: Vec::new(),
        })
    }
}

/// BALD in closed form: the Bayesian ridge's mutual information `Σ_k ½ ln(1 + h(x))` with
/// leverage `h`, the batch chosen greedily with the posterior updated after every pick (no
/// sampling noise: the 10-member ensemble's variances carry ≈ 47 % relative error). Each pick
/// records its leverage and the ensemble's mutual information; the notes give the rank
/// stability: Spearman of the two rankings over the pool.
pub struct Bald;
impl Strategy for Bald {
    fn name(&self) -> &str {
        "bald"
    }
    fn select(
        &mut self,
        ctx: &AcquisitionContext,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Selection, StrategyError> {
        let k = ctx.model.k() as f64;
        let failed = |e: crate::numeric::linalg::LinalgError| StrategyError::Failed {
            strategy: "bald".into(),
            msg: format!("closed-form posterior: {e}"),
        };
        let bald = ctx
            .model
            .closed_form_bald(ctx.pool, ctx.batch)
            .map_err(failed)?;
        let chosen = bald.picks;
        let mi: Vec<f64> = ctx
            .uncertainty
            .iter()
            .map(|u| u.mutual_information)
            .collect();
        // Rank stability: leverage over the whole pool against the sampled ensemble's mutual
        // information.
        let stability = crate::predict::metrics::spearman(&bald.leverage, &mi);
        let picks = chosen
            .into_iter()
            .map(|(i, h)| {
                pick(
                    ctx.pool[i],
                    0.5 * k * h.ln_1p(),
                    &[
                        ("leverage", h),
                        ("mutual_information", mi[i]),
                        ("variance", ctx.uncertainty[i].variance),
                        ("rank_stability", stability),
                    ],
                )
            })
            .collect();
        Ok(Selection {
            picks,
            notes: vec![format!(
                "closed-form BALD; Spearman of leverage vs the {}-member ensemble's mutual information over the pool: {stability:.3}",
                ctx.model.members.len()
            )],
            alternatives: Vec::new(),
        })
    }
}

/// Target-aware expected variance reduction (see the module docs and
/// [`FittedEnsemble::expected_variance_reduction`]). The targets are the screen's
/// perturbations of pathway members not yet measured: the held-out test set among them, but
/// only as feature rows, which depend on prior knowledge and measured responses alone.
pub struct Evr;
impl Strategy for Evr {
    fn name(&self) -> &str {
        "evr"
    }
    fn select(
        &mut self,
        ctx: &AcquisitionContext,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Selection, StrategyError> {
        let measured: std::collections::HashSet<usize> = ctx.train.iter().copied().collect();
        let targets: Vec<usize> = (0..ctx.screen.n_perts())
            .filter(|p| {
                !measured.contains(p) && ctx.pathway.genes.contains(&ctx.screen.targets[*p])
            })
            .collect();
        let (chosen, before) = ctx
            .model
            .expected_variance_reduction(ctx.pool, &targets, ctx.batch)
            .map_err(|e| StrategyError::Failed {
                strategy: "evr".into(),
                msg: format!("closed-form posterior: {e}"),
            })?;
        let picks = chosen
            .into_iter()
            .map(|(i, r)| pick(ctx.pool[i], r, &[("variance_reduction", r)]))
            .collect();
        Ok(Selection {
            picks,
            notes: vec![format!(
                "target-aware EVR over {} unmeasured pathway perturbations; their summed posterior variance (in units of the noise) before this batch: {before:.4}",
                targets.len()
            )],
            alternatives: Vec::new(),
        })
    }
}

/// Squared distances between items, symmetric to the bit (`d²(a, b)` and `d²(b, a)` are the
/// same number), computed from one item to many at once so that an implementation can run
/// independent chains side by side.
trait Distances {
    /// `out[t] = d²(a, bs[t])`.
    fn one_to_many(&self, a: usize, bs: &[usize], out: &mut [f64]);
}

/// A pairwise squared-distance function as [`Distances`].
#[cfg(test)]
struct Pairwise<F>(F);

#[cfg(test)]
impl<F: Fn(usize, usize) -> f64> Distances for Pairwise<F> {
    fn one_to_many(&self, a: usize, bs: &[usize], out: &mut [f64]) {
        for (o, &b) in out.iter_mut().zip(bs) {
            *o = (self.0)(a, b);
        }
    }
}

/// Greedy farthest-first selection. `dist` gives squared distances between items; `start` are
/// already-covered items, `weight` multiplies each candidate's distance (1 for plain
/// k-centre). Returns chosen positions in `cand` with their scores.
fn greedy_k_centre(
    cand: &[usize],
    start: &[usize],
    batch: usize,
    dist: &impl Distances,
    weight: impl Fn(usize) -> f64,
) -> Vec<(usize, f64, f64)> {
    let mut d = vec![0.0; start.len().max(cand.len())];
    let mut mind: Vec<f64> = cand
        .iter()
        .map(|&c| {
            dist.one_to_many(c, start, &mut d[..start.len()]);
            d[..start.len()]
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    let mut taken = vec![false; cand.len()];
    let mut out = Vec::with_capacity(batch);
    for _ in 0..batch.min(cand.len()) {
        let mut best: Option<(usize, f64)> = None;
        for (i, &d) in mind.iter().enumerate() {
            if taken[i] {
                continue;
            }
            let d = if d.is_finite() {
                d.max(0.0).sqrt()
            } else {
                f64::MAX.sqrt()
            };
            let s = d * weight(i);
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((i, s));
            }
        }
        let Some((i, s)) = best else { break };
        taken[i] = true;
        out.push((i, s, mind[i].max(0.0).sqrt()));
        dist.one_to_many(cand[i], cand, &mut d[..cand.len()]);
        for (j, m) in mind.iter_mut().enumerate() {
            if !taken[j] {
                *m = m.min(d[j]);
            }
        }
    }
    out
}

pub struct Coreset;
impl Strategy for Coreset {
    fn name(&self) -> &str {
        "coreset"
    }
    fn select(
        &mut self,
        ctx: &AcquisitionContext,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Selection, StrategyError> {
        let f = &ctx.model.features;
        let (n, d) = (f.rows, f.cols);
        let mut mean = vec![0.0; d];
        let mut sd = vec![0.0; d];
        for i in 0..n {
            for j in 0..d {
                mean[j] += f.get(i, j) / n as f64;
            }
        }
        for i in 0..n {
            for j in 0..d {
                sd[j] += (f.get(i, j) - mean[j]).powi(2) / n as f64;
            }
        }
        let z = Mat::from_fn(n, d, |i, j| {
            if sd[j] > 1e-24 {
                (f.get(i, j) - mean[j]) / sd[j].sqrt()
            } else {
                0.0
            }
        });
        let chosen = greedy_k_centre(ctx.pool, ctx.train, ctx.batch, &Euclidean(&z), |_| 1.0);
        let picks = chosen
            .into_iter()
            .map(|(i, s, _)| pick(ctx.pool[i], s, &[("distance", s)]))
            .collect();
        Ok(Selection {
            picks,
            notes: vec![],
            alternatives: Vec::new(),
        })
    }
}

/// Squared Euclidean distances between rows of a matrix, each the sum of squared differences
/// in column order from −0.0; four at a time (independent chains, the same bits). Symmetric to
/// the bit: `(x − y)²` is `(y − x)²`.
struct Euclidean<'a>(&'a Mat);

impl Distances for Euclidean<'_> {
    fn one_to_many(&self, a: usize, bs: &[usize], out: &mut [f64]) {
        let x = self.0.row(a);
        let mut t = 0;
        while t + 4 <= bs.len() {
            let ys: [&[f64]; 4] = std::array::from_fn(|l| &self.0.row(bs[t + l])[..x.len()]);
            let mut s = [-0.0f64; 4];
            for (j, xj) in x.iter().enumerate() {
                for l in 0..4 {
                    s[l] += (xj - ys[l][j]).powi(2);
                }
            }
            out[t..t + 4].copy_from_slice(&s);
            t += 4;
        }
        for t in t..bs.len() {
            out[t] = x
                .iter()
                .zip(self.0.row(bs[t]))
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f64>();
        }
    }
}

/// The model's kernel: cosine similarity of the ensemble's latent predictions, for the
/// measured perturbations and the candidates (the only rows greedy k-centre reads; the others
/// are left zero).
fn model_kernel(ctx: &AcquisitionContext) -> Kernel {
    let mut rows: Vec<usize> = ctx.train.iter().chain(ctx.pool).copied().collect();
    rows.sort_unstable();
    rows.dedup();
    let lat = ctx.model.latent_mean(&rows);
    let mut e = Mat::zeros(ctx.screen.n_perts(), lat.cols);
    for (r, &p) in rows.iter().enumerate() {
        e.row_mut(p).copy_from_slice(lat.row(r));
    }
    Kernel::rows(e)
}

/// The mean of every prior kernel and the model's, with the kernel distance it induces. (Each
/// is cosine-normalised with largest entry exactly 1, so IterPert's max-normalisation leaves it
/// as it is.)
struct KernelMean<'a> {
    kernels: Vec<&'a Kernel>,
}

impl<'a> KernelMean<'a> {
    fn new(ctx: &'a AcquisitionContext, model: &'a Kernel) -> Self {
        let mut kernels: Vec<&Kernel> = ctx.priors.kernels.iter().map(|(_, k)| k).collect();
        kernels.push(model);
        KernelMean { kernels }
    }

    fn k(&self, a: usize, b: usize) -> f64 {
        self.kernels.iter().map(|k| k.get(a, b)).sum::<f64>() / self.kernels.len() as f64
    }

    #[cfg(test)]
    fn dist2(&self, a: usize, b: usize) -> f64 {
        self.k(a, a) + self.k(b, b) - 2.0 * self.k(a, b)
    }
}

impl Distances for KernelMean<'_> {
    /// `k(a, a) + k(b, b) − 2 k(a, b)` for every b, each mean added over the kernels in order
    /// from −0.0 as [`KernelMean::k`] adds them (the same bits), each kernel's row at once.
    fn one_to_many(&self, a: usize, bs: &[usize], out: &mut [f64]) {
        let mut sum = vec![-0.0f64; bs.len()];
        for k in &self.kernels {
            k.get_many(a, bs, out);
            for (s, v) in sum.iter_mut().zip(out.iter()) {
                *s += v;
            }
        }
        let m = self.kernels.len() as f64;
        let kaa = self.k(a, a);
        for ((o, s), &b) in out.iter_mut().zip(&sum).zip(bs) {
            *o = kaa + self.k(b, b) - 2.0 * (s / m);
        }
    }
}

/// IterPert as published (Huang et al. 2024; Genentech/iterative-perturb-seq): the mean of
/// the max-normalised kernels (the model's latent kernel and every prior kernel, the
/// cross-cell-line Perturb-seq kernel among them when given), then plain greedy k-centre
/// (max-distance) with the measured set included in the distance.
pub struct IterPert;
impl Strategy for IterPert {
    fn name(&self) -> &str {
        "iterpert"
    }
    fn select(
        &mut self,
        ctx: &AcquisitionContext,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Selection, StrategyError> {
        let model_kernel = model_kernel(ctx);
        let kernels = KernelMean::new(ctx, &model_kernel);
        let chosen = greedy_k_centre(ctx.pool, ctx.train, ctx.batch, &kernels, |_| 1.0);
        let picks = chosen
            .into_iter()
            .map(|(i, s, d)| pick(ctx.pool[i], s, &[("kernel_distance", d)]))
            .collect();
        Ok(Selection {
            picks,
            notes: vec![],
            alternatives: Vec::new(),
        })
    }
}

/// Random among the pool's pathway members and their STRING neighbours (what a designer who
/// knows the pathway would draw from), topped up at random from the rest of the pool when that
/// neighbourhood is smaller than the batch. The baseline that separates "knows the pathway"
/// from "reasons well".
pub struct RandomPathway;
impl Strategy for RandomPathway {
    fn name(&self) -> &str {
        "random-pathway"
    }
    fn select(
        &mut self,
        ctx: &AcquisitionContext,
        rng: &mut ChaCha8Rng,
    ) -> Result<Selection, StrategyError> {
        let (near, far): (Vec<usize>, Vec<usize>) =
            (0..ctx.pool.len()).partition(|&i| ctx.priors.neighbourhood[ctx.pool[i]]);
        let take_near = ctx.batch.min(near.len());
        let mut picks: Vec<Pick> = rand::seq::index::sample(rng, near.len(), take_near)
            .iter()
            .map(|i| pick(ctx.pool[near[i]], 1.0, &[("in_neighbourhood", 1.0)]))
            .collect();
        let rest = (ctx.batch - take_near).min(far.len());
        picks.extend(
            rand::seq::index::sample(rng, far.len(), rest)
                .iter()
                .map(|i| pick(ctx.pool[far[i]], 0.0, &[("in_neighbourhood", 0.0)])),
        );
        let notes = if rest > 0 {
            vec![format!(
                "the pathway neighbourhood held {} pool candidates: {rest} drawn from the rest",
                near.len()
            )]
        } else {
            vec![]
        };
        Ok(Selection {
            picks,
            notes,
            alternatives: Vec::new(),
        })
    }
}

/// The uncertainty-weighted IterPert variant: greedy k-centre on the mean cosine kernel, each
/// candidate's distance weighted by its relative ensemble variance.
pub struct IterPertUnc;
impl Strategy for IterPertUnc {
    fn name(&self) -> &str {
        "iterpert-unc"
    }
    fn select(
        &mut self,
        ctx: &AcquisitionContext,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Selection, StrategyError> {
        let model_kernel = model_kernel(ctx);
        let kernels = KernelMean::new(ctx, &model_kernel);
        let umax = ctx
            .uncertainty
            .iter()
            .map(|u| u.variance)
            .fold(0.0, f64::max);
        let w = |i: usize| {
            if umax > 0.0 {
                ctx.uncertainty[i].variance / umax
            } else {
                1.0
            }
        };
        let chosen = greedy_k_centre(ctx.pool, ctx.train, ctx.batch, &kernels, w);
        let picks = chosen
            .into_iter()
            .map(|(i, s, d)| {
                pick(
                    ctx.pool[i],
                    s,
                    &[
                        ("kernel_distance", d),
                        ("variance", ctx.uncertainty[i].variance),
                    ],
                )
            })
            .collect();
        Ok(Selection {
            picks,
            notes: vec![],
            alternatives: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distances from one item to many have the bits of the pairwise formulas, in both
    /// argument orders (greedy k-centre relies on the symmetry), zero rows and repeats included.
    #[test]
    fn batched_distances_are_the_pairwise_bits() {
        use crate::predict::prior::{cosine_kernel, Kernel};
        let n = 11;
        let e = |seed: usize, d: usize| {
            Mat::from_fn(n, d, |i, j| {
                if i == 4 {
                    0.0
                } else {
                    (((i * 7 + j * 3 + seed) % 13) as f64 - 6.0) / 3.7
                }
            })
        };
        let rows = Kernel::rows(e(1, 5));
        let dense = Kernel::Dense(cosine_kernel(&e(2, 9)));
        let model = Kernel::rows(e(3, 16));
        let kernels = KernelMean {
            kernels: vec![&rows, &dense, &model],
        };
        let z = e(4, 7);
        let euclid = |a: usize, b: usize| {
            z.row(a)
                .iter()
                .zip(z.row(b))
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f64>()
        };
        let bs: Vec<usize> = (0..n).chain([3, 3, 4]).collect();
        let mut out = vec![0.0; bs.len()];
        for a in 0..n {
            kernels.one_to_many(a, &bs, &mut out);
            for (t, &b) in bs.iter().enumerate() {
                assert_eq!(out[t].to_bits(), kernels.dist2(a, b).to_bits(), "{a} {b}");
                assert_eq!(out[t].to_bits(), kernels.dist2(b, a).to_bits(), "{b} {a}");
            }
            Euclidean(&z).one_to_many(a, &bs, &mut out);
            for (t, &b) in bs.iter().enumerate() {
                assert_eq!(out[t].to_bits(), euclid(a, b).to_bits());
                assert_eq!(out[t].to_bits(), euclid(b, a).to_bits());
            }
        }
    }

    #[test]
    fn k_centre_picks_the_far_point_first() {
        let pts: [f64; 4] = [0.0, 1.0, 10.0, 5.0];
        let d2 = |a: usize, b: usize| (pts[a] - pts[b]).powi(2);
        let out = greedy_k_centre(&[1, 2, 3], &[0], 2, &Pairwise(d2), |_| 1.0);
        assert_eq!(out.iter().map(|o| o.0).collect::<Vec<_>>(), vec![1, 2]); // 10, then 5
        assert!((out[0].1 - 10.0).abs() < 1e-12 && (out[1].1 - 5.0).abs() < 1e-12);
    }
}
