//! Identity masking: every gene in scope shown only as a stable opaque ID (seeded), and the
//! leak check that proves no name of an in-scope gene survived.
//!
//! What names a gene (each matched as whole tokens; a token is a maximal run of letters and
//! digits, so `TP53-dependent` holds the token `TP53`):
//!
//! - its official **symbol**. Symbols take precedence: an alias that is the
//!   official symbol of any gene in the table (RPL17's alias `RPL23`, MRPL13's `RPL13`,
//!   HNRNPC's `SNRPC`) is that other gene's name, never this one's;
//! - its **aliases** of two or more characters, except vocabulary words of the context lines
//!   ([`Annotations::vocabulary`]: "ATP", "II", "ER" do not identify a gene). An alias shared by
//!   two in-scope genes becomes [`AMBIGUOUS`], which names neither;
//! - its **database ids** (Ensembl, UniProt);
//! - its **full name** (case-insensitive phrase, four or more characters), unless the masker
//!   keeps names ([`Hide::Symbols`], the `llm-names` arm).
//!
//! Symbols, aliases and ids are matched case-sensitively (PSMB6's alias `DELTA` leaves "Pearson
//! delta" alone) unless they mix letters and digits (`P53` also names TP53 as "p53"; no English
//! word has digits).
//!
//! The masker rewrites the values of gene-bearing fields only (lists of genes: replaced by ID;
//! free text such as annotations: names replaced where they occur); template text is never
//! touched because it is never given to the masker.

use crate::data::annotation::{is_word_char, tokens, Annotations};
use crate::data::runfile::sha256_bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Shown for an alias that two in-scope genes share: it names neither.
pub const AMBIGUOUS: &str = "[ambiguous gene name]";

/// What the masker hides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hide {
    /// Symbols, aliases, database ids and full names.
    Identity,
    /// Symbols, aliases and database ids; full names stay (the `llm-names` arm).
    Symbols,
}

/// One name to replace: a phrase (several tokens, or case-insensitive) or a single token.
#[derive(Debug, Clone)]
struct Phrase {
    text: String,
    case_insensitive: bool,
    replacement: String,
    /// A full name the names arm shows: copied unchanged (so "ribosomal protein L17" keeps its
    /// `L17`, an alias) and never a leak.
    keep: bool,
}

#[derive(Debug, Clone)]
pub struct Masker {
    /// symbol → ID (injective).
    ids: BTreeMap<String, String>,
    /// ID → symbol.
    genes: BTreeMap<String, String>,
    /// Single-token, case-sensitive names → replacement.
    exact: HashMap<String, String>,
    /// Phrases, longest first.
    phrases: Vec<Phrase>,
}

/// A gene name found where none may be: the name and the gene it names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Leak {
    pub name: String,
    pub gene: String,
}

impl std::fmt::Display for Leak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.name == self.gene {
            write!(f, "{:?}", self.name)
        } else {
            write!(f, "{:?} (a name of {})", self.name, self.gene)
        }
    }
}

/// Whether a name is matched in any case: full names, and names that mix letters and digits
/// (`P53` also appears as "p53"; no English word has digits). Other names are matched exactly,
/// so PSMB6's alias `DELTA` leaves "delta" alone.
fn any_case(name: &str) -> bool {
    name.chars().any(|c| c.is_ascii_digit()) && name.chars().any(|c| c.is_alphabetic())
}

fn phrase_at(text: &str, at: usize, p: &Phrase) -> bool {
    let Some(slice) = text.get(at..at + p.text.len()) else {
        return false;
    };
    let same = if p.case_insensitive {
        slice.eq_ignore_ascii_case(&p.text)
    } else {
        slice == p.text
    };
    same && text[at + p.text.len()..]
        .chars()
        .next()
        .is_none_or(|c| !is_word_char(c))
}

/// Every name of `symbol` the masker treats as identifying, with whether it is a full name.
pub fn names_of(ann: &Annotations, symbol: &str, hide: Hide) -> Vec<(String, bool)> {
    let mut out = vec![(symbol.to_string(), false)];
    if let Some(info) = ann.genes.get(symbol) {
        for a in &info.aliases {
            if a.chars().count() >= 2
                && a != symbol
                && !ann.genes.contains_key(a)
                && !ann.vocabulary.contains(a)
            {
                out.push((a.clone(), false));
            }
        }
        for id in &info.ids {
            out.push((id.clone(), false));
        }
        if hide == Hide::Identity && info.name.chars().count() >= 4 {
            out.push((info.name.clone(), true));
        }
    }
    out
}

impl Masker {
    /// A masker for the genes `scope`. IDs are `X` + 6 hex digits of sha256(seed ‖ symbol),
    /// lengthened on a collision.
    pub fn new(scope: &[String], ann: &Annotations, seed: u64, hide: Hide) -> Masker {
        let syms: BTreeSet<&String> = scope.iter().collect();
        let mut ids: BTreeMap<String, String> = BTreeMap::new();
        let mut genes: BTreeMap<String, String> = BTreeMap::new();
        for s in &syms {
            let h = sha256_bytes(format!("{seed}|mask|{s}").as_bytes()).to_uppercase();
            let mut len = 6;
            let mut id = format!("X{}", &h[..len]);
            while genes.contains_key(&id) {
                len += 1;
                id = format!("X{}", &h[..len]);
            }
            genes.insert(id.clone(), (*s).clone());
            ids.insert((*s).clone(), id);
        }
        // name → the in-scope genes it names (symbols first: they win over any alias).
        let mut named: BTreeMap<(String, bool), BTreeSet<String>> = BTreeMap::new();
        for s in &syms {
            for (n, ci) in names_of(ann, s, hide) {
                named.entry((n, ci)).or_default().insert((*s).clone());
            }
        }
        let mut exact = HashMap::new();
        let mut phrases = Vec::new();
        for ((name, ci), gs) in named {
            let replacement = if syms.contains(&name) {
                ids[&name].clone()
            } else if gs.len() == 1 {
                ids[gs.first().expect("one")].clone()
            } else {
                AMBIGUOUS.to_string()
            };
            let ci = ci || any_case(&name);
            let single = name.chars().all(is_word_char);
            if single && !ci {
                exact.insert(name, replacement);
            } else {
                phrases.push(Phrase {
                    text: name,
                    case_insensitive: ci,
                    replacement,
                    keep: false,
                });
            }
        }
        if hide == Hide::Symbols {
            for s in &syms {
                if let Some(info) = ann.genes.get(*s) {
                    if info.name.chars().count() >= 4 {
                        phrases.push(Phrase {
                            text: info.name.clone(),
                            case_insensitive: true,
                            replacement: info.name.clone(),
                            keep: true,
                        });
                    }
                }
            }
        }
        phrases.sort_by(|a, b| b.text.len().cmp(&a.text.len()).then(a.text.cmp(&b.text)));
        Masker {
            ids,
            genes,
            exact,
            phrases,
        }
    }

    /// Visit every name occurrence: (start, end, replacement). Phrases (longest first) are
    /// tried before single tokens at each token start; a kept full name is skipped whole.
    fn scan(&self, text: &str, mut hit: impl FnMut(usize, usize, &str)) {
        let mut skip_to = 0;
        for (at, tok) in tokens(text) {
            if at < skip_to {
                continue;
            }
            if let Some(p) = self.phrases.iter().find(|p| phrase_at(text, at, p)) {
                if !p.keep {
                    hit(at, at + p.text.len(), &p.replacement);
                }
                skip_to = at + p.text.len();
            } else if let Some(r) = self.exact.get(tok) {
                hit(at, at + tok.len(), r);
            }
        }
    }

    /// Rewrite every name occurrence: by its gene's ID, or by `with` when given.
    fn rewrite(&self, text: &str, with: Option<&str>) -> String {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        self.scan(text, |s, e, r| {
            out.push_str(&text[last..s]);
            out.push_str(with.unwrap_or(r));
            last = e;
        });
        out.push_str(&text[last..]);
        out
    }

    /// Replace every name of an in-scope gene in free text.
    pub fn mask(&self, text: &str) -> String {
        self.rewrite(text, None)
    }

    /// Replace every name of an in-scope gene by the same text (the shuffled arm's stripping).
    pub fn replace_all(&self, text: &str, with: &str) -> String {
        self.rewrite(text, Some(with))
    }

    /// Names of in-scope genes that occur in `text` (empty when masking is complete).
    pub fn leaks(&self, text: &str) -> Vec<Leak> {
        let mut found = BTreeSet::new();
        self.scan(text, |s, e, r| {
            found.insert(Leak {
                name: text[s..e].to_string(),
                gene: self
                    .genes
                    .get(r)
                    .cloned()
                    .unwrap_or_else(|| "several genes".into()),
            });
        });
        found.into_iter().collect()
    }

    /// Replace ID-shaped tokens that name no in-scope gene (a model's own rationale may carry a
    /// mangled ID) by `with`.
    pub fn replace_unknown_ids(&self, text: &str, with: &str) -> String {
        let unknown = self.unknown_ids(text);
        if unknown.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for (at, tok) in tokens(text) {
            if unknown.iter().any(|u| u == tok) {
                out.push_str(&text[last..at]);
                out.push_str(with);
                last = at + tok.len();
            }
        }
        out.push_str(&text[last..]);
        out
    }

    /// Tokens of `text` shaped like an ID (`X` + 6 or more upper-case hex digits) that name no
    /// in-scope gene: each shown ID must map to exactly one gene.
    pub fn unknown_ids(&self, text: &str) -> Vec<String> {
        let mut out = BTreeSet::new();
        for (_, t) in tokens(text) {
            let looks = t.len() >= 7
                && t.starts_with('X')
                && t[1..]
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c));
            if looks && !self.genes.contains_key(t) {
                out.insert(t.to_string());
            }
        }
        out.into_iter().collect()
    }

    pub fn id(&self, symbol: &str) -> Option<&str> {
        self.ids.get(symbol).map(String::as_str)
    }

    /// The gene behind an ID.
    pub fn gene(&self, id: &str) -> Option<&str> {
        self.genes.get(id).map(String::as_str)
    }

    /// Every (symbol, ID) pair.
    pub fn ids(&self) -> &BTreeMap<String, String> {
        &self.ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::annotation::GeneInfo;

    fn ann() -> Annotations {
        let mut a = Annotations::default();
        for (s, name, al) in [
            (
                "RPL3",
                "ribosomal protein L3",
                vec!["ASC-1", "L3", "TARBP-B"],
            ),
            ("TP53", "tumor protein p53", vec!["P53", "LFS1", "p53"]),
            ("MYC", "MYC proto-oncogene", vec!["c-Myc", "MYCC"]),
            ("RPL17", "ribosomal protein L17", vec!["L17", "RPL23"]),
            ("RPL23", "ribosomal protein L23", vec!["L23"]),
            (
                "ATP5F1A",
                "ATP synthase F1 subunit alpha",
                vec!["ATP", "OMR"],
            ),
        ] {
            a.genes.insert(
                s.into(),
                GeneInfo {
                    symbol: s.into(),
                    name: name.into(),
                    aliases: al.into_iter().map(String::from).collect(),
                    ids: vec![format!("ENSG_{s}")],
                },
            );
        }
        a.vocabulary.insert("ATP".into());
        a
    }

    fn scope(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn masks_names_as_whole_tokens_and_is_stable() {
        let a = ann();
        let m = Masker::new(&scope(&["RPL3", "TP53", "MYC"]), &a, 7, Hide::Identity);
        let t = "RPL3 (alias L3, ASC-1) binds c-Myc; p53/TP53-dependent; MYCN and RPL35 are other genes. Ribosomal protein L3 in mouse.";
        let masked = m.mask(t);
        assert!(m.leaks(&masked).is_empty(), "{masked}");
        assert!(
            masked.contains("MYCN") && masked.contains("RPL35"),
            "{masked}"
        );
        assert_eq!(masked.matches(m.id("RPL3").unwrap()).count(), 4, "{masked}");
        assert!(m.unknown_ids(&masked).is_empty());
        let id = m.id("RPL3").unwrap();
        assert_eq!(
            m.replace_unknown_ids(&format!("{id} and X0BADBEEF"), "?"),
            format!("{id} and ?")
        );
        assert_eq!(
            Masker::new(&scope(&["MYC"]), &a, 7, Hide::Identity).id("MYC"),
            m.id("MYC")
        );
        assert_ne!(
            Masker::new(&scope(&["MYC"]), &a, 8, Hide::Identity).id("MYC"),
            m.id("MYC")
        );
        // Names without digits are case-sensitive; names with digits match in any case.
        assert_eq!(m.mask("myc"), "myc");
        assert_eq!(m.mask("Rpl3"), m.id("RPL3").unwrap());
    }

    #[test]
    fn symbols_win_over_aliases_and_vocabulary_is_not_a_name() {
        let a = ann();
        let m = Masker::new(
            &scope(&["RPL17", "RPL23", "ATP5F1A"]),
            &a,
            1,
            Hide::Identity,
        );
        let (i17, i23) = (m.id("RPL17").unwrap(), m.id("RPL23").unwrap());
        assert_ne!(i17, i23);
        assert_eq!(m.mask("RPL23 and RPL17"), format!("{i23} and {i17}"));
        assert_eq!(
            m.mask("ATP binding; OMR"),
            format!("ATP binding; {}", m.id("ATP5F1A").unwrap())
        );
        // Names kept in the names arm; hidden otherwise.
        let n = Masker::new(&scope(&["RPL17"]), &a, 1, Hide::Symbols);
        assert_eq!(
            n.mask("RPL17: ribosomal protein L17"),
            format!("{i17}: ribosomal protein L17")
        );
        assert_eq!(m.mask("Ribosomal Protein L17."), format!("{i17}."));
        assert_eq!(m.mask("ENSG_RPL17"), i17);
    }

    #[test]
    fn a_shared_alias_names_neither_gene() {
        let mut a = ann();
        a.genes
            .get_mut("RPL3")
            .unwrap()
            .aliases
            .push("SHARED".into());
        a.genes
            .get_mut("MYC")
            .unwrap()
            .aliases
            .push("SHARED".into());
        let m = Masker::new(&scope(&["RPL3", "MYC"]), &a, 1, Hide::Identity);
        assert_eq!(m.mask("SHARED"), AMBIGUOUS);
        assert_eq!(m.leaks("x SHARED y")[0].gene, "several genes");
    }
}
