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

/// Each obs row's group — one per `(context, label)`, numbered in order of first appearance —
/// and the groups' keys.
fn groups(labels: &[String], contexts: &[String]) -> (Vec<usize>, Vec<(String, String)>) {
    let mut at: std::collections::HashMap<(&str, &str), usize> = std::collections::HashMap::new();
    let mut keys = Vec::new();
    let group = labels
        .iter()
        .zip(contexts)
        .map(|(lab, ctx)| {
            *at.entry((ctx.as_str(), lab.as_str())).or_insert_with(|| {
                keys.push((ctx.clone(), lab.clone()));
                keys.len() - 1
            })
        })
        .collect();
    (group, keys)
}

/// The groups' means from their sums (groups × var, row-major, each row's values added in obs
/// order) and sizes, handed to the control subtraction.
fn aggregate(
    path: &Path,
    sums: Vec<f64>,
    sizes: Vec<usize>,
    keys: Vec<(String, String)>,
    genes: Vec<String>,
    labels: &[String],
    opts: &LoadOptions,
) -> Result<Screen, DataError> {
    let n_var = genes.len();
    let has_control = labels
        .iter()
        .any(|l| is_control(l, opts.control.as_deref()));
    let rows: Vec<(String, String, Vec<f64>, usize)> = keys
        .into_iter()
        .enumerate()
        .map(|(g, key)| {
            let n = sizes[g] as f64;
            let mean = sums[g * n_var..(g + 1) * n_var]
                .iter()
                .map(|s| s / n)
                .collect();
            (key.0, key.1, mean, g + 1)
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

    /// A 1-d dataset's values, all of them or the range `r`.
    fn raw<T: hdf5::H5Type + Clone>(
        ds: &hdf5::Dataset,
        r: &Option<std::ops::Range<usize>>,
    ) -> hdf5::Result<Vec<T>> {
        match r {
            None => ds.read_raw::<T>(),
            Some(r) => Ok(ds.read_slice_1d::<T, _>(r.clone())?.to_vec()),
        }
    }

    fn read_f64(path: &Path, ds: &hdf5::Dataset, what: &str) -> Result<Vec<f64>, DataError> {
        read_f64_range(path, ds, what, None)
    }

    fn read_f64_range(
        path: &Path,
        ds: &hdf5::Dataset,
        what: &str,
        r: Option<std::ops::Range<usize>>,
    ) -> Result<Vec<f64>, DataError> {
        let td = ds
            .dtype()
            .and_then(|t| t.to_descriptor())
            .map_err(|e| err(path, what, e))?;
        match td {
            TypeDescriptor::Float(hdf5::types::FloatSize::U4) => Ok(raw::<f32>(ds, &r)
                .map_err(|e| err(path, what, e))?
                .into_iter()
                .map(f64::from)
                .collect()),
            TypeDescriptor::Float(_) => raw::<f64>(ds, &r).map_err(|e| err(path, what, e)),
            TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) | TypeDescriptor::Boolean => {
                Ok(read_i64_range(path, ds, what, r)?
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
        read_i64_range(path, ds, what, None)
    }

    fn read_i64_range(
        path: &Path,
        ds: &hdf5::Dataset,
        what: &str,
        r: Option<std::ops::Range<usize>>,
    ) -> Result<Vec<i64>, DataError> {
        let td = ds
            .dtype()
            .and_then(|t| t.to_descriptor())
            .map_err(|e| err(path, what, e))?;
        use hdf5::types::IntSize::*;
        let v = match td {
            TypeDescriptor::Integer(U1) => {
                raw::<i8>(ds, &r).map(|v| v.into_iter().map(i64::from).collect())
            }
            TypeDescriptor::Integer(U2) => {
                raw::<i16>(ds, &r).map(|v| v.into_iter().map(i64::from).collect())
            }
            TypeDescriptor::Integer(U4) => {
                raw::<i32>(ds, &r).map(|v| v.into_iter().map(i64::from).collect())
            }
            TypeDescriptor::Integer(U8) => raw::<i64>(ds, &r),
            TypeDescriptor::Unsigned(U1) => {
                raw::<u8>(ds, &r).map(|v| v.into_iter().map(i64::from).collect())
            }
            TypeDescriptor::Unsigned(U2) => {
                raw::<u16>(ds, &r).map(|v| v.into_iter().map(i64::from).collect())
            }
            TypeDescriptor::Unsigned(U4) => {
                raw::<u32>(ds, &r).map(|v| v.into_iter().map(i64::from).collect())
            }
            TypeDescriptor::Unsigned(U8) => {
                raw::<u64>(ds, &r).map(|v| v.into_iter().map(|x| x as i64).collect())
            }
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

    /// Stored entries of a sparse `X` read per block: at most this many at a time.
    const BLOCK: usize = 1 << 22;

    /// `X` summed over each group of obs rows (`group[i]` is row i's): groups × var,
    /// row-major, each group's rows added in obs order. Sparse `X` (CSR or CSC) is read a
    /// block of stored entries at a time and never densified: memory is the groups' sums plus
    /// one block, not cells × genes. Implicit zeros add nothing, so the sums are the bits a
    /// dense pass would give.
    #[allow(clippy::too_many_arguments)]
    fn read_x_sums(
        path: &Path,
        file: &hdf5::File,
        group: &[usize],
        n_groups: usize,
        n_var: usize,
        labels: &[String],
        genes: &[String],
        block: usize,
    ) -> Result<Vec<f64>, DataError> {
        let n_obs = group.len();
        let mut sums = vec![0.0; n_groups * n_var];
        let non_finite = |r: usize, c: usize| {
            DataError::invalid(
                path,
                format!(
                    "X holds a non-finite value at obs {:?}, var {:?}",
                    labels[r], genes[c]
                ),
            )
        };
        if let Ok(g) = file.group("X") {
            let enc = attr_string(path, &g, "encoding-type")?.unwrap_or_default();
            let data = g.dataset("data").map_err(|e| err(path, "X/data", e))?;
            let indices = g
                .dataset("indices")
                .map_err(|e| err(path, "X/indices", e))?;
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
            let nnz = data.size();
            if indptr.len() != major + 1 || indices.size() != nnz {
                return Err(err(path, "X", "sparse arrays have inconsistent lengths"));
            }
            for m in 0..major {
                let (a, b) = (indptr[m], indptr[m + 1]);
                if a < 0 || a > b || b as usize > nnz {
                    return Err(err(path, "X/indptr", format!("bad pointer at {m}")));
                }
            }
            let mut m = 0;
            while m < major {
                // A block of whole major rows (at least one) of at most BLOCK entries.
                let start = indptr[m] as usize;
                let mut end_m = m + 1;
                while end_m < major && indptr[end_m + 1] as usize - start <= block {
                    end_m += 1;
                }
                let stop = indptr[end_m] as usize;
                let vals = read_f64_range(path, &data, "X/data", Some(start..stop))?;
                let idx = read_i64_range(path, &indices, "X/indices", Some(start..stop))?;
                for mm in m..end_m {
                    for k in indptr[mm] as usize..indptr[mm + 1] as usize {
                        let j = idx[k - start];
                        if j < 0 || j as usize >= minor {
                            return Err(err(
                                path,
                                "X/indices",
                                format!("index {j} out of range at {k}"),
                            ));
                        }
                        let (r, c) = if enc == "csr_matrix" {
                            (mm, j as usize)
                        } else {
                            (j as usize, mm)
                        };
                        let v = vals[k - start];
                        if !v.is_finite() {
                            return Err(non_finite(r, c));
                        }
                        sums[group[r] * n_var + c] += v;
                    }
                }
                m = end_m;
            }
            return Ok(sums);
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
        let x = read_f64(path, &ds, "X")?;
        for (r, &g) in group.iter().enumerate() {
            let row = &x[r * n_var..(r + 1) * n_var];
            if let Some(c) = row.iter().position(|v| !v.is_finite()) {
                return Err(non_finite(r, c));
            }
            for (s, v) in sums[g * n_var..(g + 1) * n_var].iter_mut().zip(row) {
                *s += v;
            }
        }
        Ok(sums)
    }

    pub fn load(path: &Path, opts: &LoadOptions) -> Result<Screen, DataError> {
        load_blocked(path, opts, BLOCK)
    }

    /// [`load`], reading a sparse `X` `block` stored entries at a time.
    pub fn load_blocked(
        path: &Path,
        opts: &LoadOptions,
        block: usize,
    ) -> Result<Screen, DataError> {
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
        let (group, keys) = super::groups(&labels, &contexts);
        let mut sizes = vec![0usize; keys.len()];
        for &g in &group {
            sizes[g] += 1;
        }
        let sums = read_x_sums(
            path,
            &file,
            &group,
            keys.len(),
            genes.len(),
            &labels,
            &genes,
            block,
        )?;
        super::aggregate(path, sums, sizes, keys, genes, &labels, opts)
    }
}

#[cfg(all(test, feature = "h5ad"))]
mod tests {
    use super::*;

    /// Reading a sparse `X` in blocks of any size gives the same screen, bit for bit (the tiny
    /// CSR fixture, and PerturBench's real `devel.h5ad` when present).
    #[test]
    fn sparse_x_in_blocks_gives_the_same_bits() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let files = [
            root.join("tests/fixtures/cells_csr_tiny.h5ad"),
            root.join("../shared/data/perturbseq/perturbench/devel.h5ad"),
        ];
        for f in files.iter().filter(|f| f.is_file()) {
            let opts = LoadOptions::default();
            let whole = imp::load(f, &opts).unwrap();
            let bits = |s: &Screen| {
                s.values
                    .data
                    .iter()
                    .map(|x| x.to_bits())
                    .collect::<Vec<_>>()
            };
            for block in [1, 2, 7, 1000] {
                let b = imp::load_blocked(f, &opts, block).unwrap();
                assert_eq!(b.perturbations, whole.perturbations);
                assert_eq!(bits(&b), bits(&whole), "{} block {block}", f.display());
            }
        }
    }
}
