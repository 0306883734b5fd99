//! A weighted gene–gene prior network (STRING TSV: `symbol_1 symbol_2 … combined_score`, or
//! any table with two gene columns and a score column).

use crate::data::textio::{DataError, Table};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct Network {
    pub source: PathBuf,
    /// Undirected edges with weights in (0, 1] (STRING scores are divided by 1000).
    neighbours: HashMap<String, Vec<(String, f64)>>,
    pub n_edges: usize,
}

const A_COLS: [&str; 5] = [
    "symbol_1",
    "protein1",
    "gene1",
    "source",
    "preferred_name_a",
];
const B_COLS: [&str; 5] = [
    "symbol_2",
    "protein2",
    "gene2",
    "target",
    "preferred_name_b",
];
const W_COLS: [&str; 4] = ["combined_score", "score", "weight", "confidence"];

impl Network {
    /// Load edges with score ≥ `min_score` (in the file's units; STRING uses 0–1000).
    pub fn load(path: &Path, min_score: f64) -> Result<Network, DataError> {
        let mut t = Table::open(path)?;
        let find = |cands: &[&str], what: &str| -> Result<usize, DataError> {
            cands
                .iter()
                .find_map(|c| t.header.iter().position(|h| h.eq_ignore_ascii_case(c)))
                .ok_or_else(|| {
                    DataError::field(
                        path,
                        1,
                        what,
                        format!("no column named any of {}", cands.join(", ")),
                    )
                })
        };
        let (ca, cb, cw) = (
            find(&A_COLS, "symbol_1")?,
            find(&B_COLS, "symbol_2")?,
            find(&W_COLS, "combined_score")?,
        );
        let mut raw: Vec<(String, String, f64)> = Vec::new();
        let mut max_w: f64 = 0.0;
        let mut rec = Vec::new();
        while let Some(line) = t.next_record_into(&mut rec)? {
            let a = t.get(line, &rec, ca)?.to_string();
            let b = t.get(line, &rec, cb)?.to_string();
            let w = t.number(line, &rec, cw)?;
            if w < 0.0 {
                return Err(DataError::field(
                    path,
                    line,
                    &t.header[cw],
                    format!("negative score {w}"),
                ));
            }
            if w >= min_score && a != b && !a.is_empty() && !b.is_empty() {
                max_w = max_w.max(w);
                raw.push((a, b, w));
            }
        }
        let scale = if max_w > 1.0 {
            1000.0f64.max(max_w)
        } else {
            1.0
        };
        let mut net = Network {
            source: path.to_path_buf(),
            ..Default::default()
        };
        for (a, b, w) in raw {
            net.add(&a, &b, w / scale);
        }
        Ok(net)
    }

    pub fn add(&mut self, a: &str, b: &str, w: f64) {
        let mut put = |x: &str, y: &str| {
            // Look up before inserting: a key is allocated only for a gene not seen yet.
            if !self.neighbours.contains_key(x) {
                self.neighbours.insert(x.to_string(), Vec::new());
            }
            let list = self.neighbours.get_mut(x).expect("inserted above");
            match list.iter_mut().find(|(n, _)| n == y) {
                Some(e) => e.1 = e.1.max(w),
                None => list.push((y.to_string(), w)),
            }
        };
        put(a, b);
        put(b, a);
        self.n_edges += 1;
    }

    pub fn neighbours(&self, gene: &str) -> &[(String, f64)] {
        self.neighbours
            .get(gene)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    pub fn weight(&self, a: &str, b: &str) -> f64 {
        self.neighbours(a)
            .iter()
            .find(|(n, _)| n == b)
            .map(|e| e.1)
            .unwrap_or(0.0)
    }

    pub fn contains(&self, gene: &str) -> bool {
        self.neighbours.contains_key(gene)
    }
}
