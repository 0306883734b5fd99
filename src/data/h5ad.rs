//! AnnData `.h5ad` reader for the layouts Perturb-seq data comes in:
//! - **pseudo-bulk** (Replogle 2022 Figshare `*_bulk_01.h5ad`): one obs row per perturbation,
//!   obs index like `1_AAAS_P1P2_ENSG00000094914` (target `AAAS`), var index Ensembl with a
//!   `gene_name` column, `X` dense. The `*_normalized_*` files are already z-scores against
//!   control cells, so when no control row exists their values are taken as changes.
//! - **single-cell** (e.g. PerturBench's `devel.h5ad`): an obs `perturbation` column with many
//!   cells each; cells are averaged per (context, perturbation) into pseudo-bulk, where context
//!   is the `dataset`/`cell_type` columns when present, then the context's control is subtracted.
//!
//! `X` may be dense or CSR/CSC (`encoding-type` attribute); strings may be variable-length or
//! fixed; obs/var columns may be plain arrays or categoricals (`codes` + `categories`).

use crate::data::screen_file::{is_control, subtract_controls, LoadOptions, Screen};
use crate::data::textio::DataError;
use std::path::Path;

#[cfg(feature = "h5ad")]
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Screen, DataError> {
    imp::load(path, opts)
}

#[cfg(not(feature = "h5ad"))]
pub fn load(path: &Path, _opts: &LoadOptions) -> Result<Screen, DataError> {
    Err(DataError::invalid(
        path,
        "this build has no .h5ad support (rebuild with the `h5ad` feature)",
    ))
}

/// Average rows sharing `(context, label)` and hand them to the control subtraction.
/// `x` is obs × var, row-major.
fn aggregate(
    path: &Path,
    x: Vec<f64>,
    n_var: usize,
    labels: Vec<String>,
    contexts: Vec<String>,
    genes: Vec<String>,
    opts: &LoadOptions,
) -> Result<Screen, DataError> {
    use std::collections::BTreeMap;
    let mut groups: BTreeMap<(String, String), (Vec<f64>, usize)> = BTreeMap::new();
    let mut first_seen: Vec<(String, String)> = Vec::new();
    for (i, (lab, ctx)) in labels.iter().zip(&contexts).enumerate() {
        let key = (ctx.clone(), lab.clone());
        let e = groups.entry(key.clone()).or_insert_with(|| {
            first_seen.push(key);
            (vec![0.0; n_var], 0)
        });
        for (a, b) in e.0.iter_mut().zip(&x[i * n_var..(i + 1) * n_var]) {
            *a += b;
        }
        e.1 += 1;
    }
    let has_control = labels
        .iter()
        .any(|l| is_control(l, opts.control.as_deref()));
    let rows: Vec<(String, String, Vec<f64>, usize)> = first_seen
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            let (sum, n) = &groups[&key];
            let mean = sum.iter().map(|s| s / *n as f64).collect();
            (key.0, key.1, mean, i + 1)
        })
        .collect();
    // Normalised pseudo-bulk has no control row: its values are already relative to control.
    let assume_delta = !has_control && opts.control_vector.is_none();
    subtract_controls(path, genes, rows, opts, assume_delta)
}

#[cfg(feature = "h5ad")]
mod imp {
    use super::*;
    use hdf5::types::{TypeDescriptor, VarLenAscii, VarLenUnicode};
    use hdf5_metno as hdf5;

    fn err(path: &Path, what: &str, e: impl std::fmt::Display) -> DataError {
        DataError::invalid(path, format!("{what}: {e}"))
    }

    fn attr_string(
        path: &Path,
        loc: &hdf5::Location,
        name: &str,
    ) -> Result<Option<String>, DataError> {
        if !loc
            .attr_names()
            .map_err(|e| err(path, "attributes", e))?
            .iter()
            .any(|a| a == name)
        {
            return Ok(None);
        }
        let a = loc.attr(name).map_err(|e| err(path, name, e))?;
        if let Ok(s) = a.read_scalar::<VarLenUnicode>() {
            return Ok(Some(s.as_str().to_string()));
        }
        if let Ok(s) = a.read_scalar::<VarLenAscii>() {
            return Ok(Some(s.as_str().to_string()));
        }
        Err(err(path, name, "attribute is not a string"))
    }

    fn read_strings(path: &Path, ds: &hdf5::Dataset, what: &str) -> Result<Vec<String>, DataError> {
        let td = ds
            .dtype()
            .and_then(|t| t.to_descriptor())
            .map_err(|e| err(path, what, e))?;
        match td {
            TypeDescriptor::VarLenUnicode => Ok(ds
                .read_raw::<VarLenUnicode>()
                .map_err(|e| err(path, what, e))?
                .into_iter()
                .map(|s| s.as_str().to_string())
                .collect()),
            TypeDescriptor::VarLenAscii => Ok(ds
                .read_raw::<VarLenAscii>()
                .map_err(|e| err(path, what, e))?
                .into_iter()
                .map(|s| s.as_str().to_string())
                .collect()),
            other => Err(err(
                path,
                what,
                format!("expected strings, found {other:?}"),
            )),
        }
    }

    fn read_f64(path: &Path, ds: &hdf5::Dataset, what: &str) -> Result<Vec<f64>, DataError> {
        let td = ds
            .dtype()
            .and_then(|t| t.to_descriptor())
            .map_err(|e| err(path, what, e))?;
        match td {
            TypeDescriptor::Float(hdf5::types::FloatSize::U4) => Ok(ds
                .read_raw::<f32>()
                .map_err(|e| err(path, what, e))?
                .into_iter()
                .map(f64::from)
                .collect()),
            TypeDescriptor::Float(_) => ds.read_raw::<f64>().map_err(|e| err(path, what, e)),
            TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) | TypeDescriptor::Boolean => {
                Ok(read_i64(path, ds, what)?
                    .into_iter()
                    .map(|v| v as f64)
                    .collect())
            }
            other => Err(err(
                path,
                what,
                format!("expected numbers, found {other:?}"),
            )),
        }
    }

    fn read_i64(path: &Path, ds: &hdf5::Dataset, what: &str) -> Result<Vec<i64>, DataError> {
        let td = ds
            .dtype()
            .and_then(|t| t.to_descriptor())
            .map_err(|e| err(path, what, e))?;
        use hdf5::types::IntSize::*;
        let v = match td {
            TypeDescriptor::Integer(U1) => ds
                .read_raw::<i8>()
                .map(|v| v.into_iter().map(i64::from).collect()),
            TypeDescriptor::Integer(U2) => ds
                .read_raw::<i16>()
                .map(|v| v.into_iter().map(i64::from).collect()),
            TypeDescriptor::Integer(U4) => ds
                .read_raw::<i32>()
                .map(|v| v.into_iter().map(i64::from).collect()),
            TypeDescriptor::Integer(U8) => ds.read_raw::<i64>(),
            TypeDescriptor::Unsigned(U1) => ds
                .read_raw::<u8>()
                .map(|v| v.into_iter().map(i64::from).collect()),
            TypeDescriptor::Unsigned(U2) => ds
                .read_raw::<u16>()
                .map(|v| v.into_iter().map(i64::from).collect()),
            TypeDescriptor::Unsigned(U4) => ds
                .read_raw::<u32>()
                .map(|v| v.into_iter().map(i64::from).collect()),
            TypeDescriptor::Unsigned(U8) => ds
                .read_raw::<u64>()
                .map(|v| v.into_iter().map(|x| x as i64).collect()),
            other => {
                return Err(err(
                    path,
                    what,
                    format!("expected integers, found {other:?}"),
                ))
            }
        };
        v.map_err(|e| err(path, what, e))
    }

    /// A dataframe column (`obs`/`var`) as strings: plain string array or categorical.
    fn column(path: &Path, frame: &hdf5::Group, name: &str) -> Result<Vec<String>, DataError> {
        let what = format!("{}/{name}", frame.name());
        if let Ok(g) = frame.group(name) {
            let cats_ds = g.dataset("categories").map_err(|e| err(path, &what, e))?;
            let cats = read_strings(path, &cats_ds, &what)?;
            let codes = read_i64(
                path,
                &g.dataset("codes").map_err(|e| err(path, &what, e))?,
                &what,
            )?;
            return codes
                .into_iter()
                .map(|c| {
                    if c < 0 {
                        Ok(String::new())
                    } else {
                        cats.get(c as usize)
                            .cloned()
                            .ok_or_else(|| err(path, &what, format!("code {c} out of range")))
                    }
                })
                .collect();
        }
        let ds = frame.dataset(name).map_err(|e| err(path, &what, e))?;
        read_strings(path, &ds, &what)
    }

    fn index(path: &Path, frame: &hdf5::Group) -> Result<Vec<String>, DataError> {
        let name = attr_string(path, frame, "_index")?.unwrap_or_else(|| "_index".to_string());
        column(path, frame, &name)
    }

    fn has(frame: &hdf5::Group, name: &str) -> bool {
        frame.link_exists(name)
    }

    /// `X` as a dense row-major obs × var matrix.
    fn read_x(
        path: &Path,
        file: &hdf5::File,
        n_obs: usize,
        n_var: usize,
    ) -> Result<Vec<f64>, DataError> {
        if let Ok(g) = file.group("X") {
            let enc = attr_string(path, &g, "encoding-type")?.unwrap_or_default();
            let data = read_f64(
                path,
                &g.dataset("data").map_err(|e| err(path, "X/data", e))?,
                "X/data",
            )?;
            let indices = read_i64(
                path,
                &g.dataset("indices")
                    .map_err(|e| err(path, "X/indices", e))?,
                "X/indices",
            )?;
            let indptr = read_i64(
                path,
                &g.dataset("indptr").map_err(|e| err(path, "X/indptr", e))?,
                "X/indptr",
            )?;
            let (major, minor) = match enc.as_str() {
                "csr_matrix" => (n_obs, n_var),
                "csc_matrix" => (n_var, n_obs),
                other => {
                    return Err(err(
                        path,
                        "X",
                        format!("unsupported sparse encoding {other:?}"),
                    ))
                }
            };
            if indptr.len() != major + 1 || data.len() != indices.len() {
                return Err(err(path, "X", "sparse arrays have inconsistent lengths"));
            }
            let mut x = vec![0.0; n_obs * n_var];
            for m in 0..major {
                let (a, b) = (indptr[m] as usize, indptr[m + 1] as usize);
                if a > b || b > data.len() {
                    return Err(err(path, "X/indptr", format!("bad pointer at {m}")));
                }
                for k in a..b {
                    let j = indices[k];
                    if j < 0 || j as usize >= minor {
                        return Err(err(
                            path,
                            "X/indices",
                            format!("index {j} out of range at {k}"),
                        ));
                    }
                    let (r, c) = if enc == "csr_matrix" {
                        (m, j as usize)
                    } else {
                        (j as usize, m)
                    };
                    x[r * n_var + c] = data[k];
                }
            }
            return Ok(x);
        }
        let ds = file.dataset("X").map_err(|e| err(path, "X", e))?;
        let shape = ds.shape();
        if shape != [n_obs, n_var] {
            return Err(err(
                path,
                "X",
                format!("shape {shape:?} does not match obs × var = {n_obs} × {n_var}"),
            ));
        }
        read_f64(path, &ds, "X")
    }

    pub fn load(path: &Path, opts: &LoadOptions) -> Result<Screen, DataError> {
        let file = hdf5::File::open(path).map_err(|e| err(path, "cannot open as HDF5", e))?;
        let obs = file.group("obs").map_err(|e| err(path, "obs", e))?;
        let var = file.group("var").map_err(|e| err(path, "var", e))?;
        let obs_index = index(path, &obs)?;
        let var_index = index(path, &var)?;
        let genes = ["gene_name", "gene_symbol", "gene_symbols", "feature_name"]
            .iter()
            .find(|c| has(&var, c))
            .map(|c| column(path, &var, c))
            .transpose()?
            .unwrap_or(var_index);
        let labels = ["perturbation", "gene_transcript", "condition"]
            .iter()
            .find(|c| has(&obs, c))
            .map(|c| column(path, &obs, c))
            .transpose()?
            .unwrap_or(obs_index);
        let n_obs = labels.len();
        let mut contexts = vec![String::new(); n_obs];
        for c in ["dataset", "cell_type"] {
            if has(&obs, c) {
                for (ctx, v) in contexts.iter_mut().zip(column(path, &obs, c)?) {
                    if !ctx.is_empty() {
                        ctx.push('/');
                    }
                    ctx.push_str(&v);
                }
            }
        }
        let x = read_x(path, &file, n_obs, genes.len())?;
        if let Some(k) = x.iter().position(|v| !v.is_finite()) {
            return Err(DataError::invalid(
                path,
                format!(
                    "X holds a non-finite value at obs {:?}, var {:?}",
                    labels[k / genes.len()],
                    genes[k % genes.len()]
                ),
            ));
        }
        super::aggregate(path, x, genes.len(), labels, contexts, genes, opts)
    }
}
