//! Typed rows of the CSV run files (`metrics.csv`, `curve.csv`, `verdicts.csv`), written and
//! read through the `csv` crate by every writer and reader, so quoting is handled once and a
//! column is named once.
//!
//! Numbers are written as Rust's shortest round-trip decimal (`Display` of `f64`) and NaN as
//! `NA`; [`Num`] carries that convention both ways, so a file read back holds the same bits.

use crate::data::textio::{self, DataError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::Path;

/// A number in a run file: shortest round-trip decimal, `NA` for NaN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Num(pub f64);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_nan() {
            s.serialize_str("NA")
        } else {
            s.collect_str(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        match s.trim() {
            "NA" | "NaN" | "nan" | "" => Ok(Num(f64::NAN)),
            t => t
                .parse::<f64>()
                .map(Num)
                .map_err(|_| serde::de::Error::custom(format!("not a number: {t:?}"))),
        }
    }
}

/// A row type with a fixed header (written even when there are no rows).
pub trait Row: Serialize + DeserializeOwned {
    const HEADER: &'static [&'static str];
    /// Columns a reader may find missing (written all the same).
    const OPTIONAL: &'static [&'static str] = &[];
}

/// One `metrics.csv` row: a (seed, strategy, round) and the model's and the
/// mean-of-training baseline's scores on the held-out perturbations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsRow {
    pub seed: u64,
    pub strategy: String,
    pub round: usize,
    pub n_train: usize,
    pub pearson_delta: Num,
    pub top20_pearson: Num,
    pub top20_mse: Num,
    pub auroc_de: Num,
    pub auprc_de: Num,
    pub direction_accuracy: Num,
    pub baseline_pearson_delta: Num,
    pub baseline_top20_pearson: Num,
    pub baseline_top20_mse: Num,
    pub baseline_auroc_de: Num,
    /// Spearman of predicted variance against realised squared error on the next batch.
    pub calibration_spearman: Num,
}

impl Row for MetricsRow {
    const HEADER: &'static [&'static str] = &[
        "seed",
        "strategy",
        "round",
        "n_train",
        "pearson_delta",
        "top20_pearson",
        "top20_mse",
        "auroc_de",
        "auprc_de",
        "direction_accuracy",
        "baseline_pearson_delta",
        "baseline_top20_pearson",
        "baseline_top20_mse",
        "baseline_auroc_de",
        "calibration_spearman",
    ];
}

impl MetricsRow {
    /// A metric column by name (`None` for an unknown name).
    pub fn metric(&self, name: &str) -> Option<f64> {
        Some(
            match name {
                "pearson_delta" => self.pearson_delta,
                "top20_pearson" => self.top20_pearson,
                "top20_mse" => self.top20_mse,
                "auroc_de" => self.auroc_de,
                "auprc_de" => self.auprc_de,
                "direction_accuracy" => self.direction_accuracy,
                "baseline_pearson_delta" => self.baseline_pearson_delta,
                "baseline_top20_pearson" => self.baseline_top20_pearson,
                "baseline_top20_mse" => self.baseline_top20_mse,
                "baseline_auroc_de" => self.baseline_auroc_de,
                "calibration_spearman" => self.calibration_spearman,
                _ => return None,
            }
            .0,
        )
    }
}

/// One `curve.csv` row: the mean and SE over seeds of one metric, per strategy and round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurveRow {
    pub metric: String,
    pub strategy: String,
    pub round: usize,
    pub n_train: Num,
    pub n_seeds: usize,
    pub mean: Num,
    pub se: Num,
}

impl Row for CurveRow {
    const HEADER: &'static [&'static str] = &[
        "metric", "strategy", "round", "n_train", "n_seeds", "mean", "se",
    ];
}

/// One `verdicts.csv` row: one judge's answer on one order of one item. `winner` is `A`,
/// `B`, `tie` or `failure`. Extra columns are allowed when reading (and ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictRow {
    pub item: String,
    pub judge: String,
    pub order: String,
    pub strategy_a: String,
    pub strategy_b: String,
    pub winner: String,
    /// The independent unit the item belongs to (one seed of one pathway: its rounds share
    /// batches); optional when reading.
    #[serde(default)]
    pub trajectory: Option<String>,
    /// The context (screen, pathway, seed, round) whose batches the item compares; optional.
    #[serde(default)]
    pub context: Option<String>,
}

impl Row for VerdictRow {
    const HEADER: &'static [&'static str] = &[
        "item",
        "judge",
        "order",
        "strategy_a",
        "strategy_b",
        "winner",
        "trajectory",
        "context",
    ];
    const OPTIONAL: &'static [&'static str] = &["trajectory", "context"];
}

/// One trial of one judge on one order of one item (`trials.csv` of `judge --repeats K` or
/// `--paraphrase`): trial 0 of the original template is the verdict in `verdicts.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRow {
    pub item: String,
    pub judge: String,
    pub order: String,
    pub trial: u32,
    /// `original` or `paraphrase`.
    pub template: String,
    pub strategy_a: String,
    pub strategy_b: String,
    pub winner: String,
}

impl Row for TrialRow {
    const HEADER: &'static [&'static str] = &[
        "item",
        "judge",
        "order",
        "trial",
        "template",
        "strategy_a",
        "strategy_b",
        "winner",
    ];
}

/// One row of a human labelling sheet (`pertaudit label`): the labeller's verdict on one
/// order of one item, `A`, `B`, `tie`, or empty while unlabelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelRow {
    pub item: String,
    pub order: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub labeller: String,
    #[serde(default)]
    pub note: String,
}

impl Row for LabelRow {
    const HEADER: &'static [&'static str] = &["item", "order", "label", "labeller", "note"];
    const OPTIONAL: &'static [&'static str] = &["labeller", "note"];
}

/// The CSV text of some rows, header first.
pub fn to_csv<T: Row>(rows: &[T]) -> String {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(T::HEADER).expect("in memory");
    for r in rows {
        w.serialize(r).expect("a row serialises");
    }
    String::from_utf8(w.into_inner().expect("in memory")).expect("utf-8")
}

/// Write rows atomically.
pub fn write_csv<T: Row>(path: &Path, rows: &[T]) -> std::io::Result<()> {
    crate::data::runfile::write_atomic(path, to_csv(rows).as_bytes())
}

/// Read rows from CSV text (`path` names the source in errors). Columns are found by header
/// name, fields are trimmed, blank lines skipped; an error names the line and the field.
pub fn parse_csv<T: Row>(text: &str, path: &Path) -> Result<Vec<T>, DataError> {
    Ok(parse_csv_lines(text, path)?
        .into_iter()
        .map(|(_, r)| r)
        .collect())
}

/// Rows with the line each starts on.
pub fn parse_csv_lines<T: Row>(text: &str, path: &Path) -> Result<Vec<(usize, T)>, DataError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let header: Vec<String> = r
        .headers()
        .map_err(|e| DataError::field(path, 1, "header", e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    for want in T::HEADER {
        if !T::OPTIONAL.contains(want) && !header.iter().any(|h| h == want) {
            return Err(DataError::field(path, 1, want, "missing column"));
        }
    }
    let hdr = csv::StringRecord::from(header.clone());
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            DataError::field(path, line, "row", e.to_string())
        })?;
        if rec.iter().all(str::is_empty) {
            continue;
        }
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let row: T = rec.deserialize(Some(&hdr)).map_err(|e| {
            let (field, msg) = match e.kind() {
                csv::ErrorKind::Deserialize { err, .. } => (
                    err.field()
                        .and_then(|i| header.get(i as usize))
                        .cloned()
                        .unwrap_or_else(|| "row".into()),
                    err.kind().to_string(),
                ),
                _ => ("row".to_string(), e.to_string()),
            };
            DataError::field(path, line, &field, msg)
        })?;
        out.push((line, row));
    }
    Ok(out)
}

/// Read rows from a (possibly gzipped) CSV file.
pub fn read_csv<T: Row>(path: &Path) -> Result<Vec<T>, DataError> {
    parse_csv(&textio::read_to_string(path)?, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_with_na() {
        let rows = vec![CurveRow {
            metric: "pearson_delta".into(),
            strategy: "a,b \"q\"".into(),
            round: 2,
            n_train: Num(64.0),
            n_seeds: 5,
            mean: Num(0.1 + 0.2),
            se: Num(f64::NAN),
        }];
        let t = to_csv(&rows);
        assert_eq!(
            t,
            "metric,strategy,round,n_train,n_seeds,mean,se\npearson_delta,\"a,b \"\"q\"\"\",2,64,5,0.30000000000000004,NA\n"
        );
        let back: Vec<CurveRow> = parse_csv(&t, Path::new("curve.csv")).unwrap();
        assert_eq!(back[0].strategy, rows[0].strategy);
        assert_eq!(back[0].mean.0.to_bits(), (0.1f64 + 0.2).to_bits());
        assert!(back[0].se.0.is_nan());
    }

    #[test]
    fn empty_writes_header_and_errors_name_line_and_field() {
        assert_eq!(
            to_csv::<VerdictRow>(&[]),
            "item,judge,order,strategy_a,strategy_b,winner,trajectory,context\n"
        );
        let e = parse_csv::<CurveRow>(
            "metric,strategy,round,n_train,n_seeds,mean,se\nm,s,1,2,3,0.5,0.1\nm,s,x,2,3,0.5,0.1\n",
            Path::new("c.csv"),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "c.csv:3: field `round`: invalid digit found in string");
        let e = parse_csv::<VerdictRow>("item,judge\n", Path::new("v.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("v.csv:1: field `order`: missing column"), "{e}");
    }
}
