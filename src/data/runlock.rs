//! One writer per run directory.
//!
//! Every command that writes into a run (a plan's `--out`, a judge's `--run`, an audit's
//! `--out`, any ledger) first takes an exclusive advisory lock on `RUN/.lock` (`flock`, through
//! `std::fs::File::try_lock`). A second process stops at once with one line naming the holder's
//! PID, which the holder writes into the lock file. The operating system releases the lock when
//! its holder dies, however it dies, so a stale lock file left by a killed process is simply
//! taken over (its PID overwritten); there is nothing to clean up by hand. On a clean release
//! the file is emptied, so a finished run's files are the same bytes from run to run.
//!
//! Within one process the lock is re-entrant: an audit holds its run and the plans and judges
//! it runs inside that run take the same lock again (a second `flock` on a new descriptor would
//! conflict with the first). The lock is released when the last guard is dropped.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const LOCK_FILE: &str = ".lock";

/// The run directories this process holds, with their lock files and guard counts.
static HELD: Mutex<BTreeMap<PathBuf, (File, usize)>> = Mutex::new(BTreeMap::new());

/// A held run lock (released on drop).
#[derive(Debug)]
pub struct RunLock {
    key: PathBuf,
}

/// Why a run could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{dir}: in use by another pertaudit process (pid {pid}); wait for it to finish or stop it (lock file {dir}/{LOCK_FILE})")]
    Busy { dir: String, pid: String },
    #[error("{dir}: {msg}")]
    Io { dir: String, msg: String },
}

impl RunLock {
    /// Take the lock of run directory `dir` (created if absent), or fail at once.
    pub fn acquire(dir: &Path) -> Result<RunLock, LockError> {
        let io = |e: std::io::Error| LockError::Io {
            dir: dir.display().to_string(),
            msg: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let key = dir.canonicalize().map_err(io)?;
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, count)) = held.get_mut(&key) {
            *count += 1;
            return Ok(RunLock { key });
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(key.join(LOCK_FILE))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(LockError::Busy {
                    dir: dir.display().to_string(),
                    pid: if pid.is_empty() || pid.len() > 20 {
                        "unknown".into()
                    } else {
                        pid.to_string()
                    },
                });
            }
            Err(TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
                eprintln!(
                    "warning: {}: this file system cannot lock files; make sure no other pertaudit process writes this run",
                    dir.display()
                );
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        // Ours now: record our PID for anyone who finds the run busy.
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        held.insert(key.clone(), (file, 1));
        Ok(RunLock { key })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, count)) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                // Empty the PID (a finished run's files stay the same from run to run), then
                // dropping the file closes it, which releases the lock. The file stays: deleting
                // it would race with a process that has just opened it.
                if let Some((file, _)) = held.remove(&self.key) {
                    let _ = file.set_len(0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reentrant_in_process_and_released_on_drop() {
        let d = tempfile::tempdir().unwrap();
        let a = RunLock::acquire(d.path()).unwrap();
        let b = RunLock::acquire(&d.path().join(".")).unwrap();
        drop(a);
        // Still held by `b`: another descriptor cannot take it.
        let f = File::open(d.path().join(LOCK_FILE)).unwrap();
        assert!(matches!(f.try_lock(), Err(TryLockError::WouldBlock)));
        let pid: String = std::fs::read_to_string(d.path().join(LOCK_FILE)).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
        drop(b);
        assert!(f.try_lock().is_ok(), "released with the last guard");
        assert_eq!(std::fs::read(d.path().join(LOCK_FILE)).unwrap(), b"");
    }
}
