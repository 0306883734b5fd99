//! Symbol masking: every symbol and alias of the genes in a prompt replaced by a stable opaque
//! ID (seeded), everywhere it appears; and the leak check that proves none survived.
//!
//! Matching is whole-token (the neighbours of a match are not letters or digits), case-
//! insensitive for names of three or more characters and exact for two-character names;
//! one-character aliases are not names.

use crate::data::annotation::Annotations;
use crate::data::runfile::sha256_bytes;
use std::collections::BTreeMap;

pub struct Masker {
    /// (name, id), longest names first.
    names: Vec<(String, String)>,
    /// symbol → id.
    pub ids: BTreeMap<String, String>,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric()
}

fn matches_at(text: &str, at: usize, name: &str) -> bool {
    let Some(slice) = text.get(at..at + name.len()) else {
        return false;
    };
    let same = if name.chars().count() >= 3 {
        slice.eq_ignore_ascii_case(name)
    } else {
        slice == name
    };
    if !same {
        return false;
    }
    let before = text[..at].chars().next_back().is_none_or(|c| !is_word(c));
    let after = text[at + name.len()..]
        .chars()
        .next()
        .is_none_or(|c| !is_word(c));
    before && after
}

impl Masker {
    /// A masker for `symbols` (and their aliases from the gene table). IDs are
    /// `X` + 6 hex digits of sha256(seed ‖ symbol), lengthened on a collision.
    pub fn new(symbols: &[String], ann: &Annotations, seed: u64) -> Masker {
        let mut ids: BTreeMap<String, String> = BTreeMap::new();
        let mut used = std::collections::BTreeSet::new();
        let mut syms: Vec<&String> = symbols.iter().collect();
        syms.sort();
        syms.dedup();
        for s in syms {
            let h = sha256_bytes(format!("{seed}|mask|{s}").as_bytes()).to_uppercase();
            let mut len = 6;
            let mut id = format!("X{}", &h[..len]);
            while used.contains(&id) {
                len += 1;
                id = format!("X{}", &h[..len]);
            }
            used.insert(id.clone());
            ids.insert(s.clone(), id);
        }
        let mut names: Vec<(String, String)> = Vec::new();
        for (s, id) in &ids {
            names.push((s.clone(), id.clone()));
            if let Some(info) = ann.genes.get(s) {
                for a in &info.aliases {
                    if a.chars().count() >= 2 {
                        names.push((a.clone(), id.clone()));
                    }
                }
            }
        }
        names.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        names.dedup_by(|a, b| a.0 == b.0);
        Masker { names, ids }
    }

    /// Replace every name by its gene's ID.
    pub fn mask(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        'outer: while i < text.len() {
            for (name, id) in &self.names {
                if matches_at(text, i, name) {
                    out.push_str(id);
                    i += name.len();
                    continue 'outer;
                }
            }
            let c = text[i..].chars().next().expect("char");
            out.push(c);
            i += c.len_utf8();
        }
        out
    }

    /// Names that still occur in `text` (empty when masking is complete).
    pub fn leaks(&self, text: &str) -> Vec<String> {
        let mut found = std::collections::BTreeSet::new();
        for (i, _) in text.char_indices() {
            for (name, _) in &self.names {
                if matches_at(text, i, name) {
                    found.insert(name.clone());
                }
            }
        }
        found.into_iter().collect()
    }

    pub fn id(&self, symbol: &str) -> Option<&str> {
        self.ids.get(symbol).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::annotation::GeneInfo;

    fn ann() -> Annotations {
        let mut a = Annotations::default();
        for (s, al) in [
            ("RPL3", vec!["ASC-1", "L3", "TARBP-B"]),
            ("TP53", vec!["P53", "LFS1", "p53"]),
            ("MYC", vec!["c-Myc", "MYCC"]),
        ] {
            a.genes.insert(
                s.into(),
                GeneInfo {
                    symbol: s.into(),
                    name: String::new(),
                    aliases: al.into_iter().map(String::from).collect(),
                },
            );
        }
        a
    }

    #[test]
    fn masks_symbols_and_aliases_everywhere_and_is_stable() {
        let m = Masker::new(&["RPL3".into(), "TP53".into(), "MYC".into()], &ann(), 7);
        let t = "RPL3 (alias L3, ASC-1) binds c-Myc; p53/TP53-dependent; MYCN and RPL35 are other genes. Rpl3 in mouse.";
        let masked = m.mask(t);
        assert!(m.leaks(&masked).is_empty(), "{masked}");
        assert!(
            masked.contains("MYCN") && masked.contains("RPL35"),
            "{masked}"
        );
        assert_eq!(masked.matches(m.id("RPL3").unwrap()).count(), 4, "{masked}");
        assert_eq!(
            Masker::new(&["MYC".into()], &ann(), 7).id("MYC"),
            m.id("MYC")
        );
        assert_ne!(
            Masker::new(&["MYC".into()], &ann(), 8).id("MYC"),
            m.id("MYC")
        );
        assert_eq!(
            m.leaks(t),
            // "P53" and "p53" are both listed aliases; each matches case-insensitively.
            vec!["ASC-1", "L3", "MYC", "P53", "RPL3", "TP53", "c-Myc", "p53"]
        );
    }
}
