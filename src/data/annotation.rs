//! Gene annotations for prompts and priors: the gene table (symbol, name, aliases), one-line
//! GO context per gene, and direct gene → GO term sets.

use crate::data::textio::{DataError, Interner, Table};
use rustc_hash::FxHashMap;
use std::collections::{HashMap, HashSet};
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct GeneInfo {
    pub symbol: String,
    pub name: String,
    pub aliases: Vec<String>,
    /// Database identifiers that name the gene as surely as its symbol (Ensembl gene ids,
    /// UniProt accessions), from the optional `ensembl_ids` / `uniprot_ids` columns.
    pub ids: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Annotations {
    /// symbol → table entry (org.Hs.eg.db genes table).
    pub genes: HashMap<String, GeneInfo>,
    /// symbol → one line of context.
    pub context: HashMap<String, String>,
    /// symbol → GO term ids (direct annotations).
    pub go: GoTerms,
    /// Words of the context lines' shared vocabulary: tokens that occur in the context of at
    /// least [`VOCABULARY_MIN_GENES`] genes ("ATP", "II", "ER", "G2"). An alias that is such a
    /// word does not identify a gene, so masking neither replaces nor reports it.
    pub vocabulary: HashSet<String>,
}

/// Direct gene → GO term annotations. Terms are interned: each gene holds the sorted,
/// distinct ids of its terms (a GO file lists 10⁵–10⁶ gene–term pairs but only ~2·10⁴ terms,
/// so a set of strings per gene cost as many allocations to build, look up and drop).
#[derive(Debug, Clone, Default)]
pub struct GoTerms {
    /// GO term ids ("GO:0006397") and their indices.
    terms: Interner,
    /// symbol → the indices of its terms, ascending and distinct.
    genes: FxHashMap<String, Vec<u32>>,
}

impl GoTerms {
    /// Annotate `gene` with `term` (a repeated pair is kept once).
    pub fn insert(&mut self, gene: &str, term: &str) {
        let id = self.terms.id(term);
        // Look up before inserting: a key is allocated only for a gene not seen yet.
        let set = match self.genes.get_mut(gene) {
            Some(set) => set,
            None => self.genes.entry(gene.to_string()).or_default(),
        };
        if let Err(at) = set.binary_search(&id) {
            set.insert(at, id);
        }
    }

    /// The term indices of `gene` (ascending, distinct), if it has any.
    pub fn get(&self, gene: &str) -> Option<&[u32]> {
        self.genes.get(gene).map(|v| v.as_slice())
    }

    /// The number of distinct terms (indices run 0..this).
    pub fn n_terms(&self) -> usize {
        self.terms.len()
    }

    /// The number of annotated genes.
    pub fn len(&self) -> usize {
        self.genes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.genes.is_empty()
    }
}

/// Jaccard similarity of two ascending, distinct term-index sets (0 when either is empty).
pub fn jaccard(x: &[u32], y: &[u32]) -> f64 {
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let inter = inter as f64;
    inter / (x.len() as f64 + y.len() as f64 - inter)
}

/// A token in the context lines of this many genes is vocabulary, not a name.
pub const VOCABULARY_MIN_GENES: usize = 20;

/// Whether a character belongs to a word (gene names are matched as whole tokens).
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// The whole tokens (maximal runs of word characters) of `text`, with their byte offsets.
pub fn tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut start: Option<usize> = None;
    let mut out = Vec::new();
    for (i, c) in text.char_indices() {
        match (is_word_char(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out.into_iter()
}

impl Annotations {
    /// The gene table: columns `symbol`, `name`, `aliases` (`|`-separated), and optionally
    /// `ensembl_ids` and `uniprot_ids` (`|`-separated).
    pub fn load_gene_table(&mut self, path: &Path) -> Result<(), DataError> {
        let mut t = Table::open(path)?;
        let (cs, cn, ca) = (t.column("symbol")?, t.column("name")?, t.column("aliases")?);
        let id_cols: Vec<usize> = ["ensembl_ids", "uniprot_ids"]
            .iter()
            .filter_map(|h| t.header.iter().position(|x| x == h))
            .collect();
        let mut rec = Vec::new();
        while let Some(line) = t.next_record_into(&mut rec)? {
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
            let ids = id_cols
                .iter()
                .filter_map(|&c| rec.get(c))
                .flat_map(|v| v.split('|'))
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            self.genes.insert(
                symbol.clone(),
                GeneInfo {
                    symbol,
                    name,
                    aliases,
                    ids,
                },
            );
        }
        Ok(())
    }

    /// One-line context per gene: columns `symbol`, `context`.
    pub fn load_context(&mut self, path: &Path) -> Result<(), DataError> {
        let mut t = Table::open(path)?;
        let (cs, cc) = (t.column("symbol")?, t.column("context")?);
        let mut rec = Vec::new();
        while let Some(line) = t.next_record_into(&mut rec)? {
            self.context.insert(
                t.get(line, &rec, cs)?.to_string(),
                t.get(line, &rec, cc)?.to_string(),
            );
        }
        let mut per_gene: HashMap<&str, usize> = HashMap::new();
        for line in self.context.values() {
            let seen: HashSet<&str> = tokens(line).map(|(_, t)| t).collect();
            for t in seen {
                *per_gene.entry(t).or_default() += 1;
            }
        }
        self.vocabulary = per_gene
            .into_iter()
            .filter(|&(_, n)| n >= VOCABULARY_MIN_GENES)
            .map(|(t, _)| t.to_string())
            .collect();
        Ok(())
    }

    /// Direct gene → GO annotations: columns `symbol`, `go_id` (evidence `ND` is skipped, as
    /// it means "no data").
    pub fn load_gene2go(&mut self, path: &Path) -> Result<(), DataError> {
        let mut t = Table::open(path)?;
        let (cs, cg) = (t.column("symbol")?, t.column("go_id")?);
        let ce = t.header.iter().position(|h| h == "evidence");
        let mut rec = Vec::new();
        while let Some(line) = t.next_record_into(&mut rec)? {
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
            self.go.insert(t.get(line, &rec, cs)?, go);
        }
        Ok(())
    }

    /// Jaccard similarity of two genes' GO term sets (0 when either has none).
    pub fn go_jaccard(&self, a: &str, b: &str) -> f64 {
        match (self.go.get(a), self.go.get(b)) {
            (Some(x), Some(y)) => jaccard(x, y),
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
        for t in ["GO:1", "GO:2", "GO:3", "GO:2"] {
            a.go.insert("X", t);
        }
        for t in ["GO:5", "GO:4", "GO:3", "GO:2"] {
            a.go.insert("Y", t);
        }
        assert_eq!(a.go.get("X"), Some(&[0, 1, 2][..]));
        assert_eq!(a.go.n_terms(), 5);
        assert!((a.go_jaccard("X", "Y") - 2.0 / 5.0).abs() < 1e-15);
        assert_eq!(a.go_jaccard("X", "Z"), 0.0);
        assert_eq!(a.go_jaccard("X", "X"), 1.0);
    }
}
