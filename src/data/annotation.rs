//! Gene annotations for prompts and priors: the gene table (symbol, name, aliases), one-line
//! GO context per gene, and direct gene → GO term sets.

use crate::data::textio::{DataError, Table};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct GeneInfo {
    pub symbol: String,
    pub name: String,
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Annotations {
    /// symbol → table entry (org.Hs.eg.db genes table).
    pub genes: HashMap<String, GeneInfo>,
    /// symbol → one line of context.
    pub context: HashMap<String, String>,
    /// symbol → GO term ids (direct annotations).
    pub go: HashMap<String, BTreeSet<String>>,
}

impl Annotations {
    /// The gene table: columns `symbol`, `name`, `aliases` (`|`-separated).
    pub fn load_gene_table(&mut self, path: &Path) -> Result<(), DataError> {
        let mut t = Table::open(path)?;
        let (cs, cn, ca) = (t.column("symbol")?, t.column("name")?, t.column("aliases")?);
        while let Some((line, rec)) = t.next_record()? {
            let symbol = t.get(line, &rec, cs)?.to_string();
            if symbol.is_empty() {
                return Err(DataError::field(path, line, "symbol", "empty symbol"));
            }
            let name = t.get(line, &rec, cn)?.to_string();
            let aliases = rec
                .get(ca)
                .map(|a| {
                    a.split('|')
                        .filter(|s| !s.is_empty() && *s != symbol)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            self.genes.insert(
                symbol.clone(),
                GeneInfo {
                    symbol,
                    name,
                    aliases,
                },
            );
        }
        Ok(())
    }

    /// One-line context per gene: columns `symbol`, `context`.
    pub fn load_context(&mut self, path: &Path) -> Result<(), DataError> {
        let mut t = Table::open(path)?;
        let (cs, cc) = (t.column("symbol")?, t.column("context")?);
        while let Some((line, rec)) = t.next_record()? {
            self.context.insert(
                t.get(line, &rec, cs)?.to_string(),
                t.get(line, &rec, cc)?.to_string(),
            );
        }
        Ok(())
    }

    /// Direct gene → GO annotations: columns `symbol`, `go_id` (evidence `ND` is skipped, as
    /// it means "no data").
    pub fn load_gene2go(&mut self, path: &Path) -> Result<(), DataError> {
        let mut t = Table::open(path)?;
        let (cs, cg) = (t.column("symbol")?, t.column("go_id")?);
        let ce = t.header.iter().position(|h| h == "evidence");
        while let Some((line, rec)) = t.next_record()? {
            if ce
                .and_then(|c| rec.get(c))
                .map(|e| e == "ND")
                .unwrap_or(false)
            {
                continue;
            }
            let go = t.get(line, &rec, cg)?;
            if !go.starts_with("GO:") {
                return Err(DataError::field(
                    path,
                    line,
                    "go_id",
                    format!("not a GO id: {go:?}"),
                ));
            }
            self.go
                .entry(t.get(line, &rec, cs)?.to_string())
                .or_default()
                .insert(go.to_string());
        }
        Ok(())
    }

    /// Jaccard similarity of two genes' GO term sets (0 when either has none).
    pub fn go_jaccard(&self, a: &str, b: &str) -> f64 {
        match (self.go.get(a), self.go.get(b)) {
            (Some(x), Some(y)) if !x.is_empty() && !y.is_empty() => {
                let inter = x.intersection(y).count() as f64;
                inter / (x.len() as f64 + y.len() as f64 - inter)
            }
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaccard_of_go_sets() {
        let mut a = Annotations::default();
        a.go.insert(
            "X".into(),
            ["GO:1", "GO:2", "GO:3"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        );
        a.go.insert(
            "Y".into(),
            ["GO:2", "GO:3", "GO:4", "GO:5"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        );
        assert!((a.go_jaccard("X", "Y") - 2.0 / 5.0).abs() < 1e-15);
        assert_eq!(a.go_jaccard("X", "Z"), 0.0);
        assert_eq!(a.go_jaccard("X", "X"), 1.0);
    }
}
