//! `pertaudit stats`: the panel statistics of a judged run or a plain verdict CSV, as tables
//! or JSON.

use crate::cli::args::StatsArgs;
use anyhow::{bail, Result};
use serde_json::json;

/// Everything `stats` reports for one set of verdicts (computed once by `judge::panel`).
fn stats_block(verdicts: &[crate::judge::preference::Verdict], a: &StatsArgs) -> serde_json::Value {
    let o = crate::judge::panel::PanelOptions {
        resamples: a.resamples,
        seed: a.seed,
        alpha: a.alpha,
        margin: Some(a.margin),
    };
    serde_json::to_value(crate::judge::panel::panel_stats(verdicts, &o)).expect("serialisable")
}

fn print_block(title: &str, b: &serde_json::Value) -> Result<()> {
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    outln!("{title}");
    outln!(
        "{:<12} {:<12} {:>5} {:>4}/{:>4}/{:>4} {:>8} {:>17} {:>17} {:>9} {:>9}",
        "s",
        "t",
        "items",
        "win",
        "loss",
        "tie",
        "win rate",
        "bootstrap CI",
        "Wilson CI",
        "sign p",
        "Holm p"
    );
    for p in b["pairs"].as_array().into_iter().flatten() {
        outln!(
            "{:<12} {:<12} {:>5} {:>4}/{:>4}/{:>4} {:>8.3} {:>17} {:>17} {:>9.4} {:>9.4}",
            p["s"].as_str().unwrap_or(""),
            p["t"].as_str().unwrap_or(""),
            p["items"],
            p["wins"],
            p["losses"],
            p["ties"],
            f(&p["win_rate"]),
            format!(
                "[{:.3}, {:.3}]",
                f(&p["bootstrap_ci"][0]),
                f(&p["bootstrap_ci"][1])
            ),
            format!(
                "[{:.3}, {:.3}]",
                f(&p["wilson_ci"][0]),
                f(&p["wilson_ci"][1])
            ),
            f(&p["sign_test_p"]),
            f(&p["holm_p"])
        );
    }
    if b["trajectories"].is_u64() {
        outln!(
            "clustered ({} independent trajectories): trajectory-level sign test, two-stage cluster bootstrap (trajectories, then contexts)",
            b["trajectories"]
        );
        print_clustered(&b["pairs"])?;
    } else {
        for p in b["pairs"].as_array().into_iter().flatten() {
            let eq = &p["equivalence"];
            if eq.is_object() {
                outln!(
                    "  {} vs {}: {} within [{}, {}] (TOST over items, p {:.4}; no trajectories given, so items are treated as independent)",
                    p["s"].as_str().unwrap_or(""),
                    p["t"].as_str().unwrap_or(""),
                    eq["verdict"].as_str().unwrap_or(""),
                    eq["low"],
                    eq["high"],
                    f(&eq["p_tost"])
                );
            }
        }
    }
    if let Some(pr) = b["primary"].as_object() {
        outln!(
            "primary judged round (round {}, {} items)",
            pr["round"],
            pr["items"]
        );
        print_clustered(&pr["pairs"])?;
    }
    for (key, label) in [
        (
            "bradley_terry",
            "Bradley–Terry (Davidson, log-strengths sum 0)",
        ),
        (
            "bradley_terry_tie_half",
            "Bradley–Terry (ties as halves, log-strengths sum 0)",
        ),
    ] {
        let bt = &b[key];
        match bt["note"].as_str() {
            Some(n) => outln!("{label}: not estimable: {n}"),
            None => {
                let parts: Vec<String> = bt["strategies"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, s)| {
                        format!(
                            "{} {:+.3} [{:+.3}, {:+.3}]",
                            s.as_str().unwrap_or(""),
                            f(&bt["theta"][i]),
                            f(&bt["theta_ci"][i][0]),
                            f(&bt["theta_ci"][i][1])
                        )
                    })
                    .collect();
                let nu = f(&bt["nu"]);
                let nu = if nu.is_finite() {
                    format!("; ν {nu:.3}")
                } else {
                    String::new()
                };
                outln!("{label}{nu}: {}", parts.join("; "));
            }
        }
    }
    let need: Vec<String> = b["power"]["items_needed"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| format!("{} → {}", x["win_rate"], x["items"]))
        .collect();
    outln!(
        "power 0.8 under Holm over {} pairs, decisive items per pair for a true win rate: {}",
        b["power"]["pairs"],
        need.join(", ")
    );
    let ag = &b["agreement"];
    outln!(
        "agreement over {} units ({} complete): Fleiss κ {:.3} [{:.3}, {:.3}], Krippendorff α {:.3} [{:.3}, {:.3}]",
        ag["units"], ag["complete_units"], f(&ag["fleiss_kappa"]), f(&ag["fleiss_ci"][0]), f(&ag["fleiss_ci"][1]),
        f(&ag["krippendorff_alpha"]), f(&ag["krippendorff_ci"][0]), f(&ag["krippendorff_ci"][1])
    );
    for c in ag["cohen"].as_array().into_iter().flatten() {
        outln!(
            "  Cohen κ {} × {}: {:.3} [{:.3}, {:.3}] over {} units",
            c["a"].as_str().unwrap_or(""),
            c["b"].as_str().unwrap_or(""),
            f(&c["kappa"]),
            f(&c["ci"][0]),
            f(&c["ci"][1]),
            c["n"]
        );
    }
    for m in b["missingness"].as_array().into_iter().flatten() {
        let rates: Vec<String> = m["pairs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                format!(
                    "{}–{} {}/{}",
                    p["s"].as_str().unwrap_or(""),
                    p["t"].as_str().unwrap_or(""),
                    p["failures"],
                    p["verdicts"]
                )
            })
            .collect();
        outln!(
            "failures of {} by pair: {} (χ² homogeneity p {:.4})",
            m["judge"].as_str().unwrap_or(""),
            rates.join(", "),
            f(&m["p"])
        );
    }
    outln!("position bias per judge");
    for x in b["position_bias"].as_array().into_iter().flatten() {
        outln!(
            "  {:<16} consistency {:.3} over {} paired items; first position chosen {}/{} ({:.3}, binomial p {:.4}); both-A {} vs both-B {} (McNemar p {:.4})",
            x["judge"].as_str().unwrap_or(""), f(&x["consistency"]), x["paired"], x["first_position"], x["decisive"],
            f(&x["first_position_rate"]), f(&x["first_position_p"]), x["both_a"], x["both_b"], f(&x["mcnemar_p"])
        );
    }
    Ok(())
}

/// The trajectory-level columns of each pair, and its equivalence verdict.
fn print_clustered(pairs: &serde_json::Value) -> Result<()> {
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    for p in pairs.as_array().into_iter().flatten() {
        let eq = &p["equivalence"];
        outln!(
            "  {:<12} {:<12} items {:>4} trajectories {:>3} win rate {:.3} clustered CI [{:.3}, {:.3}] design effect {:.2} p {:.4} Holm p {:.4}{}",
            p["s"].as_str().unwrap_or(""),
            p["t"].as_str().unwrap_or(""),
            p["items"],
            p["trajectories"],
            f(&p["win_rate"]),
            f(&p["ci_clustered"][0]),
            f(&p["ci_clustered"][1]),
            f(&p["design_effect"]),
            f(&p["p_clustered"]),
            f(&p["holm_p_clustered"]),
            if eq.is_object() {
                format!(
                    "; {} within [{}, {}] (TOST p {:.4})",
                    eq["verdict"].as_str().unwrap_or(""),
                    eq["low"],
                    eq["high"],
                    f(&eq["p_tost"])
                )
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

pub fn stats(a: &StatsArgs) -> Result<()> {
    let (path, manifest) = match (&a.run, &a.verdicts) {
        (Some(run), None) => {
            let m = run.join("judge_manifest.json");
            let manifest = if m.exists() {
                Some(crate::judge::manifest::JudgeManifest::read(&m)?)
            } else {
                None
            };
            (run.join("verdicts.csv"), manifest)
        }
        (None, Some(v)) => (v.clone(), None),
        _ => bail!("give a judged run directory or --verdicts FILE.csv"),
    };
    // Plain or gzipped, with or without a byte-order mark, like every other reader.
    let text = crate::data::textio::read_to_string(&path)?;
    let verdicts =
        crate::judge::preference::parse_verdicts(&text).map_err(|(line, field, msg)| {
            crate::data::textio::DataError::field(&path, line, &field, msg)
        })?;
    // A judged run knows which strategies it judged: a verdict naming another was not made here.
    let judgements = match &a.run {
        Some(run) => crate::judge::read_judgements(&run.join("judgements.jsonl"))?,
        None => None,
    };
    if let (Some(run), Some(js)) = (&a.run, &judgements) {
        let known: std::collections::BTreeSet<&String> = js
            .iter()
            .flat_map(|x| [&x.strategy_a, &x.strategy_b])
            .collect();
        for (i, v) in verdicts.iter().enumerate() {
            for s in [&v.strategy_a, &v.strategy_b] {
                if !known.contains(s) {
                    bail!(
                        "{}: row {}: strategy `{s}` is not one this run judged ({} lists {})",
                        path.display(),
                        i + 1,
                        run.join("judgements.jsonl").display(),
                        known
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
        }
    }
    if a.resamples < 10_000 {
        eprintln!(
            "note: {} bootstrap resamples (10,000 or more recommended)",
            a.resamples
        );
    }
    let flagged: Vec<String> = manifest
        .as_ref()
        .map(|m| m.flagged_judges.clone())
        .unwrap_or_default();
    let all = stats_block(&verdicts, a);
    let without = (!flagged.is_empty()).then(|| {
        let vs: Vec<_> = verdicts
            .iter()
            .filter(|v| !flagged.contains(&v.judge))
            .cloned()
            .collect();
        stats_block(&vs, a)
    });
    let outcomes = manifest
        .as_ref()
        .map(|m| serde_json::to_value(&m.outcomes).expect("a map"));
    let per_pathway = match &a.run {
        Some(_) => per_pathway(judgements.as_deref(), &verdicts, a),
        None => serde_json::Value::Null,
    };
    let calibration = match &a.labels {
        Some(p) => {
            let labels = crate::judge::calibration::read_labels(p)?;
            let c = crate::judge::calibration::calibrate(
                &verdicts,
                &crate::judge::preference::item_scores(&verdicts),
                &labels,
                a.resamples,
                a.seed,
                a.alpha,
            );
            if c.labelled == 0 {
                bail!("{}: no labelled row matches a verdict", p.display());
            }
            Some(c)
        }
        None => None,
    };
    let reliability = match &a.run {
        Some(run) if run.join("trials.csv").exists() => {
            let rows: Vec<crate::data::rows::TrialRow> =
                crate::data::rows::read_csv(&run.join("trials.csv"))?;
            Some(crate::judge::reliability::reliability(&rows, a.alpha))
        }
        _ => None,
    };
    if a.json {
        let v = json!({ "alpha": a.alpha, "resamples": a.resamples, "seed": a.seed, "margin": [a.margin.0, a.margin.1], "source": path.display().to_string(),
                        "all_judges": all, "flagged_judges": flagged, "without_flagged": without, "outcomes": outcomes,
                        "per_pathway": per_pathway, "calibration": calibration, "reliability": reliability });
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    print_block(&format!("all judges ({} verdicts)", verdicts.len()), &all)?;
    match &without {
        Some(w) if w["items"].as_u64() == Some(0) => outln!(
            "\nwithout judges of the planner's family ({}): no verdicts left",
            flagged.join(", ")
        ),
        Some(w) => {
            outln!();
            print_block(
                &format!(
                    "without judges of the planner's family ({})",
                    flagged.join(", ")
                ),
                w,
            )?;
        }
        None => {}
    }
    if let Some(rows) = per_pathway.as_array() {
        outln!("\nper pathway (exploratory: Benjamini–Hochberg across pathways × pairs)");
        for r in rows {
            outln!(
                "  {:<28} {:<12} vs {:<12} items {:>3}  win rate {:.3}  sign p {:.4}  BH q {:.4}",
                r["pathway"].as_str().unwrap_or(""),
                r["s"].as_str().unwrap_or(""),
                r["t"].as_str().unwrap_or(""),
                r["items"],
                r["win_rate"].as_f64().unwrap_or(f64::NAN),
                r["sign_test_p"].as_f64().unwrap_or(f64::NAN),
                r["bh_q"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    if let Some(o) = outcomes {
        outln!("\noutcomes per judge: {o}");
    }
    if let Some(r) = &reliability {
        outln!(
            "\nreliability over {} cells (item × judge × order, up to {} trials): flip rate {:.3}; 95%-stable majority after {} trials",
            r.cells,
            r.trials,
            r.flip_rate,
            r.trials_needed.map_or("more than 21".to_string(), |t| t.to_string())
        );
        if r.paraphrase_cells > 0 {
            outln!(
                "paraphrased template: {} of {} verdicts flip ({:.3} [{:.3}, {:.3}])",
                r.paraphrase_flips,
                r.paraphrase_cells,
                r.paraphrase_rate,
                r.paraphrase_ci.0,
                r.paraphrase_ci.1
            );
        }
        for j in &r.judges {
            outln!(
                "  {:<18} flip rate {:.3} over {} cells; paraphrase flips {}/{}",
                j.judge,
                j.flip_rate,
                j.cells,
                j.paraphrase_flips,
                j.paraphrase_cells
            );
        }
    }
    if let Some(c) = &calibration {
        outln!(
            "\ncalibration against {} human labels ({} unmatched rows)",
            c.labelled,
            c.unmatched
        );
        for r in std::iter::once(&c.panel).chain(&c.judges) {
            outln!(
                "  {:<18} n {:>4}  Cohen κ {:.3}  sensitivity {:.3}  specificity {:.3} ({} decisive)",
                r.rater, r.n, r.kappa, r.sensitivity, r.specificity, r.decisive
            );
        }
        for p in &c.pairs {
            outln!(
                "  {} vs {}: win rate {:.3}; Rogan–Gladen {:.3} [{:.3}, {:.3}]; PPI {:.3} [{:.3}, {:.3}] ({} of {} items labelled)",
                p.s, p.t, p.win_rate, p.rogan_gladen, p.rogan_gladen_ci.0, p.rogan_gladen_ci.1,
                p.ppi, p.ppi_ci.0, p.ppi_ci.1, p.labelled, p.items
            );
        }
    }
    Ok(())
}

/// Pair summaries per pathway (items mapped to their context through judgements.jsonl), with
/// Benjamini–Hochberg across the pathway × pair family.
fn per_pathway(
    judgements: Option<&[crate::judge::Judgement]>,
    verdicts: &[crate::judge::preference::Verdict],
    a: &StatsArgs,
) -> serde_json::Value {
    let Some(judgements) = judgements else {
        return serde_json::Value::Null;
    };
    let mut pathway_of: std::collections::BTreeMap<String, String> =
        std::collections::BTreeMap::new();
    for j in judgements {
        let ctx = j.context.as_str();
        let pw = ctx.split('|').nth(1).unwrap_or(ctx).to_string();
        pathway_of.insert(j.item.clone(), pw);
    }
    let mut groups: std::collections::BTreeMap<&str, Vec<crate::judge::preference::Verdict>> =
        std::collections::BTreeMap::new();
    for v in verdicts {
        if let Some(pw) = pathway_of.get(&v.item) {
            groups.entry(pw.as_str()).or_default().push(v.clone());
        }
    }
    let mut rows = Vec::new();
    for (pw, vs) in &groups {
        let items = crate::judge::preference::item_scores(vs);
        for s in crate::judge::preference::summarise(&items, a.resamples, a.seed, a.alpha) {
            rows.push((pw.to_string(), s));
        }
    }
    let q = crate::stats::benjamini_hochberg(
        &rows.iter().map(|(_, s)| s.sign_test_p).collect::<Vec<_>>(),
    );
    serde_json::Value::Array(
        rows.into_iter()
            .zip(q)
            .map(|((pw, s), q)| json!({"pathway": pw, "s": s.s, "t": s.t, "items": s.items, "win_rate": s.win_rate,
                                        "bootstrap_ci": s.bootstrap_ci, "sign_test_p": s.sign_test_p, "bh_q": q}))
            .collect(),
    )
}
