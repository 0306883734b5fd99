//! The perturbation-response predictor and what scores it: prior embeddings (STRING / GO
//! spectral), the ridge ensemble with its epistemic uncertainty, and the metrics.

pub mod ensemble;
pub mod metrics;
pub mod prior;
