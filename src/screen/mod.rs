//! The screen: perturbations × readout genes, the one data model every loader produces.
//!
//! A screen holds, for each perturbation, its target gene and a response vector over the
//! readout genes (a change relative to control). Screens built from labelled pairs also carry
//! the labels, so that metrics can be scored on the labelled pairs alone. The loaders live in
//! `data::screen_file`; this module is the model only (no I/O).

use crate::numeric::linalg::Mat;
use std::collections::HashMap;
use std::path::PathBuf;

/// One labelled (perturbation, gene) pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelledPair {
    pub pert: u32,
    pub gene: u32,
    pub de: bool,
    /// Direction for DE pairs when known: `Some(true)` = up.
    pub up: Option<bool>,
}

/// What a screen's responses are, which decides what its metrics may be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// A signed change against control (dense matrices, `.h5ad` pseudo-bulk).
    #[default]
    Signed,
    /// A ranked up-regulation signature: listed genes positive by rank, every other gene 0
    /// (sigrecon's top-1000 lists). 0 does not mean "down"; there is no down.
    UpSignature,
    /// Labelled pairs: +1 DE-up, −1 DE-down, 0 not DE (PerturbQA).
    Labels,
}

impl Response {
    /// The honest name of the whole-transcriptome Pearson metric (`pearson_delta` in files).
    pub fn pearson_label(self) -> &'static str {
        match self {
            Response::Signed => "Pearson delta",
            Response::UpSignature => "up-signature Pearson",
            Response::Labels => "DE-label Pearson",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Screen {
    pub name: String,
    pub source: PathBuf,
    /// Unique perturbation labels.
    pub perturbations: Vec<String>,
    /// Target gene symbol of each perturbation (first gene for combinations).
    pub targets: Vec<String>,
    /// Readout genes (columns).
    pub genes: Vec<String>,
    /// Responses, perturbations × genes.
    pub values: Mat,
    /// Present for screens of labelled pairs.
    pub labels: Option<Vec<LabelledPair>>,
    /// What the responses are.
    pub response: Response,
}

impl Screen {
    pub fn n_perts(&self) -> usize {
        self.perturbations.len()
    }
    pub fn n_genes(&self) -> usize {
        self.genes.len()
    }
    pub fn row(&self, i: usize) -> &[f64] {
        self.values.row(i)
    }
    /// Index of each readout gene by symbol.
    pub fn gene_index(&self) -> HashMap<&str, usize> {
        self.genes
            .iter()
            .enumerate()
            .map(|(i, g)| (g.as_str(), i))
            .collect()
    }
}

/// Target gene of a perturbation label: Replogle `1_AAAS_P1P2_ENSG…` → `AAAS`; `A+B` → `A`;
/// otherwise the label itself.
pub fn target_of(label: &str) -> String {
    let first = label.split('+').next().unwrap_or(label);
    let parts: Vec<&str> = first.split('_').collect();
    if parts.len() >= 3 && parts[0].chars().all(|c| c.is_ascii_digit()) {
        return parts[1].to_string();
    }
    first.to_string()
}

/// Is this label a control (non-targeting) perturbation?
pub fn is_control(label: &str, explicit: Option<&str>) -> bool {
    if let Some(c) = explicit {
        return label == c;
    }
    let l = label.to_ascii_lowercase();
    l == "control"
        || l == "ctrl"
        || l == "nt"
        || l.contains("non-targeting")
        || l.contains("non_targeting")
}
