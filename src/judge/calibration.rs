//! Judge–human calibration: a blinded labelling sheet for a stratified sample of items
//! (`pertaudit label`), and what the labels say about the judges (`stats --labels`):
//!
//! - per judge and for the panel: Cohen's κ against the human labels (three categories:
//!   first strategy, second strategy, tie), sensitivity (the judge picks the pair's first
//!   strategy when the human does) and specificity (the second, likewise), on decisive labels;
//! - per pair, two bias-corrected win rates whose CIs carry the calibration uncertainty:
//!   **Rogan–Gladen** (Rogan & Gladen 1978): the share of items the human would give to s
//!   (decisively), from the panel majority's apparent share p̂ (a panel tie counts half to each
//!   side, in p̂ and in Se/Sp alike, so p̂ = Se·π + (1 − Sp)(1 − π) holds exactly) and its
//!   sensitivity/specificity pooled over pairs, π = (p̂ + Sp − 1)/(Se + Sp − 1) clipped to
//!   [0, 1], CI by bootstrapping the labelled items and the pair's items independently; and
//!   **prediction-powered inference**
//!   (Angelopoulos et al. 2023, `ppi_py.ppi_mean_ci` with `lam = 1`): the human mean score of
//!   s, θ = mean(panel score, unlabelled items) + mean(human − panel, labelled items), with the
//!   normal interval of the two variances.
//!
//! Both intervals treat items as independent; the sheet's sample is drawn across trajectories.

use super::preference::{ItemScore, Verdict};
use crate::data::rows::LabelRow;
use crate::judge::{Key, Task};
use crate::numeric::seed::stream;
use rand::seq::SliceRandom;
use rand::RngExt;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Items to label: `n` items spread evenly over strata (strategy pair × round), in a seeded
/// order within each stratum; returns (item, order "1") in sheet order.
pub fn sample_items(tasks: &[Task], key: &Key, n: usize, seed: u64) -> Vec<(String, String)> {
    let mut strata: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    for t in tasks.iter().filter(|t| t.order == "1") {
        let st = |id: &str| {
            key.batches
                .get(id)
                .map(|(_, s)| s.clone())
                .unwrap_or_default()
        };
        let mut pair = [st(&t.a.id), st(&t.b.id)];
        pair.sort();
        let ctx = key.items.get(&t.item).cloned().unwrap_or_default();
        let round = ctx.rsplit('|').next().unwrap_or("").to_string();
        let [a, b] = pair;
        strata
            .entry((a, b, round))
            .or_default()
            .push(t.item.clone());
    }
    let mut rng = stream(seed, "label/sample");
    for v in strata.values_mut() {
        v.sort();
        v.shuffle(&mut rng);
    }
    let mut out = Vec::new();
    let mut k = 0;
    while out.len() < n && strata.values().any(|v| k < v.len()) {
        for v in strata.values() {
            if out.len() < n && k < v.len() {
                out.push((v[k].clone(), "1".to_string()));
            }
        }
        k += 1;
    }
    out
}

/// Read a labelling sheet; a label other than A, B, tie or empty is refused naming the line.
pub fn read_labels(path: &std::path::Path) -> anyhow::Result<Vec<LabelRow>> {
    let text = crate::data::textio::read_to_string(path)?;
    let rows: Vec<(usize, LabelRow)> = crate::data::rows::parse_csv_lines(&text, path)?;
    for (line, r) in &rows {
        if !matches!(
            r.label.trim().to_ascii_lowercase().as_str(),
            "" | "a" | "b" | "tie"
        ) {
            return Err(crate::data::textio::DataError::field(
                path,
                *line,
                "label",
                format!("expected A, B, tie or empty, got {:?}", r.label),
            )
            .into());
        }
    }
    Ok(rows.into_iter().map(|(_, r)| r).collect())
}

/// What `label` wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    pub csv: std::path::PathBuf,
    pub html: std::path::PathBuf,
    pub rows: usize,
    /// Rows already labelled (kept from an earlier sheet).
    pub labelled: usize,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Write (or resume) the labelling sheet `STEM.csv` and its form `STEM.html` for `n` items
/// of the tasks folder `tasks_dir`. Rows of an existing `STEM.csv` are kept first, labels and
/// all; new sampled items are appended. The sheet shows each item's first order exactly as
/// judges saw it (pathway, batch A, batch B): nothing says which strategy chose which batch.
pub fn write_sheet(
    tasks_dir: &std::path::Path,
    stem: &std::path::Path,
    n: usize,
    seed: u64,
) -> anyhow::Result<Sheet> {
    use anyhow::Context;
    let (tasks, manifest) = crate::judge::load_tasks(tasks_dir)?;
    let key = crate::judge::load_key(tasks_dir, &manifest)?;
    let csv = stem.with_extension("csv");
    let html = stem.with_extension("html");
    let mut rows: Vec<LabelRow> = if csv.exists() {
        crate::data::rows::read_csv(&csv)?
    } else {
        Vec::new()
    };
    let by_item: BTreeMap<(&str, &str), &Task> = tasks
        .iter()
        .map(|t| ((t.item.as_str(), t.order.as_str()), t))
        .collect();
    for (i, r) in rows.iter().enumerate() {
        if !by_item.contains_key(&(r.item.as_str(), r.order.as_str())) {
            anyhow::bail!(
                "{}: line {}: field `item`: {} (order {}) is not a task of {}",
                csv.display(),
                i + 2,
                r.item,
                r.order,
                tasks_dir.display()
            );
        }
    }
    let have: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.item.clone(), r.order.clone()))
        .collect();
    for (item, order) in sample_items(&tasks, &key, n, seed) {
        if rows.len() >= n.max(have.len()) {
            break;
        }
        if !have.contains(&(item.clone(), order.clone())) {
            rows.push(LabelRow {
                item,
                order,
                label: String::new(),
                labeller: String::new(),
                note: String::new(),
            });
        }
    }
    if let Some(dir) = csv.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    crate::data::rows::write_csv(&csv, &rows)?;
    let mut body = String::new();
    for (k, r) in rows.iter().enumerate() {
        let t = by_item[&(r.item.as_str(), r.order.as_str())];
        let batch = |b: &crate::judge::blind::BlindBatch| {
            b.genes
                .iter()
                .map(|g| format!("<li><b>{}</b>: {}</li>", esc(&g.symbol), esc(&g.annotation)))
                .collect::<String>()
        };
        let radio = |v: &str, text: &str| {
            format!(
                "<label><input type=\"radio\" name=\"l{k}\" value=\"{v}\"{}> {text}</label> ",
                if r.label.eq_ignore_ascii_case(v) {
                    " checked"
                } else {
                    ""
                }
            )
        };
        body.push_str(&format!(
            "<section data-item=\"{}\" data-order=\"{}\"><h2>Item {} of {}</h2><p><b>{}</b>{}</p><p>Pathway members ({}): {}</p><div class=\"b\"><div><h3>Batch A</h3><ul>{}</ul></div><div><h3>Batch B</h3><ul>{}</ul></div></div><p>{}{}{}</p><p>Note: <input class=\"note\" size=\"60\" value=\"{}\"></p></section>\n",
            esc(&r.item), esc(&r.order), k + 1, rows.len(),
            esc(&t.pathway.name),
            if t.pathway.description.is_empty() { String::new() } else { format!(": {}", esc(&t.pathway.description)) },
            t.pathway.members.len(), esc(&t.pathway.members.join(", ")),
            batch(&t.a), batch(&t.b),
            radio("A", "Batch A is the better next round"), radio("B", "Batch B"), radio("tie", "Tie"),
            esc(&r.note)
        ));
    }
    let page = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>pertaudit labelling sheet</title>
<style>body{{font-family:sans-serif;max-width:70em;margin:auto}}section{{border-top:1px solid #999;padding:.5em 0}}.b{{display:flex;gap:2em}}.b div{{flex:1}}</style></head><body>
<h1>Labelling sheet</h1>
<p>For each item: which batch is the better next round of knock-downs for the pathway? The batches are blinded: nothing here says how they were chosen. Your choices are kept in this browser as you go; press <b>Save CSV</b> to download <code>{csvname}</code> and put it where the sheet was written (it replaces the file; labelled rows are kept when the sheet is extended).</p>
<p>Labeller: <input id="labeller" value="{labeller}"> <button onclick="save()">Save CSV</button> <span id="count"></span></p>
{body}
<script>
const key = "pertaudit-labels-" + {stem_json};
const secs = [...document.querySelectorAll("section")];
function state() {{ return secs.map((s, k) => {{ const c = s.querySelector("input[type=radio]:checked"); return [s.dataset.item, s.dataset.order, c ? c.value : "", s.querySelector(".note").value]; }}); }}
function count() {{ document.getElementById("count").textContent = state().filter(r => r[2]).length + " of " + secs.length + " labelled"; }}
function keep() {{ localStorage.setItem(key, JSON.stringify({{labeller: document.getElementById("labeller").value, rows: state()}})); count(); }}
const saved = JSON.parse(localStorage.getItem(key) || "null");
if (saved) {{ document.getElementById("labeller").value = saved.labeller; saved.rows.forEach(([item, order, label, note]) => {{ const s = secs.find(x => x.dataset.item === item && x.dataset.order === order); if (!s) return; if (label) s.querySelector("input[value='" + label + "']").checked = true; s.querySelector(".note").value = note; }}); }}
document.addEventListener("change", keep); document.addEventListener("input", keep); count();
function q(v) {{ v = String(v); return /[",\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }}
function save() {{ const who = document.getElementById("labeller").value; const lines = ["item,order,label,labeller,note"].concat(state().map(([i, o, l, n]) => [i, o, l, l ? who : "", n].map(q).join(","))); const a = document.createElement("a"); a.href = URL.createObjectURL(new Blob([lines.join("\n") + "\n"], {{type: "text/csv"}})); a.download = {csvname_json}; a.click(); }}
</script></body></html>
"#,
        csvname = esc(&csv.file_name().unwrap_or_default().to_string_lossy()),
        csvname_json =
            serde_json::to_string(&csv.file_name().unwrap_or_default().to_string_lossy())?,
        stem_json = serde_json::to_string(&stem.display().to_string())?,
        labeller = esc(rows
            .iter()
            .find(|r| !r.labeller.is_empty())
            .map_or("", |r| r.labeller.as_str())),
    );
    crate::data::runfile::write_atomic(&html, page.as_bytes())?;
    Ok(Sheet {
        rows: rows.len(),
        labelled: rows.iter().filter(|r| !r.label.trim().is_empty()).count(),
        csv,
        html,
    })
}

/// Cohen's κ, sensitivity and specificity of one rater against the human labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RaterCalibration {
    pub rater: String,
    /// Labelled items this rater scored.
    pub n: usize,
    pub kappa: f64,
    pub sensitivity: f64,
    pub specificity: f64,
    /// Decisive (human and rater) items behind sensitivity and specificity.
    pub decisive: usize,
}

/// Bias-corrected win rates of one pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairCalibration {
    pub s: String,
    pub t: String,
    pub items: usize,
    pub labelled: usize,
    /// Mean panel score of s (uncorrected).
    pub win_rate: f64,
    /// Mean human score of s on the labelled items.
    pub human_win_rate: f64,
    pub rogan_gladen: f64,
    pub rogan_gladen_ci: (f64, f64),
    pub ppi: f64,
    pub ppi_ci: (f64, f64),
}

/// What the labels say.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// Sheet rows with a label.
    pub labelled: usize,
    /// Labelled rows that match no verdict (item or order unknown).
    pub unmatched: usize,
    pub panel: RaterCalibration,
    pub judges: Vec<RaterCalibration>,
    pub pairs: Vec<PairCalibration>,
}

/// Category of a score for the first strategy: 0 first wins, 1 second wins, 2 tie.
fn category(score: f64) -> usize {
    if score > 0.5 {
        0
    } else if score < 0.5 {
        1
    } else {
        2
    }
}

/// The rater's call as a share for the first strategy: 1, ½ (a tie counts half to each
/// side), 0.
fn call(score: f64) -> f64 {
    match category(score) {
        0 => 1.0,
        1 => 0.0,
        _ => 0.5,
    }
}

fn rater(name: &str, pairs: &[(f64, f64)]) -> RaterCalibration {
    let h: Vec<usize> = pairs.iter().map(|p| category(p.0)).collect();
    let r: Vec<usize> = pairs.iter().map(|p| category(p.1)).collect();
    // Over decisive human labels; the rater's tie counts half, so that the apparent share
    // (ties halved too) is exactly Se·π + (1 − Sp)(1 − π).
    let (mut tp, mut pos, mut tn, mut neg) = (0.0, 0, 0.0, 0);
    for (a, p) in h.iter().zip(pairs) {
        match a {
            0 => (tp, pos) = (tp + call(p.1), pos + 1),
            1 => (tn, neg) = (tn + 1.0 - call(p.1), neg + 1),
            _ => {}
        }
    }
    RaterCalibration {
        rater: name.to_string(),
        n: pairs.len(),
        kappa: if pairs.is_empty() {
            f64::NAN
        } else {
            crate::stats::cohen_kappa(&h, &r, 3)
        },
        sensitivity: tp / pos as f64,
        specificity: tn / neg as f64,
        decisive: pos + neg,
    }
}

/// Rogan–Gladen: the true share from an apparent share and the classifier's Se/Sp, clipped
/// to [0, 1]; NaN when Se + Sp ≤ 1 (the classifier carries no information).
pub fn rogan_gladen(apparent: f64, sensitivity: f64, specificity: f64) -> f64 {
    let j = sensitivity + specificity - 1.0;
    if j <= 0.0 || !j.is_finite() {
        return f64::NAN;
    }
    ((apparent + specificity - 1.0) / j).clamp(0.0, 1.0)
}

/// Prediction-powered mean (classic PPI, λ = 1) with its normal interval at level 1 − α:
/// (estimate, low, high). Standard deviations with ddof 0, as `ppi_py`.
pub fn ppi_mean(y: &[f64], yhat: &[f64], yhat_unlabelled: &[f64], alpha: f64) -> (f64, f64, f64) {
    use statrs::distribution::{ContinuousCDF, Normal};
    let (n, big_n) = (y.len() as f64, yhat_unlabelled.len() as f64);
    if y.is_empty() || yhat_unlabelled.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let var0 = |v: &[f64]| {
        let m = mean(v);
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64
    };
    let rect: Vec<f64> = y.iter().zip(yhat).map(|(a, b)| a - b).collect();
    let est = mean(yhat_unlabelled) + mean(&rect);
    let se = (var0(yhat_unlabelled) / big_n + var0(&rect) / n).sqrt();
    let z = Normal::standard().inverse_cdf(1.0 - alpha / 2.0);
    (est, est - z * se, est + z * se)
}

/// The human score of each labelled item for the item's first strategy (alphabetical),
/// and how many labelled rows matched no verdict.
pub fn human_scores(verdicts: &[Verdict], labels: &[LabelRow]) -> (BTreeMap<String, f64>, usize) {
    // (item, order) → strategy shown as A
    let shown_a: BTreeMap<(&str, &str), (&str, &str)> = verdicts
        .iter()
        .map(|v| {
            (
                (v.item.as_str(), v.order.as_str()),
                (v.strategy_a.as_str(), v.strategy_b.as_str()),
            )
        })
        .collect();
    let mut out = BTreeMap::new();
    let mut unmatched = 0;
    for l in labels {
        let label = l.label.trim().to_ascii_lowercase();
        if label.is_empty() {
            continue;
        }
        let Some(&(a, b)) = shown_a.get(&(l.item.as_str(), l.order.as_str())) else {
            unmatched += 1;
            continue;
        };
        let first_is_a = a < b;
        let score = match (label.as_str(), first_is_a) {
            ("a", true) | ("b", false) => 1.0,
            ("b", true) | ("a", false) => 0.0,
            _ => 0.5,
        };
        out.insert(l.item.clone(), score);
    }
    (out, unmatched)
}

/// Calibrate the panel and each judge against the human labels.
pub fn calibrate(
    verdicts: &[Verdict],
    items: &[ItemScore],
    labels: &[LabelRow],
    resamples: usize,
    seed: u64,
    alpha: f64,
) -> Calibration {
    let (human, unmatched) = human_scores(verdicts, labels);
    let labelled_items: Vec<&ItemScore> = items
        .iter()
        .filter(|i| human.contains_key(&i.item))
        .collect();
    let panel_pairs: Vec<(f64, f64)> = labelled_items
        .iter()
        .filter_map(|i| i.majority.map(|m| (human[&i.item], m)))
        .collect();
    let judges: BTreeSet<&String> = items.iter().flat_map(|i| i.per_judge.keys()).collect();
    let judge_cal = judges
        .iter()
        .map(|j| {
            let p: Vec<(f64, f64)> = labelled_items
                .iter()
                .filter_map(|i| i.per_judge.get(*j).map(|s| (human[&i.item], *s)))
                .collect();
            rater(j, &p)
        })
        .collect();
    let panel = rater("panel (majority)", &panel_pairs);
    // Se/Sp of the panel majority, pooled over pairs; bootstrap the labelled items.
    let se_sp = |pairs: &[(f64, f64)]| {
        let r = rater("", pairs);
        (r.sensitivity, r.specificity)
    };
    let mut by_pair: BTreeMap<(&str, &str), Vec<&ItemScore>> = BTreeMap::new();
    for i in items.iter().filter(|i| i.panel.is_some()) {
        by_pair
            .entry((i.first.as_str(), i.second.as_str()))
            .or_default()
            .push(i);
    }
    let mut pairs = Vec::new();
    for ((s, t), its) in by_pair {
        let decisive: Vec<f64> = its.iter().filter_map(|i| i.majority).map(call).collect();
        let apparent = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (se, sp) = se_sp(&panel_pairs);
        let rg = rogan_gladen(apparent(&decisive), se, sp);
        let mut rng = stream(seed, &format!("bootstrap/calibration/{s}/{t}"));
        let boots: Vec<f64> = (0..resamples)
            .map(|_| {
                let lab: Vec<(f64, f64)> = (0..panel_pairs.len())
                    .map(|_| panel_pairs[rng.random_range(0..panel_pairs.len())])
                    .collect();
                let dec: Vec<f64> = (0..decisive.len())
                    .map(|_| decisive[rng.random_range(0..decisive.len())])
                    .collect();
                let (se, sp) = se_sp(&lab);
                rogan_gladen(apparent(&dec), se, sp)
            })
            .collect();
        let lab: Vec<&&ItemScore> = its.iter().filter(|i| human.contains_key(&i.item)).collect();
        let y: Vec<f64> = lab.iter().map(|i| human[&i.item]).collect();
        let yhat: Vec<f64> = lab.iter().filter_map(|i| i.panel).collect();
        let unlab: Vec<f64> = its
            .iter()
            .filter(|i| !human.contains_key(&i.item))
            .filter_map(|i| i.panel)
            .collect();
        let (ppi, lo, hi) = if y.len() >= 2 {
            ppi_mean(&y, &yhat, &unlab, alpha)
        } else {
            (f64::NAN, f64::NAN, f64::NAN)
        };
        pairs.push(PairCalibration {
            s: s.to_string(),
            t: t.to_string(),
            items: its.len(),
            labelled: y.len(),
            win_rate: its.iter().filter_map(|i| i.panel).sum::<f64>() / its.len() as f64,
            human_win_rate: y.iter().sum::<f64>() / y.len() as f64,
            rogan_gladen: rg,
            rogan_gladen_ci: crate::stats::percentile_ci(boots, alpha),
            ppi,
            ppi_ci: (lo, hi),
        });
    }
    Calibration {
        labelled: human.len(),
        unmatched,
        panel,
        judges: judge_cal,
        pairs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rogan_gladen_inverts_misclassification() {
        // true share 0.3 seen through Se 0.9, Sp 0.8: apparent 0.3·0.9 + 0.7·0.2 = 0.41
        assert!((rogan_gladen(0.41, 0.9, 0.8) - 0.3).abs() < 1e-12);
        assert!(rogan_gladen(0.5, 0.5, 0.5).is_nan());
        assert_eq!(rogan_gladen(0.05, 0.9, 0.8), 0.0);
    }
}
