//! Inference when observations are not independent: items nested in contexts nested in
//! trajectories (a trajectory is one seed of one pathway: its rounds share batches).
//!
//! - [`Clustering`] holds the nesting and draws two-stage cluster-bootstrap resamples: whole
//!   trajectories with replacement, then, inside each drawn trajectory, its contexts with
//!   replacement (every item of a drawn context comes along).
//! - [`design_effect`]: the cluster-robust variance of a mean over its naive variance, the
//!   factor by which dependence inflates the variance (n / design effect is the effective
//!   sample size). The robust variance is the intercept-only OLS sandwich with statsmodels'
//!   small-sample factor G/(G−1) (`cov_type="cluster"`), the naive one s²/n.
//! - [`cluster_means`]: one mean per trajectory, the independent units a clustered test sees.

use rand::RngExt;
use std::collections::BTreeMap;

/// Units grouped into clusters, and inside each cluster into sub-clusters.
#[derive(Debug, Clone, PartialEq)]
pub struct Clustering {
    /// cluster → sub-cluster → unit indices (ascending, in first-seen order of labels sorted).
    groups: Vec<Vec<Vec<usize>>>,
    units: usize,
}

impl Clustering {
    /// From one (cluster, sub-cluster) label pair per unit; clusters and sub-clusters are
    /// ordered by label so the result does not depend on the units' order beyond indices.
    pub fn from_labels<S: AsRef<str>>(labels: &[(S, S)]) -> Clustering {
        let mut m: BTreeMap<&str, BTreeMap<&str, Vec<usize>>> = BTreeMap::new();
        for (i, (c, s)) in labels.iter().enumerate() {
            m.entry(c.as_ref())
                .or_default()
                .entry(s.as_ref())
                .or_default()
                .push(i);
        }
        Clustering {
            groups: m
                .into_values()
                .map(|subs| subs.into_values().collect())
                .collect(),
            units: labels.len(),
        }
    }

    /// Every unit its own cluster (the independent case).
    pub fn singletons(n: usize) -> Clustering {
        Clustering {
            groups: (0..n).map(|i| vec![vec![i]]).collect(),
            units: n,
        }
    }

    /// Number of clusters (independent units).
    pub fn clusters(&self) -> usize {
        self.groups.len()
    }

    pub fn units(&self) -> usize {
        self.units
    }

    /// Unit indices of each cluster.
    pub fn members(&self) -> Vec<Vec<usize>> {
        self.groups.iter().map(|g| g.concat()).collect()
    }

    /// One two-stage resample: unit indices (with repetition).
    pub fn resample<R: rand::Rng>(&self, rng: &mut R) -> Vec<usize> {
        let g = self.groups.len();
        let mut out = Vec::with_capacity(self.units);
        if g == 0 {
            return out;
        }
        for _ in 0..g {
            let subs = &self.groups[rng.random_range(0..g)];
            if subs.len() == 1 {
                // nothing to choose (and no draw, so singletons resample as plain items do)
                out.extend_from_slice(&subs[0]);
                continue;
            }
            for _ in 0..subs.len() {
                out.extend_from_slice(&subs[rng.random_range(0..subs.len())]);
            }
        }
        out
    }
}

/// The mean of each cluster's values (clusters in `Clustering` order).
pub fn cluster_means(values: &[f64], c: &Clustering) -> Vec<f64> {
    c.members()
        .iter()
        .map(|m| m.iter().map(|&i| values[i]).sum::<f64>() / m.len() as f64)
        .collect()
}

/// Variances of the mean of `values`: (naive s²/n, cluster-robust), the robust one being
/// statsmodels' `OLS(y, 1).fit(cov_type="cluster")` variance of the intercept.
pub fn mean_variances(values: &[f64], c: &Clustering) -> (f64, f64) {
    let n = values.len() as f64;
    let g = c.clusters() as f64;
    if values.len() < 2 || c.clusters() < 2 {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    let naive = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) / n;
    let meat: f64 = c
        .members()
        .iter()
        .map(|m| m.iter().map(|&i| values[i] - mean).sum::<f64>().powi(2))
        .sum();
    let robust = g / (g - 1.0) * meat / (n * n);
    (naive, robust)
}

/// Design effect of the mean: cluster-robust variance over naive variance (NaN when either
/// is not estimable, e.g. every value equal).
pub fn design_effect(values: &[f64], c: &Clustering) -> f64 {
    let (naive, robust) = mean_variances(values, c);
    if naive > 0.0 {
        robust / naive
    } else {
        f64::NAN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numeric::seed::stream;

    #[test]
    fn independent_units_have_design_effect_near_one_and_copies_inflate_it() {
        let v: Vec<f64> = (0..40).map(|i| ((i * 7919) % 13) as f64).collect();
        let single = design_effect(&v, &Clustering::singletons(v.len()));
        // singletons: robust = n/(n−1) · Σ(x−m)²/n² = s²/n exactly
        assert!((single - 1.0).abs() < 1e-12, "{single}");
        // every value four times, the copies one cluster: the variance is understated 4×
        let rep: Vec<f64> = v.iter().flat_map(|&x| [x; 4]).collect();
        let labels: Vec<(String, String)> = (0..rep.len())
            .map(|i| (format!("c{}", i / 4), format!("s{i}")))
            .collect();
        let d = design_effect(&rep, &Clustering::from_labels(&labels));
        assert!((d - 4.0 * 159.0 / 156.0).abs() < 1e-12, "{d}");
    }

    #[test]
    fn resamples_keep_clusters_whole_and_sized() {
        let labels: Vec<(String, String)> = (0..12)
            .map(|i| (format!("t{}", i / 6), format!("c{}", i / 2)))
            .collect();
        let c = Clustering::from_labels(&labels);
        assert_eq!((c.clusters(), c.units()), (2, 12));
        let mut rng = stream(1, "t");
        for _ in 0..50 {
            let r = c.resample(&mut rng);
            assert_eq!(r.len(), 12);
            // contexts come whole: every drawn index's partner in its context is drawn next
            for w in r.chunks(2) {
                assert_eq!(w[0] / 2, w[1] / 2);
            }
        }
    }
}
