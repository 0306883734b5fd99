//! `pertaudit inspect`: what a loader made of a screen file, with warnings for layouts that
//! are easy to misread (a "sign" flag that is really a significance flag, lists that never
//! hold the knocked-down target, all-positive data read as signed changes, twin targets).

use crate::data::screen_file::{self, Format, LoadOptions};
use crate::data::textio::{DataError, Table};
use crate::screen::{Response, Screen};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The `in_top_up`-style flag of a ranked list: how often it is set and where.
#[derive(Debug, Clone, Serialize)]
pub struct FlagStats {
    pub fraction_flagged: f64,
    pub mean_rank_flagged: f64,
    pub mean_rank_unflagged: f64,
}

/// What a screen file holds, as loaded. The keys are stable (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub file: String,
    pub format: String,
    pub response: Response,
    /// The honest name of the whole-transcriptome Pearson metric for these responses.
    pub metric_label: String,
    pub perturbations: usize,
    pub readouts: usize,
    pub value_min: f64,
    pub value_max: f64,
    pub fraction_positive: f64,
    pub fraction_negative: f64,
    pub fraction_zero: f64,
    /// Perturbations whose target gene is a readout.
    pub targets_measured: usize,
    /// Of those, how many have a non-zero response at their own target, and how many a
    /// negative one (a knock-down should be down).
    pub targets_in_own_response: usize,
    pub targets_down_in_own_response: usize,
    /// Targets with more than one perturbation (guides or contexts): held out together.
    pub duplicate_targets: usize,
    pub controls: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<FlagStats>,
    pub warnings: Vec<String>,
}

/// The `in_top_up` flag of a ranked list file.
fn flag_stats(path: &Path) -> Result<FlagStats, DataError> {
    let mut t = Table::open(path)?;
    let (cr, cu) = (t.column("rank")?, t.column("in_top_up")?);
    let (mut nf, mut sf, mut nu, mut su) = (0usize, 0f64, 0usize, 0f64);
    while let Some((line, rec)) = t.next_record()? {
        let rank: f64 = t.get(line, &rec, cr)?.trim().parse().unwrap_or(f64::NAN);
        match t.get(line, &rec, cu)?.trim() {
            "1" | "TRUE" | "True" | "true" => {
                nf += 1;
                sf += rank;
            }
            _ => {
                nu += 1;
                su += rank;
            }
        }
    }
    let n = (nf + nu).max(1) as f64;
    Ok(FlagStats {
        fraction_flagged: nf as f64 / n,
        mean_rank_flagged: if nf > 0 { sf / nf as f64 } else { f64::NAN },
        mean_rank_unflagged: if nu > 0 { su / nu as f64 } else { f64::NAN },
    })
}

/// Load a screen and describe it.
pub fn inspect(path: &Path, opts: &LoadOptions) -> Result<Inspection, DataError> {
    let format = if screen_file::is_h5ad(path) {
        Format::H5ad
    } else {
        screen_file::format_of(&Table::open(path)?.header)
    };
    let s = screen_file::load(path, opts)?;
    let flag = if format == Format::RankedDegs {
        Some(flag_stats(path)?)
    } else {
        None
    };
    Ok(describe(&s, path, format, flag))
}

/// The figures and warnings of a loaded screen.
pub fn describe(s: &Screen, path: &Path, format: Format, flag: Option<FlagStats>) -> Inspection {
    let v = &s.values.data;
    let n = v.len().max(1) as f64;
    let frac = |f: &dyn Fn(f64) -> bool| v.iter().filter(|x| f(**x)).count() as f64 / n;
    let idx = s.gene_index();
    let (mut measured, mut present, mut down) = (0, 0, 0);
    for (i, t) in s.targets.iter().enumerate() {
        if let Some(&g) = idx.get(t.as_str()) {
            measured += 1;
            let x = s.values.get(i, g);
            present += (x != 0.0) as usize;
            down += (x < 0.0) as usize;
        }
    }
    let mut per_target: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &s.targets {
        *per_target.entry(t.as_str()).or_default() += 1;
    }
    let duplicate_targets = per_target.values().filter(|&&c| c > 1).count();
    let controls = match format {
        Format::RankedDegs => "none needed: each list is already a contrast with control",
        Format::LabelledPairs => "none needed: labels are calls against control",
        Format::H5ad => "pseudo-bulk as stored (control subtracted when a control is present)",
        Format::Dense => {
            "control row(s) subtracted (per context when present), or --control-vector"
        }
    }
    .to_string();
    let fraction_negative = frac(&|x| x < 0.0);
    let mut warnings = Vec::new();
    if let Some(f) = &flag {
        if f.fraction_flagged < 0.25 && f.mean_rank_flagged < 0.5 * f.mean_rank_unflagged {
            warnings.push(format!(
                "in_top_up is set for only {:.1}% of entries, bunched at the top of each list (mean rank {:.0} vs {:.0}): it marks significance, not direction; the lists are read as up-signatures",
                100.0 * f.fraction_flagged, f.mean_rank_flagged, f.mean_rank_unflagged
            ));
        }
    }
    if measured > 0 && present == 0 {
        warnings.push(format!(
            "no knocked-down target appears in its own response (0 of {measured} whose target is a readout): a knock-down should be strongly down, so the file likely lists up-regulated genes only"
        ));
    } else if s.response == Response::Signed
        && measured >= 5
        && (down as f64) < 0.5 * measured as f64
    {
        warnings.push(format!(
            "the knocked-down target is down in its own response for only {down} of {measured} perturbations: check the sign (a change against control should be negative there)"
        ));
    }
    if s.response == Response::Signed && fraction_negative == 0.0 {
        warnings.push(
            "no negative value in a screen read as signed changes against control (\"delta\"): all-positive data are not a delta".into(),
        );
    }
    if duplicate_targets > 0 {
        warnings.push(format!(
            "{duplicate_targets} target(s) have more than one perturbation (guides or contexts): splits hold out whole targets"
        ));
    }
    Inspection {
        file: path.display().to_string(),
        format: format.as_str().to_string(),
        response: s.response,
        metric_label: s.response.pearson_label().to_string(),
        perturbations: s.n_perts(),
        readouts: s.n_genes(),
        value_min: v.iter().copied().fold(f64::INFINITY, f64::min),
        value_max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        fraction_positive: frac(&|x| x > 0.0),
        fraction_negative,
        fraction_zero: frac(&|x| x == 0.0),
        targets_measured: measured,
        targets_in_own_response: present,
        targets_down_in_own_response: down,
        duplicate_targets,
        controls,
        flag,
        warnings,
    }
}
