//! Progress on stderr: an `indicatif` bar per phase (hidden when stderr is not a terminal)
//! and status lines printed above it. The library reports through [`Progress`]; this is the
//! only place that draws.

use crate::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub fn progress(total: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}")
            .expect("template")
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    pb
}

/// The CLI's [`Progress`]: one bar per phase, status lines on stderr.
#[derive(Default)]
pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Progress for Bars {
    fn phase(&self, what: &str, total: u64) {
        let mut b = self.bar.lock().expect("bar");
        if let Some(old) = b.take() {
            old.finish_and_clear();
        }
        *b = Some(progress(total, what));
    }
    fn inc(&self, n: u64) {
        if let Some(b) = self.bar.lock().expect("bar").as_ref() {
            b.inc(n);
        }
    }
    fn done(&self) {
        if let Some(b) = self.bar.lock().expect("bar").take() {
            b.finish_and_clear();
        }
    }
    fn note(&self, line: &str) {
        match self.bar.lock().expect("bar").as_ref() {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}
