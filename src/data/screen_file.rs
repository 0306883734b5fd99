//! Screen loaders: every file format becomes a [`Screen`] (the model is in `crate::screen`).
//!
//! Loaders, by format (picked by [`load`] from the extension and header):
//! - **ranked DEG lists** (`perturbation rank gene in_top_up`, e.g. sigrecon's Replogle top-1000
//!   lists) are **up-signatures** ([`Response::UpSignature`]): each list is the top of a ranking
//!   by log2FC × −log10(padj), most up-regulated first; `in_top_up` marks the significant
//!   subset and is *not* a sign (down-regulated genes, the knocked-down target included, are
//!   absent). Response = `1 − (rank − 1) / N` with `N` the list's own length (1,000 for
//!   sigrecon), 0 when the gene is not listed. An earlier version read `in_top_up = 0` as
//!   "down" and so invented negative responses; `pertaudit inspect` shows what a file holds.
//! - **labelled pairs** (`pert,gene,label[,split]` with a sibling `*-dir.csv`, PerturbQA):
//!   response +1 for DE-up, −1 for DE-down, 0 for not-DE or unlabelled; labels kept.
//! - **dense matrices** (TSV/CSV, one row per perturbation): control row(s) (`control`,
//!   `non-targeting`, `ctrl`, or `--control NAME`) are subtracted, per context when
//!   `dataset`/`cell_type` columns are present; or a given control vector file.
//! - **AnnData `.h5ad`** (see `h5ad.rs`).

use crate::data::textio::{DataError, Interner, Table};
use crate::numeric::linalg::Mat;
pub use crate::screen::{is_control, target_of, LabelledPair, Response, Screen};
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// How a screen was given on the command line.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Name of the control perturbation in a dense matrix (default: auto-detect).
    pub control: Option<String>,
    /// A control vector file (`gene<TAB>value`) to subtract instead of a control row.
    pub control_vector: Option<PathBuf>,
}

/// Check invariants shared by all loaders: unique names, matching shapes, finite values.
pub fn validate(s: &Screen) -> Result<(), DataError> {
    let p = &s.source;
    if s.perturbations.is_empty() {
        return Err(DataError::invalid(p, "screen has no perturbations"));
    }
    if s.genes.is_empty() {
        return Err(DataError::invalid(p, "screen has no readout genes"));
    }
    if s.values.rows != s.perturbations.len() || s.values.cols != s.genes.len() {
        return Err(DataError::invalid(
            p,
            "response matrix shape does not match names",
        ));
    }
    let mut seen = HashMap::new();
    for (i, name) in s.perturbations.iter().enumerate() {
        if let Some(j) = seen.insert(name.as_str(), i) {
            return Err(DataError::invalid(
                p,
                format!("perturbation {name:?} appears twice (rows {j} and {i})"),
            ));
        }
    }
    let mut genes = HashMap::new();
    for (i, g) in s.genes.iter().enumerate() {
        if let Some(j) = genes.insert(g.as_str(), i) {
            return Err(DataError::invalid(
                p,
                format!(
                    "readout gene {g:?} appears twice (columns {} and {})",
                    j + 1,
                    i + 1
                ),
            ));
        }
    }
    if let Some(k) = s.values.data.iter().position(|v| !v.is_finite()) {
        let (i, j) = (k / s.values.cols, k % s.values.cols);
        return Err(DataError::invalid(
            p,
            format!(
                "non-finite response for perturbation {:?}, gene {:?}",
                s.perturbations[i], s.genes[j]
            ),
        ));
    }
    Ok(())
}

/// Load a screen, choosing the format from the file's extension and header.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Screen, DataError> {
    let screen = if is_h5ad(path) {
        crate::data::h5ad::load(path, opts)?
    } else {
        let t = Table::open(path)?;
        match format_of(&t.header) {
            Format::RankedDegs => load_ranked_degs(t)?,
            Format::LabelledPairs => load_pairs(t)?,
            _ => load_dense(t, opts)?,
        }
    };
    validate(&screen)?;
    Ok(screen)
}

/// A screen file's format, as [`load`] decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    RankedDegs,
    LabelledPairs,
    Dense,
    H5ad,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::RankedDegs => "ranked_degs",
            Format::LabelledPairs => "labelled_pairs",
            Format::Dense => "dense",
            Format::H5ad => "h5ad",
        }
    }
}

/// Whether a path names an AnnData file.
pub fn is_h5ad(path: &Path) -> bool {
    path.to_string_lossy()
        .to_ascii_lowercase()
        .ends_with(".h5ad")
}

/// The format of a delimited screen file from its header.
pub fn format_of(header: &[String]) -> Format {
    let has = |c: &str| header.iter().any(|x| x == c);
    if has("rank") && has("in_top_up") {
        Format::RankedDegs
    } else if has("pert") && has("gene") && has("label") {
        Format::LabelledPairs
    } else {
        Format::Dense
    }
}

fn stem(path: &Path) -> String {
    let name = path
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("screen");
    let name = name.strip_suffix(".gz").unwrap_or(name);
    name.rsplit_once('.')
        .map(|(a, _)| a)
        .unwrap_or(name)
        .to_string()
}

/// One line of a ranked DEG list: (perturbation id, gene id, rank, in_top_up).
type RankedEntry = (u32, u32, u32, bool);

/// The first line (in file order) that lists a gene its perturbation listed before, as an
/// error naming both lines. One bit per (perturbation, gene) cell, checked once the entries
/// are read: a hash set of 10⁵–10⁶ pairs was a visible part of loading.
fn repeated_gene(
    path: &Path,
    entries: &[RankedEntry],
    lines: &[usize],
    perts: &Interner,
    genes: &Interner,
) -> Option<DataError> {
    let n_genes = genes.names.len();
    let mut seen = vec![0u64; (perts.names.len() * n_genes).div_ceil(64)];
    for (k, &(p, g, _, _)) in entries.iter().enumerate() {
        let cell = p as usize * n_genes + g as usize;
        let (word, bit) = (cell / 64, 1u64 << (cell % 64));
        if seen[word] & bit != 0 {
            let first = entries[..k]
                .iter()
                .position(|&(q, h, _, _)| (q, h) == (p, g))
                .expect("a set bit was set by an earlier entry");
            let gname = &genes.names[g as usize];
            return Some(DataError::field(
                path,
                lines[k],
                "gene",
                format!(
                    "gene {gname:?} listed twice for this perturbation (first at line {})",
                    lines[first]
                ),
            ));
        }
        seen[word] |= bit;
    }
    None
}

fn load_ranked_degs(mut t: Table) -> Result<Screen, DataError> {
    let (cp, cr, cg, cu) = (
        t.column("perturbation")?,
        t.column("rank")?,
        t.column("gene")?,
        t.column("in_top_up")?,
    );
    let mut perts = Interner::default();
    let mut genes = Interner::default();
    // (perturbation, gene, rank, in_top_up) and the line, in file order.
    let mut entries: Vec<RankedEntry> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    let mut rec = Vec::new();
    loop {
        let parsed = (|| -> Result<Option<(usize, RankedEntry)>, DataError> {
            let Some(line) = t.next_record_into(&mut rec)? else {
                return Ok(None);
            };
            let p = perts.id(t.get(line, &rec, cp)?);
            let gname = t.get(line, &rec, cg)?;
            if gname.is_empty() {
                return Err(DataError::field(&t.path, line, "gene", "empty gene name"));
            }
            let g = genes.id(gname);
            let rank_s = t.get(line, &rec, cr)?;
            let rank: u32 = rank_s
                .trim()
                .parse()
                .ok()
                .filter(|&r| r >= 1)
                .ok_or_else(|| {
                    DataError::field(
                        &t.path,
                        line,
                        "rank",
                        format!("not a positive integer: {rank_s:?}"),
                    )
                })?;
            let up = match t.get(line, &rec, cu)?.trim() {
                "1" | "TRUE" | "True" | "true" => true,
                "0" | "FALSE" | "False" | "false" => false,
                other => {
                    return Err(DataError::field(
                        &t.path,
                        line,
                        "in_top_up",
                        format!("expected 0 or 1, got {other:?}"),
                    ))
                }
            };
            Ok(Some((line, (p, g, rank, up))))
        })();
        match parsed {
            Ok(Some((line, e))) => {
                entries.push(e);
                lines.push(line);
            }
            Ok(None) => break,
            // A gene listed twice on an earlier line is the first error.
            Err(err) => {
                return Err(repeated_gene(&t.path, &entries, &lines, &perts, &genes).unwrap_or(err))
            }
        }
    }
    if let Some(err) = repeated_gene(&t.path, &entries, &lines, &perts, &genes) {
        return Err(err);
    }
    // An up-signature: every listed gene is at the up end of its list's ranking (`in_top_up`
    // marks the significant subset, it is not a sign). Score 1 − (rank − 1)/N with N the
    // list's own length, so a row's values depend on that row alone; unlisted genes are 0.
    let mut n_of = vec![1u32; perts.names.len()];
    for &(p, _, rank, _) in &entries {
        n_of[p as usize] = n_of[p as usize].max(rank);
    }
    let mut values = Mat::zeros(perts.names.len(), genes.names.len());
    for &(p, g, rank, _) in &entries {
        let mag = 1.0 - (rank as f64 - 1.0) / n_of[p as usize] as f64;
        values.set(p as usize, g as usize, mag);
    }
    Ok(Screen {
        name: stem(&t.path),
        source: t.path.clone(),
        targets: perts.names.iter().map(|p| target_of(p)).collect(),
        perturbations: perts.names,
        genes: genes.names,
        values,
        labels: None,
        response: Response::UpSignature,
    })
}

/// The direction file beside a PerturbQA DE file: `k562-de.csv` → `k562-dir.csv`.
pub fn direction_sibling(de_path: &Path) -> Option<PathBuf> {
    let name = de_path.file_name()?.to_str()?;
    let dir_name = name.replacen("-de.", "-dir.", 1);
    (dir_name != name).then(|| de_path.with_file_name(dir_name))
}

fn parse_label(t: &Table, line: usize, rec: &[String], col: usize) -> Result<bool, DataError> {
    match t.get(line, rec, col)?.trim() {
        "1" | "1.0" => Ok(true),
        "0" | "0.0" => Ok(false),
        other => Err(DataError::field(
            &t.path,
            line,
            "label",
            format!("expected 0 or 1, got {other:?}"),
        )),
    }
}

fn load_pairs(mut t: Table) -> Result<Screen, DataError> {
    let (cp, cg, cl) = (t.column("pert")?, t.column("gene")?, t.column("label")?);
    let mut perts = Interner::default();
    let mut genes = Interner::default();
    let mut pairs: Vec<LabelledPair> = Vec::new();
    let mut at: FxHashMap<(u32, u32), usize> = FxHashMap::default();
    let mut rec = Vec::new();
    while let Some(line) = t.next_record_into(&mut rec)? {
        let p = perts.id(t.get(line, &rec, cp)?);
        let g = genes.id(t.get(line, &rec, cg)?);
        let de = parse_label(&t, line, &rec, cl)?;
        if at.insert((p, g), pairs.len()).is_some() {
            return Err(DataError::field(
                &t.path,
                line,
                "gene",
                "duplicate (pert, gene) pair",
            ));
        }
        pairs.push(LabelledPair {
            pert: p,
            gene: g,
            de,
            up: None,
        });
    }
    if let Some(dir_path) = direction_sibling(&t.path).filter(|p| p.exists()) {
        let mut d = Table::open(&dir_path)?;
        let (dp, dg, dl) = (d.column("pert")?, d.column("gene")?, d.column("label")?);
        let mut rec = Vec::new();
        while let Some(line) = d.next_record_into(&mut rec)? {
            let (pn, gn) = (d.get(line, &rec, dp)?, d.get(line, &rec, dg)?);
            let up = parse_label(&d, line, &rec, dl)?;
            let key = (perts.get(pn), genes.get(gn));
            let Some(&k) = (match key {
                (Some(p), Some(g)) => at.get(&(p, g)),
                _ => None,
            }) else {
                return Err(DataError::field(
                    &d.path,
                    line,
                    "pert",
                    format!("pair ({pn}, {gn}) is not in the DE file"),
                ));
            };
            if !pairs[k].de {
                return Err(DataError::field(
                    &d.path,
                    line,
                    "label",
                    format!("pair ({pn}, {gn}) has a direction but is not DE"),
                ));
            }
            pairs[k].up = Some(up);
        }
    }
    let mut values = Mat::zeros(perts.names.len(), genes.names.len());
    for pr in &pairs {
        let v = match (pr.de, pr.up) {
            (true, Some(true)) => 1.0,
            (true, Some(false)) => -1.0,
            _ => 0.0,
        };
        values.set(pr.pert as usize, pr.gene as usize, v);
    }
    let name = stem(&t.path);
    Ok(Screen {
        name: name.strip_suffix("-de").unwrap_or(&name).to_string(),
        source: t.path.clone(),
        targets: perts.names.iter().map(|p| target_of(p)).collect(),
        perturbations: perts.names,
        genes: genes.names,
        values,
        labels: Some(pairs),
        response: Response::Labels,
    })
}

const ID_COLUMNS: [&str; 5] = ["perturbation", "pert", "condition", "target", "guide"];
const CONTEXT_COLUMNS: [&str; 3] = ["dataset", "cell_type", "cell_line"];
const META_COLUMNS: [&str; 4] = ["n_cells", "ncells", "n_obs", "split"];

/// Per-context grouping of rows into a control and perturbed rows, then subtraction.
/// `rows` are `(context, label, values, source_line)`. With `assume_delta`, a context without
/// a control keeps its values as they are (they are already changes against control).
pub(crate) fn subtract_controls(
    path: &Path,
    genes: Vec<String>,
    rows: Vec<(String, String, Vec<f64>, usize)>,
    opts: &LoadOptions,
    assume_delta: bool,
) -> Result<Screen, DataError> {
    let n_genes = genes.len();
    let control_vec = match &opts.control_vector {
        Some(cv) => Some(read_control_vector(cv, &genes)?),
        None => None,
    };
    let mut controls: BTreeMap<String, (Vec<f64>, usize)> = BTreeMap::new();
    for (ctx, label, vals, _) in &rows {
        if is_control(label, opts.control.as_deref()) {
            let e = controls
                .entry(ctx.clone())
                .or_insert_with(|| (vec![0.0; n_genes], 0));
            e.0.iter_mut().zip(vals).for_each(|(a, b)| *a += b);
            e.1 += 1;
        }
    }
    let contexts: BTreeMap<&str, ()> = rows.iter().map(|r| (r.0.as_str(), ())).collect();
    let multi_context = contexts.len() > 1;
    let mut label_counts: HashMap<&str, usize> = HashMap::new();
    for (_, label, _, _) in &rows {
        *label_counts.entry(label.as_str()).or_default() += 1;
    }
    let mut perturbations = Vec::new();
    let mut targets = Vec::new();
    let mut data = Vec::new();
    for (ctx, label, vals, line) in &rows {
        if is_control(label, opts.control.as_deref()) {
            continue;
        }
        let ctrl: Vec<f64> = if let Some(cv) = &control_vec {
            cv.clone()
        } else if let Some((sum, n)) = controls.get(ctx) {
            sum.iter().map(|s| s / *n as f64).collect()
        } else if assume_delta {
            vec![0.0; n_genes]
        } else {
            let what = opts
                .control
                .clone()
                .unwrap_or_else(|| "control / non-targeting".into());
            return Err(DataError::field(
                path,
                *line,
                "perturbation",
                format!("no control row ({what}) for context {ctx:?}; pass --control NAME or --control-vector FILE"),
            ));
        };
        let name = if multi_context && label_counts[label.as_str()] > 1 {
            format!("{ctx}:{label}")
        } else {
            label.clone()
        };
        perturbations.push(name);
        targets.push(target_of(label));
        data.extend(vals.iter().zip(&ctrl).map(|(v, c)| v - c));
    }
    let n = perturbations.len();
    Ok(Screen {
        name: stem(path),
        source: path.to_path_buf(),
        perturbations,
        targets,
        genes,
        values: Mat::from_vec(n, n_genes, data),
        labels: None,
        response: Response::Signed,
    })
}

fn load_dense(mut t: Table, opts: &LoadOptions) -> Result<Screen, DataError> {
    let lower: Vec<String> = t.header.iter().map(|h| h.to_ascii_lowercase()).collect();
    let id_col = ID_COLUMNS
        .iter()
        .find_map(|c| lower.iter().position(|h| h == c))
        .unwrap_or(0);
    let ctx_cols: Vec<usize> = CONTEXT_COLUMNS
        .iter()
        .filter_map(|c| lower.iter().position(|h| h == c))
        .filter(|&i| i != id_col)
        .collect();
    let gene_cols: Vec<usize> = (0..t.header.len())
        .filter(|&i| {
            i != id_col && !ctx_cols.contains(&i) && !META_COLUMNS.contains(&lower[i].as_str())
        })
        .collect();
    if gene_cols.is_empty() {
        return Err(DataError::field(
            &t.path,
            1,
            &t.header[id_col],
            "no gene columns after the perturbation column",
        ));
    }
    let genes: Vec<String> = gene_cols.iter().map(|&i| t.header[i].clone()).collect();
    let mut rows = Vec::new();
    let mut rec = Vec::new();
    while let Some(line) = t.next_record_into(&mut rec)? {
        if rec.len() != t.header.len() {
            return Err(DataError::field(
                &t.path,
                line,
                &t.header[rec.len().min(t.header.len() - 1)],
                format!(
                    "row has {} fields, header has {}",
                    rec.len(),
                    t.header.len()
                ),
            ));
        }
        let label = t.get(line, &rec, id_col)?.to_string();
        let ctx = ctx_cols
            .iter()
            .map(|&c| rec[c].as_str())
            .collect::<Vec<_>>()
            .join("/");
        let mut vals = Vec::with_capacity(gene_cols.len());
        for &c in &gene_cols {
            vals.push(t.number(line, &rec, c)?);
        }
        rows.push((ctx, label, vals, line));
    }
    subtract_controls(&t.path.clone(), genes, rows, opts, false)
}

fn read_control_vector(path: &Path, genes: &[String]) -> Result<Vec<f64>, DataError> {
    let mut t = Table::open(path)?;
    let mut m = HashMap::new();
    // header is the first line; accept `gene value` with any names
    if t.header.len() < 2 {
        return Err(DataError::field(
            path,
            1,
            "value",
            "expected two columns: gene, value",
        ));
    }
    let mut rec = Vec::new();
    while let Some(line) = t.next_record_into(&mut rec)? {
        let g = t.get(line, &rec, 0)?.to_string();
        let v = t.number(line, &rec, 1)?;
        m.insert(g, v);
    }
    genes
        .iter()
        .map(|g| {
            m.get(g).copied().ok_or_else(|| {
                DataError::invalid(path, format!("control vector has no value for gene {g:?}"))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_parsing() {
        assert_eq!(target_of("1_AAAS_P1P2_ENSG00000094914"), "AAAS");
        assert_eq!(target_of("KLF1+MAP2K6"), "KLF1");
        assert_eq!(target_of("UBL5"), "UBL5");
        assert!(is_control("10728_non-targeting", None));
        assert!(is_control("control", None));
        assert!(!is_control("AAAS", None));
    }
}
