//! How long work reports progress without printing: library functions take a `&dyn Progress`
//! and the CLI edge (`cli::bars`) draws it (progress bars and status lines on stderr). A
//! foundation module: every layer may use it, and it uses nothing.

/// A sink for progress: phases with a known amount of work, steps done, and status lines.
/// Every method has a silent default, so a library caller can pass [`Quiet`].
pub trait Progress: Sync {
    /// A phase of `total` steps begins (a new bar).
    fn phase(&self, _what: &str, _total: u64) {}
    /// `n` steps of the current phase are done.
    fn inc(&self, _n: u64) {}
    /// The current phase is over (its bar is cleared).
    fn done(&self) {}
    /// A status line for the person watching (stderr in the CLI).
    fn note(&self, _line: &str) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {}
