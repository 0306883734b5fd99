//! Reading delimited text (plain or gzip) with file, line and field positions kept for errors.

use flate2::read::MultiGzDecoder;
use rustc_hash::FxHashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// An input-data error that names the file, and where it can, the line and field.
#[derive(Debug, Error)]
pub enum DataError {
    #[error("{path}: cannot read: {err}")]
    Io {
        path: PathBuf,
        /// Not `source`: the message already holds it, and a source would be printed twice
        /// by error chains.
        err: std::io::Error,
    },
    #[error("{path}:{line}: field `{field}`: {msg}")]
    Field {
        path: PathBuf,
        line: usize,
        field: String,
        msg: String,
    },
    #[error("{path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
}

/// Names interned in first-seen order: each name stored once, looked up as a `u32` id (the
/// loaders meet each gene or term on 10⁵–10⁶ lines).
#[derive(Debug, Clone, Default)]
pub struct Interner {
    /// The names by id.
    pub names: Vec<String>,
    /// Fx hashing: a look-up per line of a 10⁵–10⁶-line file (SipHash was a visible part
    /// of loading; nothing iterates this map, so its order never shows).
    index: FxHashMap<String, u32>,
    /// The last name's id: files list one perturbation's (or gene's) lines together, so most
    /// look-ups repeat the previous one and need no hashing.
    last: Option<u32>,
}

impl Interner {
    /// The id of `s`, added if new.
    pub fn id(&mut self, s: &str) -> u32 {
        if let Some(i) = self.last.filter(|&i| self.names[i as usize] == s) {
            return i;
        }
        let i = match self.index.get(s) {
            Some(&i) => i,
            None => {
                let i = u32::try_from(self.names.len()).expect("fewer than 2³² names");
                self.names.push(s.to_string());
                self.index.insert(s.to_string(), i);
                i
            }
        };
        self.last = Some(i);
        i
    }

    /// The id of `s`, if it was added.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.index.get(s).copied()
    }

    /// The number of names (ids run 0..this).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

impl DataError {
    /// A field error; the field name and message are clipped (they may echo input).
    pub fn field(path: &Path, line: usize, field: &str, msg: impl Into<String>) -> Self {
        DataError::Field {
            path: path.to_path_buf(),
            line,
            field: clip(field, 80),
            msg: clip(&msg.into(), 400),
        }
    }
    pub fn invalid(path: &Path, msg: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.to_path_buf(),
            msg: clip(&msg.into(), 400),
        }
    }
}

/// Open a file for buffered reading, transparently gunzipping `.gz` files.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>, DataError> {
    let f = File::open(path).map_err(|err| DataError::Io {
        path: path.to_path_buf(),
        err,
    })?;
    let mut r = BufReader::with_capacity(1 << 16, f);
    let gz = {
        let buf = r.fill_buf().map_err(|err| DataError::Io {
            path: path.to_path_buf(),
            err,
        })?;
        buf.len() >= 2 && buf[0] == 0x1f && buf[1] == 0x8b
    };
    let mut r: Box<dyn BufRead> = if gz {
        Box::new(BufReader::with_capacity(1 << 16, MultiGzDecoder::new(r)))
    } else {
        Box::new(r)
    };
    // A UTF-8 byte-order mark (spreadsheet exports) is not part of the first field's name.
    let bom = {
        let buf = r.fill_buf().map_err(|err| DataError::Io {
            path: path.to_path_buf(),
            err,
        })?;
        buf.starts_with(BOM)
    };
    if bom {
        r.consume(BOM.len());
    }
    Ok(r)
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A text without its leading UTF-8 byte-order mark, if it has one.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// At most `max` characters of `s` for an error message, with the total length when clipped
/// (an error must not echo a 10 MB field).
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}… ({} bytes in all)", &s[..i], s.len()),
    }
}

/// Read a whole (possibly gzipped) file to a string.
pub fn read_to_string(path: &Path) -> Result<String, DataError> {
    let mut s = String::new();
    open(path)?
        .read_to_string(&mut s)
        .map_err(|err| DataError::Io {
            path: path.to_path_buf(),
            err,
        })?;
    Ok(s)
}

/// The field delimiter for a file: tab for `.tsv`/`.tab`/`.gmt` (also under `.gz`), comma for
/// `.csv`; otherwise guessed from the first line.
pub fn delimiter_for(path: &Path, first_line: &str) -> char {
    let name = path
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let tabbed = name.ends_with(".tsv") || name.ends_with(".tab") || name.ends_with(".gmt");
    if name.ends_with(".csv") {
        ','
    } else if tabbed || first_line.contains('\t') {
        '\t'
    } else {
        ','
    }
}

/// A delimited table read line by line: `header` holds the column names; each `next_record`
/// yields `(line_number, fields)` with 1-based line numbers.
pub struct Table {
    pub path: PathBuf,
    pub header: Vec<String>,
    pub delim: char,
    reader: Box<dyn BufRead>,
    line_no: usize,
    buf: String,
}

impl Table {
    pub fn open(path: &Path) -> Result<Table, DataError> {
        let mut reader = open(path)?;
        let mut buf = String::new();
        let n = reader.read_line(&mut buf).map_err(|err| DataError::Io {
            path: path.to_path_buf(),
            err,
        })?;
        if n == 0 {
            return Err(DataError::invalid(path, "file is empty (no header line)"));
        }
        let first = buf.trim_end_matches(['\n', '\r']).to_string();
        let delim = delimiter_for(path, &first);
        let header = split_line(&first, delim);
        Ok(Table {
            path: path.to_path_buf(),
            header,
            delim,
            reader,
            line_no: 1,
            buf: String::new(),
        })
    }

    /// Index of a named column, or an error naming the file and the missing column.
    pub fn column(&self, name: &str) -> Result<usize, DataError> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            DataError::field(
                &self.path,
                1,
                name,
                format!("missing column (header has: {})", self.header.join(", ")),
            )
        })
    }

    /// Next non-empty record, with its line number.
    pub fn next_record(&mut self) -> Result<Option<(usize, Vec<String>)>, DataError> {
        let mut rec = Vec::new();
        Ok(self.next_record_into(&mut rec)?.map(|line| (line, rec)))
    }

    /// [`Table::next_record`] into `rec`, reusing its strings' memory (the hot loaders read
    /// 10⁵–10⁶ records: one allocation per field was most of their time). Returns the line
    /// number, or `None` at the end; `rec` then holds the record's fields.
    pub fn next_record_into(&mut self, rec: &mut Vec<String>) -> Result<Option<usize>, DataError> {
        loop {
            self.buf.clear();
            let n = self
                .reader
                .read_line(&mut self.buf)
                .map_err(|err| DataError::Io {
                    path: self.path.clone(),
                    err,
                })?;
            if n == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            let line = self.buf.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                continue;
            }
            if self.delim != ',' || !line.contains('"') {
                let mut used = 0;
                for field in line.split(self.delim) {
                    if used < rec.len() {
                        rec[used].clear();
                        rec[used].push_str(field);
                    } else {
                        rec.push(field.to_string());
                    }
                    used += 1;
                }
                rec.truncate(used);
            } else {
                *rec = split_line(line, self.delim);
            }
            return Ok(Some(self.line_no));
        }
    }

    /// A field of a record by column index; an error naming file, line and column when short.
    pub fn get<'a>(
        &self,
        line: usize,
        rec: &'a [String],
        col: usize,
    ) -> Result<&'a str, DataError> {
        rec.get(col).map(|s| s.as_str()).ok_or_else(|| {
            DataError::field(
                &self.path,
                line,
                &self.header[col],
                format!(
                    "row has {} fields, header has {}",
                    rec.len(),
                    self.header.len()
                ),
            )
        })
    }

    /// Parse a finite number from a field.
    pub fn number(&self, line: usize, rec: &[String], col: usize) -> Result<f64, DataError> {
        let s = self.get(line, rec, col)?;
        parse_finite(s).ok_or_else(|| {
            DataError::field(
                &self.path,
                line,
                &self.header[col],
                format!("not a finite number: {s:?}"),
            )
        })
    }
}

/// Parse a finite f64 (NaN and infinities are rejected).
pub fn parse_finite(s: &str) -> Option<f64> {
    let v: f64 = s.trim().parse().ok()?;
    v.is_finite().then_some(v)
}

/// Split one line on the delimiter, honouring double quotes for CSV.
pub fn split_line(line: &str, delim: char) -> Vec<String> {
    if delim != ',' || !line.contains('"') {
        return line.split(delim).map(|s| s.to_string()).collect();
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            c if c == delim && !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_csv() {
        assert_eq!(
            split_line(r#"a,"b,c","d""e""#, ','),
            vec!["a", "b,c", "d\"e"]
        );
        assert_eq!(split_line("a\tb", '\t'), vec!["a", "b"]);
    }

    /// Reading into a reused record gives every record's fields as a fresh record
    /// (`next_record`) does: longer and shorter rows, quoted CSV fields and blank lines.
    #[test]
    fn reused_records_are_the_fresh_ones() {
        let dir = std::env::temp_dir().join(format!("pertaudit-textio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.csv");
        std::fs::write(&p, "a,b,c\n1,2,3\n\nx,\"y,z\",w\n4,5\n6,7,8,9\n,,\n").unwrap();
        let (mut fresh, mut reused) = (Table::open(&p).unwrap(), Table::open(&p).unwrap());
        let mut rec = Vec::new();
        loop {
            let a = fresh.next_record().unwrap();
            let b = reused.next_record_into(&mut rec).unwrap();
            match (a, b) {
                (Some((la, ra)), Some(lb)) => assert_eq!((la, ra), (lb, rec.clone())),
                (None, None) => break,
                other => panic!("{other:?}"),
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn rejects_nan() {
        assert_eq!(parse_finite("NaN"), None);
        assert_eq!(parse_finite("inf"), None);
        assert_eq!(parse_finite(" 1.5"), Some(1.5));
    }
}
