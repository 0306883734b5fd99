//! `pertaudit data list | fetch NAME`: known public data files, downloaded and checked by size
//! and sha256 before they are kept. A download goes to a temporary file beside the target and is
//! renamed only after the checks pass, so a cut or wrong download never leaves a file that
//! looks complete.

use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownFile {
    pub name: String,
    pub url: String,
    pub sha256: String,
    pub size: u64,
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Registry {
    file: Vec<KnownFile>,
}

/// The Replogle et al. 2022 (Cell) pseudo-bulk AnnData files on Figshare+ (DOI
/// 10.25452/figshare.plus.20029387): z-normalised mean expression per perturbation. Sizes and
/// sha256 as published in public pin lists of these exact files.
pub const BUILTIN: &str = r#"
[[file]]
name = "K562_essential_normalized_bulk_01.h5ad"
url = "https://ndownloader.figshare.com/files/35780870"
sha256 = "c1ca6456c9c9f1aa2b02c496eb64d1dc3e6a852edbd744d682b8d2c95fd36829"
size = 79766954
description = "Replogle 2022 K562 essential-gene Perturb-seq, gemgroup z-normalised pseudo-bulk (Figshare+ 20029387)"

[[file]]
name = "rpe1_normalized_bulk_01.h5ad"
url = "https://ndownloader.figshare.com/files/35775512"
sha256 = "a3c5bfd0f15d63938bc80c9b8874b9cd761e3a23caf5ffe7966bae4e887ec89d"
size = 95350546
description = "Replogle 2022 RPE1 essential-gene Perturb-seq, z-normalised pseudo-bulk (Figshare+ 20029387)"

[[file]]
name = "K562_gwps_normalized_bulk_01.h5ad"
url = "https://ndownloader.figshare.com/files/35773217"
sha256 = "37e48c474d8b5dead4151f96ea8f5fe7bbe6beb10eeea48685b740c3f74490a2"
size = 374587922
description = "Replogle 2022 K562 genome-wide Perturb-seq, z-normalised pseudo-bulk (Figshare+ 20029387)"
"#;

pub fn registry(path: Option<&Path>) -> Result<Vec<KnownFile>> {
    let (text, src) = match path {
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("{}: cannot read", p.display()))?,
            p.display().to_string(),
        ),
        None => (BUILTIN.to_string(), "the built-in registry".to_string()),
    };
    let r: Registry =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{src}: {}", e.message()))?;
    for f in &r.file {
        if f.sha256.len() != 64 || !f.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            bail!(
                "{src}: file {:?}: field `sha256` is not 64 hex digits",
                f.name
            );
        }
        if f.name.contains('/') || f.name.starts_with('.') {
            bail!(
                "{src}: file {:?}: field `name` must be a plain file name",
                f.name
            );
        }
    }
    Ok(r.file)
}

/// Download `f` into `dir` (kept only when size and sha256 match); returns its path.
pub fn fetch(f: &KnownFile, dir: &Path, progress: &dyn Progress) -> Result<PathBuf> {
    let target = dir.join(&f.name);
    if target.is_file() && crate::data::runfile::sha256_file(&target)? == f.sha256 {
        progress.note(&format!("{} is present (sha256 checked)", target.display()));
        return Ok(target);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let tmp = dir.join(format!(".{}.part-{}", f.name, std::process::id()));
    let r = download(f, &tmp, progress);
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &target)?;
    Ok(target)
}

/// A runtime and an HTTP client for one-off downloads (data files, model weights).
pub fn http() -> Result<(tokio::runtime::Runtime, reqwest::Client)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder()
        .user_agent(concat!("pertaudit/", env!("CARGO_PKG_VERSION")))
        .build()?;
    Ok((rt, client))
}

fn download(f: &KnownFile, tmp: &Path, progress: &dyn Progress) -> Result<()> {
    let (rt, http) = crate::data::fetch::http()?;
    rt.block_on(async {
        let mut resp = http
            .get(&f.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .with_context(|| format!("{}: download failed", f.url))?;
        progress.phase(&f.name, f.size);
        let mut h = Sha256::new();
        let mut n = 0u64;
        let mut out = std::fs::File::create(tmp)
            .with_context(|| format!("{}: cannot write", tmp.display()))?;
        while let Some(chunk) = resp
            .chunk()
            .await
            .with_context(|| format!("{}: download cut", f.name))?
        {
            n += chunk.len() as u64;
            if n > f.size {
                bail!(
                    "{}: more than the expected {} bytes; not kept",
                    f.name,
                    f.size
                );
            }
            h.update(&chunk);
            out.write_all(&chunk)?;
            progress.inc(chunk.len() as u64);
        }
        progress.done();
        out.sync_all()?;
        if n != f.size {
            bail!("{}: {n} bytes, expected {}; not kept", f.name, f.size);
        }
        let got = hex::encode(h.finalize());
        if got != f.sha256 {
            bail!("{}: sha256 {got}, expected {}; not kept", f.name, f.sha256);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn builtin_registry_parses() {
        let r = super::registry(None).unwrap();
        assert_eq!(r.len(), 3);
        assert!(r.iter().all(|f| f.url.starts_with("https://")));
    }
}
