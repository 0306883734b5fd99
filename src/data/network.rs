//! A weighted gene–gene prior network (STRING TSV: `symbol_1 symbol_2 … combined_score`, or
//! any table with two gene columns and a score column).
//!
//! Genes are interned: each symbol is stored once and edges hold ids, so a STRING file's
//! 10⁵–10⁶ edge endpoints cost no allocation each (to build, to look up, or to drop).

use crate::data::textio::{DataError, Interner, Table};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct Network {
    pub source: PathBuf,
    /// Gene symbols and their ids, in order of first appearance.
    genes: Interner,
    /// Per gene id: its undirected edges `(neighbour id, weight)`, weights in (0, 1] (STRING
    /// scores are divided by 1000), in the order the edges were first listed.
    neighbours: Vec<Vec<(u32, f64)>>,
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
        let mut net = Network {
            source: path.to_path_buf(),
            ..Default::default()
        };
        // The kept edges by gene id; the weights are scaled once the largest is known.
        let mut raw: Vec<(u32, u32, f64)> = Vec::new();
        let mut max_w: f64 = 0.0;
        let mut rec = Vec::new();
        while let Some(line) = t.next_record_into(&mut rec)? {
            let a = t.get(line, &rec, ca)?;
            let b = t.get(line, &rec, cb)?;
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
                raw.push((net.intern(a), net.intern(b), w));
            }
        }
        let scale = if max_w > 1.0 {
            1000.0f64.max(max_w)
        } else {
            1.0
        };
        for (a, b, w) in raw {
            net.add_ids(a, b, w / scale);
        }
        Ok(net)
    }

    /// The id of `gene`, added if new.
    fn intern(&mut self, gene: &str) -> u32 {
        let id = self.genes.id(gene);
        if id as usize == self.neighbours.len() {
            self.neighbours.push(Vec::new());
        }
        id
    }

    /// Add the undirected edge a–b with weight `w` (a repeated edge keeps the larger weight).
    pub fn add(&mut self, a: &str, b: &str, w: f64) {
        let (a, b) = (self.intern(a), self.intern(b));
        self.add_ids(a, b, w);
    }

    fn add_ids(&mut self, a: u32, b: u32, w: f64) {
        let mut put = |x: u32, y: u32| {
            let list = &mut self.neighbours[x as usize];
            match list.iter_mut().find(|(n, _)| *n == y) {
                Some(e) => e.1 = e.1.max(w),
                None => list.push((y, w)),
            }
        };
        put(a, b);
        put(b, a);
        self.n_edges += 1;
    }

    /// The id of `gene`, if it has an edge.
    pub fn id(&self, gene: &str) -> Option<u32> {
        self.genes.get(gene)
    }

    /// The symbol of gene `id`.
    pub fn name(&self, id: u32) -> &str {
        &self.genes.names[id as usize]
    }

    /// The edges of gene `id`: `(neighbour id, weight)`, in the order first listed.
    pub fn neighbour_ids(&self, id: u32) -> &[(u32, f64)] {
        &self.neighbours[id as usize]
    }

    /// The edges of `gene`: `(neighbour, weight)`, in the order first listed (none when the
    /// gene has no edge).
    pub fn neighbours(&self, gene: &str) -> impl ExactSizeIterator<Item = (&str, f64)> + '_ {
        self.id(gene)
            .map(|id| self.neighbour_ids(id))
            .unwrap_or(&[])
            .iter()
            .map(|&(n, w)| (self.name(n), w))
    }

    /// The weight of the edge a–b (0 when there is none).
    pub fn weight(&self, a: &str, b: &str) -> f64 {
        match (self.id(a), self.id(b)) {
            (Some(a), Some(b)) => self.weight_ids(a, b),
            _ => 0.0,
        }
    }

    /// The weight of the edge between two gene ids (0 when there is none).
    pub fn weight_ids(&self, a: u32, b: u32) -> f64 {
        self.neighbour_ids(a)
            .iter()
            .find(|(n, _)| *n == b)
            .map(|e| e.1)
            .unwrap_or(0.0)
    }

    /// The number of genes with an edge (ids run 0..this).
    pub fn n_genes(&self) -> usize {
        self.genes.len()
    }

    pub fn contains(&self, gene: &str) -> bool {
        self.genes.get(gene).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Interned edges answer as the symbol-keyed lists did: a repeated edge keeps its larger
    /// weight and its first place, both directions agree, and an unknown gene has no edge.
    #[test]
    fn edges_by_id_are_edges_by_name() {
        let mut net = Network::default();
        net.add("A", "B", 0.4);
        net.add("A", "C", 0.9);
        net.add("B", "A", 0.7);
        net.add("D", "A", 0.2);
        assert_eq!(
            net.neighbours("A").collect::<Vec<_>>(),
            vec![("B", 0.7), ("C", 0.9), ("D", 0.2)]
        );
        assert_eq!(net.weight("B", "A"), 0.7);
        assert_eq!(net.weight("C", "A"), 0.9);
        assert_eq!(net.weight("C", "B"), 0.0);
        assert_eq!(net.weight("Z", "A"), 0.0);
        assert_eq!(net.neighbours("Z").len(), 0);
        assert!(net.contains("D") && !net.contains("Z"));
        assert_eq!((net.n_genes(), net.n_edges), (4, 4));
        let (a, b) = (net.id("A").unwrap(), net.id("B").unwrap());
        assert_eq!(net.name(a), "A");
        assert_eq!(net.weight_ids(a, b), 0.7);
    }
}
