//! A cache of computed matrices (the prior embeddings) shared by every run, plan and audit on
//! this machine: `$PERTAUDIT_CACHE_DIR`, else `$XDG_CACHE_HOME/pertaudit/priors`, else
//! `~/.cache/pertaudit/priors`. `PERTAUDIT_CACHE_DIR=off` disables it.
//!
//! An entry is keyed by the sha256 of everything its content depends on (the caller builds the
//! key) and holds named matrices as exact little-endian `f64` bits, so a cached embedding is the
//! same bits as a recomputed one and outputs stay byte-identical. Each file carries the sha256
//! of its payload and is verified on read; a damaged or foreign entry is ignored (and
//! overwritten by the next store), never trusted. Writes are atomic.

use crate::data::runfile::{sha256_bytes, write_atomic};
use crate::numeric::linalg::Mat;
use std::path::PathBuf;

const MAGIC: &[u8; 16] = b"pertaudit-mats-1";

/// The user's cache folder for pertaudit: `$XDG_CACHE_HOME/pertaudit`, else
/// `~/.cache/pertaudit` (`None` without either). Model weights and prior embeddings live under it.
pub fn user_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|b| b.join("pertaudit"))
}

/// The cache folder, or `None` when disabled.
pub fn dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("PERTAUDIT_CACHE_DIR") {
        if d == "off" {
            return None;
        }
        return Some(PathBuf::from(d));
    }
    Some(user_cache_dir()?.join("priors"))
}

fn encode(mats: &[(String, Mat)]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&(mats.len() as u64).to_le_bytes());
    for (name, m) in mats {
        p.extend_from_slice(&(name.len() as u64).to_le_bytes());
        p.extend_from_slice(name.as_bytes());
        p.extend_from_slice(&(m.rows as u64).to_le_bytes());
        p.extend_from_slice(&(m.cols as u64).to_le_bytes());
        for v in &m.data {
            p.extend_from_slice(&v.to_le_bytes());
        }
    }
    p
}

fn decode(p: &[u8]) -> Option<Vec<(String, Mat)>> {
    let mut at = 0usize;
    let u64_at = |at: &mut usize| -> Option<u64> {
        let b = p.get(*at..*at + 8)?;
        *at += 8;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    };
    let n = u64_at(&mut at)? as usize;
    let mut out = Vec::new();
    for _ in 0..n.min(1 << 16) {
        let len = u64_at(&mut at)? as usize;
        let name = std::str::from_utf8(p.get(at..at.checked_add(len)?)?)
            .ok()?
            .to_string();
        at += len;
        let rows = u64_at(&mut at)? as usize;
        let cols = u64_at(&mut at)? as usize;
        let count = rows.checked_mul(cols)?;
        let bytes = p.get(at..at.checked_add(count.checked_mul(8)?)?)?;
        at += count * 8;
        let data = bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        out.push((name, Mat::from_vec(rows, cols, data)));
    }
    (out.len() == n && at == p.len()).then_some(out)
}

/// The entry for `key` (a sha256 hex), when present and intact.
pub fn load(key: &str) -> Option<Vec<(String, Mat)>> {
    load_in(&dir()?, key)
}

/// Store an entry (best effort: a read-only or full disk only costs the next run the work).
pub fn store(key: &str, mats: &[(String, Mat)]) {
    if let Some(d) = dir() {
        store_in(&d, key, mats);
    }
}

fn load_in(dir: &std::path::Path, key: &str) -> Option<Vec<(String, Mat)>> {
    let path = dir.join(format!("{key}.bin"));
    let bytes = std::fs::read(path).ok()?;
    let body = bytes.strip_prefix(MAGIC.as_slice())?;
    let (hash, payload) = (body.get(..64)?, body.get(64..)?);
    if std::str::from_utf8(hash).ok()? != sha256_bytes(payload) {
        return None;
    }
    decode(payload)
}

fn store_in(d: &std::path::Path, key: &str, mats: &[(String, Mat)]) {
    let payload = encode(mats);
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(sha256_bytes(&payload).as_bytes());
    bytes.extend_from_slice(&payload);
    let _ = write_atomic(&d.join(format!("{key}.bin")), &bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_bit_exact_and_damage_is_ignored() {
        let d = tempfile::tempdir().unwrap();
        let m = Mat::from_vec(2, 3, vec![0.1, -0.0, f64::MIN_POSITIVE, 1e300, -3.5, 0.3]);
        let mats = vec![
            ("string".to_string(), m.clone()),
            ("go".to_string(), Mat::zeros(2, 0)),
        ];
        let key = "a".repeat(64);
        assert!(load_in(d.path(), &key).is_none());
        store_in(d.path(), &key, &mats);
        let back = load_in(d.path(), &key).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].0, "string");
        let bits = |m: &Mat| m.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back[0].1), bits(&m));
        assert_eq!((back[1].1.rows, back[1].1.cols), (2, 0));
        // One flipped byte: ignored, not trusted.
        let p = d.path().join(format!("{key}.bin"));
        let mut b = std::fs::read(&p).unwrap();
        let last = b.len() - 1;
        b[last] ^= 1;
        std::fs::write(&p, b).unwrap();
        assert!(load_in(d.path(), &key).is_none());
    }
}
