//! Predictive-performance metrics on held-out perturbations.
//!
//! Response screens: per test perturbation, the Pearson correlation of predicted and measured
//! response over all readout genes ("Pearson delta": responses are already changes against
//! control), and Pearson and MSE over its top-20 DE genes (largest |measured response|, ties
//! by column order); each is averaged over test perturbations. A correlation with a constant
//! vector is scored 0.
//!
//! Labelled screens: AUROC and AUPRC (average precision, as scikit-learn computes it) of
//! |predicted response| for the DE label over the test perturbations' labelled pairs, and
//! direction accuracy on DE pairs with a known direction (a prediction of exactly 0 counts ½).

use crate::numeric::linalg::Mat;
use crate::screen::LabelledPair;
use serde::Serialize;

pub const TOP_DE: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scores {
    pub pearson_delta: f64,
    pub top20_pearson: f64,
    pub top20_mse: f64,
    /// Labelled screens only (NaN otherwise).
    pub auroc_de: f64,
    pub auprc_de: f64,
    pub direction_accuracy: f64,
}

/// Spearman's rank correlation (Pearson of mid-ranks; NaN when either side is constant or
/// there are fewer than 3 pairs). Matches `scipy.stats.spearmanr` on ties.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let constant = |v: &[f64]| v.iter().all(|x| *x == v[0]);
    if a.len() < 3 || a.len() != b.len() || constant(a) || constant(b) {
        return f64::NAN;
    }
    pearson(&crate::stats::midranks(a), &crate::stats::midranks(b))
}

/// Pearson correlation of two vectors of equal length (0 when either is constant or shorter
/// than 2).
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "pearson of vectors of different lengths");
    if a.len() < 2 {
        return 0.0;
    }
    let [r] = pearsons([a], [centred(a)], [b], [centred(b)]);
    r
}

/// A vector's mean and centred sum of squares, as [`pearson`] computes them (the mean is the
/// sum in order from −0.0 over n; the squares are added in order from +0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Centred {
    pub mean: f64,
    pub ss: f64,
}

pub fn centred(v: &[f64]) -> Centred {
    let [c] = centred_rows([v]);
    c
}

/// [`centred`] of `R` vectors of one length at once: `R` independent chains of additions that
/// the processor overlaps (the bits of computing each alone).
fn centred_rows<const R: usize>(v: [&[f64]; R]) -> [Centred; R] {
    let n = v.first().map_or(0, |v| v.len());
    let v: [&[f64]; R] = std::array::from_fn(|r| &v[r][..n]);
    let mut sum = [-0.0f64; R];
    for i in 0..n {
        for r in 0..R {
            sum[r] += v[r][i];
        }
    }
    let mean: [f64; R] = std::array::from_fn(|r| sum[r] / n as f64);
    let mut ss = [0.0f64; R];
    for i in 0..n {
        for r in 0..R {
            let d = v[r][i] - mean[r];
            ss[r] += d * d;
        }
    }
    std::array::from_fn(|r| Centred {
        mean: mean[r],
        ss: ss[r],
    })
}

/// [`pearson`] of `R` pairs of equal-length vectors, given their [`centred`] summaries: the
/// `R` cross-product chains run side by side, each with the bits of [`pearson`] alone.
fn pearsons<const R: usize>(
    a: [&[f64]; R],
    ca: [Centred; R],
    b: [&[f64]; R],
    cb: [Centred; R],
) -> [f64; R] {
    let n = a.first().map_or(0, |v| v.len());
    let a: [&[f64]; R] = std::array::from_fn(|r| &a[r][..n]);
    let b: [&[f64]; R] = std::array::from_fn(|r| &b[r][..n]);
    let mut sab = [0.0f64; R];
    for i in 0..n {
        for r in 0..R {
            sab[r] += (a[r][i] - ca[r].mean) * (b[r][i] - cb[r].mean);
        }
    }
    std::array::from_fn(|r| {
        if n < 2 || ca[r].ss <= 0.0 || cb[r].ss <= 0.0 {
            0.0
        } else {
            sab[r] / (ca[r].ss * cb[r].ss).sqrt()
        }
    })
}

/// Rows summarised or scored side by side.
const LANES: usize = 4;

/// [`centred`] of every row, four at a time (the same bits).
fn centred_all(rows: &[&[f64]]) -> Vec<Centred> {
    let mut out = Vec::with_capacity(rows.len());
    let mut groups = rows.chunks_exact(LANES);
    for g in &mut groups {
        out.extend(centred_rows::<LANES>(g.try_into().unwrap()));
    }
    out.extend(groups.remainder().iter().map(|r| centred(r)));
    out
}

/// `pearson(a[r], b[r])` for every r from the rows' [`centred`] summaries, four at a time
/// (the same bits).
fn pearson_rows(a: &[&[f64]], ca: &[Centred], b: &[&[f64]], cb: &[Centred]) -> Vec<f64> {
    let mut out = Vec::with_capacity(a.len());
    let mut r = 0;
    while r + LANES <= a.len() {
        out.extend(pearsons::<LANES>(
            std::array::from_fn(|l| a[r + l]),
            std::array::from_fn(|l| ca[r + l]),
            std::array::from_fn(|l| b[r + l]),
            std::array::from_fn(|l| cb[r + l]),
        ));
        r += LANES;
    }
    for r in r..a.len() {
        out.extend(pearsons([a[r]], [ca[r]], [b[r]], [cb[r]]));
    }
    out
}

/// Indices of the `k` largest |values| (ties broken by index).
pub fn top_k_abs(v: &[f64], k: usize) -> Vec<usize> {
    let order = |i: &usize, j: &usize| v[*j].abs().total_cmp(&v[*i].abs()).then(i.cmp(j));
    let mut idx: Vec<usize> = (0..v.len()).collect();
    // A selection (linear) then a sort of the k chosen: the same k indices in the same order
    // as sorting everything, since the order is total.
    if k < idx.len() {
        if k > 0 {
            idx.select_nth_unstable_by(k - 1, order);
        }
        idx.truncate(k);
    }
    idx.sort_by(order);
    idx
}

/// What scoring needs of one truth row, which depends on the truth alone: a loop that scores
/// the same rows every round computes it once.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthRow {
    /// The top-DE genes ([`top_k_abs`]).
    pub top: Vec<usize>,
    /// Its summary for [`pearson`].
    pub centred: Centred,
}

impl TruthRow {
    pub fn of(row: &[f64]) -> TruthRow {
        TruthRow {
            top: top_k_abs(row, TOP_DE),
            centred: centred(row),
        }
    }
}

/// Predictions to score: one row per scored perturbation, or one row for all of them (a
/// constant predictor such as the training mean, summarised once).
#[derive(Debug, Clone, Copy)]
pub enum Predictions<'a> {
    Rows(&'a Mat),
    Same(&'a [f64]),
}

impl<'a> Predictions<'a> {
    fn row(&self, r: usize) -> &'a [f64] {
        match *self {
            Predictions::Rows(m) => m.row(r),
            Predictions::Same(v) => v,
        }
    }
}

/// Scores of predictions (`pred`: one row per entry of `test`) against the truth.
pub fn score(truth: &Mat, test: &[usize], pred: &Mat, labels: Option<&[LabelledPair]>) -> Scores {
    score_with(truth, test, Predictions::Rows(pred), labels, &|p: usize| {
        std::borrow::Cow::Owned(TruthRow::of(truth.row(p)))
    })
}

/// [`score`] with each truth row's [`TruthRow`] from `truth_row` (a cache).
pub fn score_with<'t>(
    truth: &Mat,
    test: &[usize],
    pred: Predictions,
    labels: Option<&[LabelledPair]>,
    truth_row: &dyn Fn(usize) -> std::borrow::Cow<'t, TruthRow>,
) -> Scores {
    let summaries: Vec<std::borrow::Cow<'t, TruthRow>> =
        test.iter().map(|&p| truth_row(p)).collect();
    let pred_rows: Vec<&[f64]> = (0..test.len()).map(|r| pred.row(r)).collect();
    let pred_centred = match pred {
        Predictions::Rows(_) => centred_all(&pred_rows),
        Predictions::Same(v) => vec![centred(v); test.len()],
    };
    let pearson_delta = pearson_rows(
        &pred_rows,
        &pred_centred,
        &test.iter().map(|&p| truth.row(p)).collect::<Vec<_>>(),
        &summaries.iter().map(|s| s.centred).collect::<Vec<_>>(),
    );
    let mut pd = 0.0;
    let mut tp = 0.0;
    let mut tm = 0.0;
    for (r, &p) in test.iter().enumerate() {
        let t = truth.row(p);
        let y = pred.row(r);
        pd += pearson_delta[r];
        let top = &summaries[r].top;
        let tt: Vec<f64> = top.iter().map(|&g| t[g]).collect();
        let yy: Vec<f64> = top.iter().map(|&g| y[g]).collect();
        tp += pearson(&yy, &tt);
        tm += tt
            .iter()
            .zip(&yy)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            / tt.len().max(1) as f64;
    }
    let n = test.len().max(1) as f64;
    let (mut auroc_de, mut auprc_de, mut direction_accuracy) = (f64::NAN, f64::NAN, f64::NAN);
    if let Some(labels) = labels {
        // Row of each scored perturbation, by perturbation index (a table, not a hash: every
        // labelled pair is looked up).
        let mut row_of = vec![usize::MAX; truth.rows];
        for (r, &p) in test.iter().enumerate() {
            row_of[p] = r;
        }
        let mut scored = Vec::new();
        let (mut right, mut total) = (0.0, 0usize);
        for lp in labels {
            if let Some(&r) = row_of.get(lp.pert as usize).filter(|r| **r != usize::MAX) {
                let y = pred.row(r)[lp.gene as usize];
                scored.push((y.abs(), lp.de));
                if let (true, Some(up)) = (lp.de, lp.up) {
                    total += 1;
                    right += if y == 0.0 {
                        0.5
                    } else if (y > 0.0) == up {
                        1.0
                    } else {
                        0.0
                    };
                }
            }
        }
        auroc_de = auroc(&scored);
        auprc_de = average_precision(&scored);
        direction_accuracy = if total > 0 {
            right / total as f64
        } else {
            f64::NAN
        };
    }
    Scores {
        pearson_delta: pd / n,
        top20_pearson: tp / n,
        top20_mse: tm / n,
        auroc_de,
        auprc_de,
        direction_accuracy,
    }
}

/// Area under the ROC curve (Mann–Whitney with mid-ranks for ties). NaN without both classes.
pub fn auroc(scored: &[(f64, bool)]) -> f64 {
    let pos = scored.iter().filter(|s| s.1).count();
    let neg = scored.len() - pos;
    if pos == 0 || neg == 0 {
        return f64::NAN;
    }
    let ranks = crate::stats::midranks(&scored.iter().map(|s| s.0).collect::<Vec<_>>());
    let rank_sum: f64 = scored
        .iter()
        .zip(&ranks)
        .filter(|(s, _)| s.1)
        .map(|(_, r)| r)
        .sum();
    (rank_sum - pos as f64 * (pos as f64 + 1.0) / 2.0) / (pos as f64 * neg as f64)
}

/// Average precision: Σ (R_n − R_{n−1}) P_n over distinct score thresholds, descending.
pub fn average_precision(scored: &[(f64, bool)]) -> f64 {
    let pos = scored.iter().filter(|s| s.1).count();
    if pos == 0 {
        return f64::NAN;
    }
    let mut idx: Vec<usize> = (0..scored.len()).collect();
    idx.sort_by(|&a, &b| scored[b].0.total_cmp(&scored[a].0));
    let (mut tp, mut fp, mut ap, mut last_recall) = (0.0, 0.0, 0.0, 0.0);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scored[idx[j + 1]].0 == scored[idx[i]].0 {
            j += 1;
        }
        for &k in &idx[i..=j] {
            if scored[k].1 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
        }
        let recall = tp / pos as f64;
        ap += (recall - last_recall) * tp / (tp + fp);
        last_recall = recall;
        i = j + 1;
    }
    ap
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The selection-based top-k equals sorting everything, ties and all.
    #[test]
    fn top_k_matches_a_full_sort() {
        let full = |v: &[f64], k: usize| {
            let mut idx: Vec<usize> = (0..v.len()).collect();
            idx.sort_by(|&i, &j| v[j].abs().total_cmp(&v[i].abs()).then(i.cmp(&j)));
            idx.truncate(k);
            idx
        };
        let v: Vec<f64> = (0..200)
            .map(|i| ((i * 37 % 11) as f64 - 5.0) * if i % 3 == 0 { -1.0 } else { 1.0 })
            .collect();
        for k in [0, 1, 5, 20, 199, 200, 300] {
            assert_eq!(top_k_abs(&v, k), full(&v, k), "k = {k}");
        }
    }

    #[test]
    fn auroc_and_ap_match_sklearn() {
        // sklearn.metrics.roc_auc_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.75
        // sklearn.metrics.average_precision_score(same) = 0.8333333333333333
        let s = [(0.1, false), (0.4, false), (0.35, true), (0.8, true)];
        assert!((auroc(&s) - 0.75).abs() < 1e-15);
        assert!((average_precision(&s) - 0.833_333_333_333_333_3).abs() < 1e-15);
        // ties: roc_auc_score([0,1,0,1],[0.5,0.5,0.2,0.9]) = 0.875
        let t = [(0.5, false), (0.5, true), (0.2, false), (0.9, true)];
        assert!((auroc(&t) - 0.875).abs() < 1e-15);
        assert!(auroc(&[(0.1, true)]).is_nan());
    }

    #[test]
    fn spearman_matches_scipy() {
        // scipy 1.17.1: spearmanr([1, 2, 2, 4, 5], [5, 3, 3, 1, 2]).statistic
        // = -0.8947368421052632 (= -17/19 with mid-ranks).
        let r = spearman(&[1.0, 2.0, 2.0, 4.0, 5.0], &[5.0, 3.0, 3.0, 1.0, 2.0]);
        assert!((r - (-0.894_736_842_105_263_2)).abs() < 1e-12, "{r}");
        assert!(spearman(&[1.0, 2.0], &[2.0, 1.0]).is_nan());
        assert!(spearman(&[1.0, 1.0, 1.0], &[2.0, 1.0, 3.0]).is_nan());
    }

    #[test]
    fn pearson_and_topk() {
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-15);
        assert_eq!(pearson(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
        assert_eq!(top_k_abs(&[0.1, -3.0, 2.0, 2.0], 3), vec![1, 2, 3]);
    }

    /// Summaries and correlations computed four rows at a time have the bits of the one-pass
    /// formula they replace (constant rows, a zero row and the tails of the groups included).
    #[test]
    fn grouped_pearsons_are_the_one_pass_bits() {
        fn one_pass(a: &[f64], b: &[f64]) -> f64 {
            let n = a.len() as f64;
            let ma = a.iter().sum::<f64>() / n;
            let mb = b.iter().sum::<f64>() / n;
            let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
            for (x, y) in a.iter().zip(b) {
                let (dx, dy) = (x - ma, y - mb);
                sab += dx * dy;
                saa += dx * dx;
                sbb += dy * dy;
            }
            if saa <= 0.0 || sbb <= 0.0 {
                0.0
            } else {
                sab / (saa * sbb).sqrt()
            }
        }
        let val = |i: usize, j: usize| ((i * 31 + j * 17) % 23) as f64 / 7.0 - 1.3;
        for m in 0..10 {
            let a: Vec<Vec<f64>> = (0..m)
                .map(|i| {
                    (0..37)
                        .map(|j| if i == 2 { 0.5 } else { val(i, j) })
                        .collect()
                })
                .collect();
            let b: Vec<Vec<f64>> = (0..m)
                .map(|i| {
                    (0..37)
                        .map(|j| if i == 5 { 0.0 } else { val(j, i + 3) })
                        .collect()
                })
                .collect();
            let a: Vec<&[f64]> = a.iter().map(|v| v.as_slice()).collect();
            let b: Vec<&[f64]> = b.iter().map(|v| v.as_slice()).collect();
            let got = pearson_rows(&a, &centred_all(&a), &b, &centred_all(&b));
            for r in 0..m {
                assert_eq!(got[r].to_bits(), one_pass(a[r], b[r]).to_bits(), "{m} {r}");
                assert_eq!(pearson(a[r], b[r]).to_bits(), got[r].to_bits());
            }
        }
    }

    #[test]
    fn perfect_prediction_scores_one() {
        let truth = Mat::from_fn(3, 30, |i, j| ((i + 1) * (j + 1)) as f64 % 7.0 - 3.0);
        let pred = Mat::from_fn(2, 30, |r, j| truth.get([0, 2][r], j));
        let s = score(&truth, &[0, 2], &pred, None);
        assert!((s.pearson_delta - 1.0).abs() < 1e-12 && s.top20_mse == 0.0);
        assert!(s.auroc_de.is_nan());
    }
}
