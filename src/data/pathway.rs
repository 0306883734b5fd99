//! Gene sets from GMT files (`name<TAB>description<TAB>gene…`), e.g. MSigDB, Enrichr, Reactome.

use crate::data::textio::{open, DataError};
use std::io::BufRead;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct GeneSet {
    pub name: String,
    pub description: String,
    pub genes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct GeneSets {
    pub source: PathBuf,
    pub sets: Vec<GeneSet>,
}

impl GeneSets {
    pub fn load(path: &Path) -> Result<GeneSets, DataError> {
        let mut sets = Vec::new();
        let mut names = std::collections::HashMap::new();
        for (i, line) in open(path)?.lines().enumerate() {
            let line = line.map_err(|err| DataError::Io {
                path: path.to_path_buf(),
                err,
            })?;
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let mut fields = line.split('\t');
            let name = fields.next().unwrap_or("").trim().to_string();
            if name.is_empty() {
                return Err(DataError::field(path, i + 1, "name", "empty gene-set name"));
            }
            let description = fields
                .next()
                .ok_or_else(|| {
                    DataError::field(
                        path,
                        i + 1,
                        "description",
                        "line has no tab-separated fields",
                    )
                })?
                .to_string();
            let mut genes: Vec<String> = Vec::new();
            for g in fields {
                // Enrichr writes `GENE,1.0`; keep the symbol.
                let g = g.split(',').next().unwrap_or("").trim();
                if !g.is_empty() && !genes.iter().any(|x| x == g) {
                    genes.push(g.to_string());
                }
            }
            if genes.is_empty() {
                return Err(DataError::field(
                    path,
                    i + 1,
                    "genes",
                    format!("gene set {name:?} lists no genes"),
                ));
            }
            if let Some(prev) = names.insert(name.clone(), i + 1) {
                return Err(DataError::field(
                    path,
                    i + 1,
                    "name",
                    format!("gene set {name:?} defined twice (first at line {prev})"),
                ));
            }
            sets.push(GeneSet {
                name,
                description,
                genes,
            });
        }
        if sets.is_empty() {
            return Err(DataError::invalid(path, "no gene sets in file"));
        }
        Ok(GeneSets {
            source: path.to_path_buf(),
            sets,
        })
    }

    /// Find a set by exact name, then case-insensitively with spaces and underscores equated
    /// (`"kegg ribosome"` finds `KEGG_RIBOSOME`). Unknown names list the closest matches.
    pub fn find(&self, name: &str) -> Result<&GeneSet, DataError> {
        if let Some(s) = self.sets.iter().find(|s| s.name == name) {
            return Ok(s);
        }
        let norm = |s: &str| s.to_ascii_lowercase().replace([' ', '-'], "_");
        let want = norm(name);
        if let Some(s) = self.sets.iter().find(|s| norm(&s.name) == want) {
            return Ok(s);
        }
        let words: Vec<&str> = want.split('_').filter(|w| w.len() > 2).collect();
        let mut close: Vec<&str> = self
            .sets
            .iter()
            .filter(|s| {
                let n = norm(&s.name);
                !words.is_empty() && words.iter().all(|w| n.contains(w))
            })
            .map(|s| s.name.as_str())
            .take(5)
            .collect();
        close.sort();
        let hint = if close.is_empty() {
            String::new()
        } else {
            format!(" (did you mean: {})", close.join(", "))
        };
        Err(DataError::invalid(
            &self.source,
            format!("unknown pathway {name:?}{hint}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn parses_and_finds() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.gmt");
        let mut f = std::fs::File::create(&p).unwrap();
        writeln!(f, "KEGG_RIBOSOME\thttp://x\tRPL3\tRPS6\tRPL3").unwrap();
        writeln!(f, "Enrichr set\t\tA,1.0\tB,1.0").unwrap();
        drop(f);
        let gs = GeneSets::load(&p).unwrap();
        assert_eq!(
            gs.find("kegg ribosome").unwrap().genes,
            vec!["RPL3", "RPS6"]
        );
        assert_eq!(gs.find("Enrichr set").unwrap().genes, vec!["A", "B"]);
        let e = gs.find("KEGG_RIBO").unwrap_err().to_string();
        assert!(e.contains("unknown pathway") && e.contains("t.gmt"), "{e}");
    }
}
