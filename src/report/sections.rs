//! The report's sections, each written into the document model from the run's files: design, deviations, predictive performance, judged coherence, the masking ablation, failures, tokens and cost, provenance, methods.

use super::*;
use crate::audit::config::AuditConfig;
use crate::data::runfile::sha256_bytes;
use crate::judge::manifest::JudgeManifest;
use crate::judge::preference::{item_scores, summarise, Verdict};
use crate::llm::ledger::{Exchange, Source, Status};
use anyhow::{Context, Result};
use doc::Doc;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub(crate) fn design(d: &mut Doc, run: &Path, c: &AuditConfig) -> Result<()> {
    let alpha = c.stats.alpha;
    let metric = c.stats.metric.as_str();
    d.h(1, "Design");
    let dz = &c.design;
    let mut rows = vec![
        vec!["strategies".into(), dz.strategies.join(", ")],
        vec![
            "budget".into(),
            format!(
                "{} rounds × {} knock-downs (initial set {}), {} seeds from seed {}",
                dz.rounds,
                dz.batch,
                dz.initial.unwrap_or(dz.batch),
                dz.seeds,
                c.study.seed
            ),
        ],
        vec![
            "primary metric".into(),
            format!("`{metric}` on held-out pathway knock-downs; AUC over rounds"),
        ],
        vec![
            "statistics".into(),
            format!("α = {alpha}, {} bootstrap resamples", c.stats.resamples),
        ],
    ];
    if let Some(p) = &c.planner {
        rows.push(vec![
            "LLM planner".into(),
            format!(
                "`{}`{}, shortlist {}× batch, {} re-prompt(s)",
                p.model.display(),
                if p.sequential {
                    " (one gene per call)"
                } else {
                    " (whole batch per call)"
                },
                p.shortlist_factor.unwrap_or(3),
                p.reprompts.unwrap_or(2)
            ),
        ]);
    }
    if let Some(j) = &c.judges {
        rows.push(vec![
            "judges".into(),
            j.models
                .iter()
                .map(|m| format!("`{}`", m.display()))
                .collect::<Vec<_>>()
                .join(", "),
        ]);
        rows.push(vec![
            "judged".into(),
            format!(
                "{} in {}",
                c.judged_strategies().join(", "),
                match &j.rounds {
                    Some(r) => format!(
                        "round(s) {}",
                        r.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
                    ),
                    None => "every round".into(),
                }
            ),
        ]);
    }
    if let Some(a) = &c.ablation {
        rows.push(vec![
            "masking ablation".into(),
            format!(
                "bald, {} on {}",
                a.arms.join(", "),
                c.ablation_pathways().join(", ")
            ),
        ]);
    }
    d.table(&["setting", "value"], rows);
    let mut srows = Vec::new();
    for s in &c.screens {
        for p in &s.pathways {
            let cfg = read_json(&run.join("plan").join(&s.name).join(p).join("config.json"))?;
            srows.push(vec![
                s.name.clone(),
                format!(
                    "{}{}",
                    if s.simulated { "SIMULATED " } else { "" },
                    s.screen.display()
                ),
                format!(
                    "{} × {}",
                    cfg["screen"]["perturbations"], cfg["screen"]["readout_genes"]
                ),
                p.clone(),
                format!(
                    "{} ({} perturbed)",
                    cfg["pathway"]["genes"], cfg["pathway"]["perturbed_members"]
                ),
            ]);
        }
    }
    d.table(
        &[
            "screen",
            "file",
            "perturbations × readouts",
            "pathway",
            "pathway genes",
        ],
        srows,
    );

    Ok(())
}

pub(crate) fn deviations(
    d: &mut Doc,
    run: &Path,
    fb_total: &Fallbacks,
    jm: Option<&JudgeManifest>,
) -> Result<()> {
    d.h(1, "Deviations from the pre-registration");
    let mut dev = Vec::new();
    if let Ok(t) = std::fs::read_to_string(run.join(crate::audit::DEVIATIONS)) {
        for l in t.lines() {
            let v: crate::audit::Deviation =
                serde_json::from_str(l).context("deviations.jsonl: not a deviation")?;
            dev.push(format!(
                "Locked input changed after the lock: {} (reason given: \"{}\").",
                v.changes.join("; "),
                v.reason
            ));
        }
    }
    for (k, (n, fb)) in fb_total {
        if *fb > 0 {
            dev.push(format!("`{k}`: {fb} of {n} LLM batches fell back (in part) to the uncertainty order after invalid answers, as the plan allows; they are kept and counted."));
        }
    }
    if let Some(m) = jm {
        let mut failed = 0u64;
        let mut total = 0u64;
        for o in m.outcomes.values() {
            for (k, v) in o {
                total += *v as u64;
                if k != "verdict" {
                    failed += *v as u64;
                }
            }
        }
        if failed > 0 {
            dev.push(format!("{failed} of {total} judge answers were failures (see Failures); they are counted, not imputed."));
        }
    }
    if dev.is_empty() {
        d.p("None: every locked input is unchanged and every planned answer was obtained.");
    } else {
        d.list(dev);
    }

    Ok(())
}

pub(crate) fn performance(d: &mut Doc, run: &Path, c: &AuditConfig) -> Result<()> {
    let alpha = c.stats.alpha;
    let metric = c.stats.metric.as_str();
    let dz = &c.design;
    d.h(1, "Predictive performance");
    d.p(format!("Learning curves of `{metric}` on each pathway's held-out knock-downs: mean over seeds with a ±1 SE band. The table gives the area under each curve (mean ± SE over seeds), the best strategy's AUC minus each other's with a percentile bootstrap CI over seeds, the paired Wilcoxon signed-rank test over seeds, Holm-adjusted, and {}.", match c.stats.auc_margin {
        Some(delta) => format!("equivalence by paired TOST within ±{delta} (\"equivalent\" only when TOST rejects)"),
        None => "no equivalence verdict (no margin `stats.auc_margin` is declared, so a non-significant difference is inconclusive, never a tie)".into(),
    }));
    preflight_table(d, c);
    let mut pooled_aucs: Vec<Vec<Vec<f64>>> = Vec::new();
    for s in &c.screens {
        for p in &s.pathways {
            let dir = run.join("plan").join(&s.name).join(p);
            // metrics.csv, read once: the chosen metric, skill and calibration come from it.
            let path = dir.join("metrics.csv");
            let all: Vec<crate::data::rows::MetricsRow> = crate::data::rows::read_csv(&path)?;
            let rows = metric_rows(&all, &path, metric)?;
            let seeds: BTreeSet<u64> = rows.iter().map(|r| r.seed).collect();
            // Skill over the mean-of-training baseline, per (strategy, round).
            let mut skill: BTreeMap<(String, usize), Vec<f64>> = BTreeMap::new();
            for r in &all {
                skill
                    .entry((r.strategy.clone(), r.round))
                    .or_default()
                    .push(r.pearson_delta.0 - r.baseline_pearson_delta.0);
            }
            // What the screen's responses are, as the plan recorded it.
            let label = read_json(&dir.join("config.json"))
                .ok()
                .and_then(|c| c["screen"]["metric_label"].as_str().map(str::to_string));
            let series: Vec<svg::Series> = dz
                .strategies
                .iter()
                .map(|st| {
                    let mut by_round: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
                    for r in rows.iter().filter(|r| &r.strategy == st) {
                        by_round.entry(r.round).or_default().push(r.value);
                    }
                    svg::Series {
                        name: st.clone(),
                        points: by_round
                            .into_iter()
                            .map(|(k, v)| {
                                let (m, se) = crate::stats::mean_se(&v);
                                (k as f64, m, se)
                            })
                            .collect(),
                    }
                })
                .collect();
            d.h(2, format!("{} / {p}", s.name));
            let file = format!("curve-{}-{p}.svg", s.name);
            d.figure(
                file,
                svg::line_chart(&format!("{p} ({})", s.name), "round", metric, &series),
                format!(
                    "Learning curves on {p}: `{metric}`{} by round, mean ± 1 SE over {} seeds.",
                    match (&label, metric) {
                        (Some(l), "pearson_delta") => format!(" ({l})"),
                        _ => String::new(),
                    },
                    seeds.len()
                ),
            );
            let aucs: Vec<Vec<f64>> = dz
                .strategies
                .iter()
                .map(|st| {
                    seeds
                        .iter()
                        .map(|&sd| {
                            let mut v: Vec<(usize, f64)> = rows
                                .iter()
                                .filter(|r| &r.strategy == st && r.seed == sd)
                                .map(|r| (r.round, r.value))
                                .collect();
                            v.sort_by_key(|x| x.0);
                            crate::planner::comparison::auc(
                                &v.iter().map(|x| x.1).collect::<Vec<_>>(),
                            )
                        })
                        .collect()
                })
                .collect();
            let mut cmp =
                crate::planner::comparison::compare_aucs(&dz.strategies, &aucs, metric, alpha);
            if let Some(delta) = c.stats.auc_margin {
                cmp = cmp.with_margin(&aucs, &dz.strategies, delta);
            }
            pooled_aucs.push(aucs.clone());
            let mut t = Vec::new();
            for (st, m, se) in &cmp.auc {
                let vs = cmp
                    .pairs
                    .iter()
                    .find(|q| (q.a == cmp.best && &q.b == st) || (q.b == cmp.best && &q.a == st));
                t.push(vec![
                    if *st == cmp.best {
                        format!("**{st}** (best)")
                    } else {
                        st.clone()
                    },
                    format!("{} ± {}", f(*m, 4), f(*se, 4)),
                    vs.map_or("—".into(), |q| {
                        f(
                            if q.a == cmp.best {
                                q.mean_difference
                            } else {
                                -q.mean_difference
                            },
                            4,
                        )
                    }),
                    vs.map_or("—".into(), |q| {
                        if q.a == cmp.best {
                            ci(q.ci.0, q.ci.1, 4)
                        } else {
                            ci(-q.ci.1, -q.ci.0, 4)
                        }
                    }),
                    vs.map_or("—".into(), |q| fmt_p(q.wilcoxon_p)),
                    vs.map_or("—".into(), |q| fmt_p(q.holm_p)),
                    vs.and_then(|q| q.equivalence.as_ref())
                        .map_or("—".into(), |e| {
                            format!("{} (TOST p {})", e.verdict.as_str(), fmt_p(e.p_tost))
                        }),
                ]);
            }
            d.table(
                &[
                    "strategy",
                    "AUC (mean ± SE)",
                    "best − this",
                    "95% bootstrap CI",
                    "Wilcoxon p",
                    "Holm p",
                    "equivalence",
                ],
                t,
            );
            let dir = match cmp.direction {
                crate::planner::comparison::Direction::HigherIsBetter => "higher is better",
                crate::planner::comparison::Direction::LowerIsBetter => "lower is better",
            };
            let neg: Vec<String> = skill
                .iter()
                .filter_map(|((st, r), v)| {
                    let (m, _) = crate::stats::mean_se(v);
                    (m < 0.0).then(|| format!("{st} round {r} ({})", f(m, 4)))
                })
                .collect();
            d.p(if neg.is_empty() {
                format!("Skill (`pearson_delta` of the model minus that of the mean-of-training baseline) is positive in all {} (strategy, round) cells.", skill.len())
            } else {
                format!(
                    "**Negative skill**: the model is below the mean-of-training baseline in {} of {} (strategy, round) cells: {}. Learning curves there measure how strategies move a model that does not yet beat predicting the average response.",
                    neg.len(),
                    skill.len(),
                    neg.join(", ")
                )
            });
            // Uncertainty calibration per strategy: Spearman of predicted variance against the
            // realised error on the next acquired batch, mean over seeds and rounds.
            let cal_text: Vec<String> = dz
                .strategies
                .iter()
                .filter_map(|st| {
                    let v: Vec<f64> = all
                        .iter()
                        .filter(|r| &r.strategy == st && r.calibration_spearman.0.is_finite())
                        .map(|r| r.calibration_spearman.0)
                        .collect();
                    (!v.is_empty()).then(|| {
                        let (m, se) = crate::stats::mean_se(&v);
                        format!("{st} {} ± {} (n = {})", f(m, 3), f(se, 3), v.len())
                    })
                })
                .collect();
            if !cal_text.is_empty() {
                d.p(format!(
                    "Uncertainty calibration (Spearman of each round's predicted variance against the realised squared error on the batch it acquired; mean ± SE over seeds × rounds): {}.",
                    cal_text.join("; ")
                ));
            }
            if !cmp.not_estimable.is_empty() {
                d.p(format!(
                    "Not estimable on {p} (a NaN AUC, flagged and not ranked): {}.",
                    cmp.not_estimable.join(", ")
                ));
            }
            // Reachability: Holm multiplies the smallest p by the number of pairs.
            let min_p = 2.0 / 2f64.powi(seeds.len() as i32);
            let k = dz.strategies.len();
            let family = k * k.saturating_sub(1) / 2;
            let min_holm = (min_p * family as f64).min(1.0);
            d.p(format!(
                "Best on {p} (`{metric}`: {dir}): **{}**, {} (α = {alpha}; with {} seeds the smallest two-sided exact Wilcoxon p is {}, and the smallest Holm-adjusted p over the {family} pairs is {}{}).",
                cmp.best,
                if cmp.best_is_significant { "significantly better than every other strategy" } else { "not significantly better than every other strategy" },
                seeds.len(),
                fmt_p(min_p),
                fmt_p(min_holm),
                if min_holm >= alpha { format!(": no difference can reach α = {alpha} with this design") } else { String::new() }
            ));
        }
    }
    if pooled_aucs.len() > 1 {
        let pooled = crate::planner::comparison::pooled(&dz.strategies, &pooled_aucs);
        d.h(2, "Pooled across pathways");
        d.p(format!("Each pair over all {} pathways at once: the mean over pathways of the mean AUC difference, and a stratified sign-flip permutation test over seeds (each pathway weighted equally; exact up to 20 seed-pathway units, else 100,000 random flips), Holm-adjusted across pairs.", pooled_aucs.len()));
        d.table(
            &[
                "pair (a vs b)",
                "pathways",
                "mean a − b",
                "permutation p",
                "Holm p",
            ],
            pooled
                .iter()
                .map(|p| {
                    vec![
                        format!("{} vs {}", p.a, p.b),
                        p.strata.to_string(),
                        f(p.mean_difference, 4),
                        fmt_p(p.p),
                        fmt_p(p.holm_p),
                    ]
                })
                .collect(),
        );
    }
    Ok(())
}

/// The preflight: what the design can decide, and its power.
fn preflight_table(d: &mut Doc, c: &AuditConfig) {
    let pf = crate::audit::analysis::preflight(c);
    d.h(2, "Preflight: what this design can decide");
    d.p(format!("Computed from the design before the first LLM call (and written into the locked analysis plan): the smallest p each primary test can reach with its independent units, and the smallest Holm-adjusted p when every test in the family reaches it (α = {}).", pf.alpha));
    d.table(
        &[
            "decision",
            "test",
            "units",
            "smallest p",
            "smallest adjusted p",
            "reachable",
            "units needed",
        ],
        pf.reach
            .iter()
            .map(|r| {
                vec![
                    r.decision.clone(),
                    r.test.clone(),
                    format!("{} {}", r.units, r.unit),
                    fmt_p(r.min_p),
                    fmt_p(r.min_adjusted_p),
                    if r.reachable {
                        "yes".into()
                    } else {
                        "**no**".into()
                    },
                    r.units_needed.map_or("—".into(), |n| n.to_string()),
                ]
            })
            .collect(),
    );
    d.p(format!("Power at Holm's first step (α / family): predictive pairs by Monte Carlo ({} draws) of the exact Wilcoxon test on normal per-seed differences with the stated standardised effect; judged pairs by the exact sign test over trajectories, each trajectory one decisive unit preferring the better strategy with the stated probability.", crate::audit::analysis::POWER_SIMS));
    d.table(
        &["decision", "effect", "power"],
        pf.power
            .iter()
            .map(|p| vec![p.decision.clone(), p.effect.clone(), f(p.power, 3)])
            .collect(),
    );
}

/// The blinded panel's statistics; returns the verdicts (for the methods paragraph).
pub(crate) fn judged_section(
    d: &mut Doc,
    run: &Path,
    c: &AuditConfig,
    m: &JudgeManifest,
) -> Result<Vec<Verdict>> {
    let alpha = c.stats.alpha;
    d.h(1, "Judged coherence (blinded panel)");
    let tasks_m = read_json(&run.join("tasks").join("manifest.json"))?;
    let vpath = run.join("judged").join("verdicts.csv");
    let verdicts =
        crate::judge::preference::parse_verdicts(&read(&vpath)?).map_err(|(l, fld, msg)| {
            anyhow::anyhow!("{}:{l}: field `{fld}`: {msg}", vpath.display())
        })?;
    let flagged: Vec<String> = m.flagged_judges.clone();
    d.p(format!(
        "{} blinded items ({} contexts) shown in both orders to {} judges: {} verdict rows. Blinding integrity: the strategies could not be told apart by any surface feature at α = {} (table below).",
        tasks_m["items"], tasks_m["contexts"], m.judges.len(), verdicts.len(), tasks_m["integrity"]["alpha"]
    ));
    let panel = crate::judge::panel::panel_stats(
        &verdicts,
        &crate::judge::panel::PanelOptions {
            resamples: c.stats.resamples,
            seed: c.study.seed,
            alpha,
            margin: Some((c.stats.win_rate_margin[0], c.stats.win_rate_margin[1])),
        },
    );
    let pairs = &panel.pairs;
    let names = c.judged_strategies();
    // The heatmap shows the trajectory-level CI and test when the verdicts know trajectories.
    let cell = |i: usize, j: usize| -> Option<svg::Cell> {
        crate::judge::preference::oriented(pairs, &names[i], &names[j])
            .map(|p| svg::Cell {
                rate: p.win_rate,
                lo: p.ci_clustered.unwrap_or(p.bootstrap_ci).0,
                hi: p.ci_clustered.unwrap_or(p.bootstrap_ci).1,
                holm_p: p.holm_p_clustered.unwrap_or(p.holm_p),
            })
            .filter(|x| x.rate.is_finite())
    };
    d.figure("winrate-heatmap.svg", svg::heatmap("Pairwise win rates (all judges)", &names, &cell), if panel.trajectories.is_some() {
        "Win rate of the row strategy over the column strategy, with 95% two-stage cluster-bootstrap CIs (trajectories, then contexts) and Holm-adjusted trajectory-level sign-test p-values."
    } else {
        "Win rate of the row strategy over the column strategy, with 95% item-bootstrap CIs and Holm-adjusted sign-test p-values."
    });
    let t: Vec<Vec<String>> = pairs
        .iter()
        .map(|p| {
            vec![
                format!("{} vs {}", p.s, p.t),
                p.items.to_string(),
                format!("{}/{}/{}", p.wins, p.losses, p.ties),
                p.failed_items.to_string(),
                f(p.win_rate, 3),
                ci(p.bootstrap_ci.0, p.bootstrap_ci.1, 3),
                ci(p.wilson_ci.0, p.wilson_ci.1, 3),
                fmt_p(p.sign_test_p),
                fmt_p(p.holm_p),
            ]
        })
        .collect();
    d.table(
        &[
            "pair (s vs t)",
            "items",
            "s wins/losses/ties",
            "failed items",
            "win rate of s",
            "bootstrap CI",
            "Wilson CI (decisive)",
            "sign p",
            "Holm p",
        ],
        t,
    );
    d.p("The columns above treat items as independent. They are not: the rounds of one trajectory (one seed of one pathway) share batches, and every pair of one context shares its batches. The analyses below take the trajectory as the unit.");
    dependence(d, &panel, alpha);
    validity_section(d, run, c, &verdicts)?;
    reliability_section(d, run, c)?;
    calibration_section(d, run, c, &verdicts)?;
    let (bt, half) = (&panel.bradley_terry, &panel.bradley_terry_tie_half);
    d.h(2, "Bradley–Terry strengths");
    let est = |s: &crate::judge::preference::Strengths, i: usize| -> (String, String) {
        if s.theta.is_empty() {
            ("—".into(), "—".into())
        } else {
            (f(s.theta[i], 3), ci(s.theta_ci[i].0, s.theta_ci[i].1, 3))
        }
    };
    // The figure shows the Davidson fit, or the ties-as-halves fit when only that one is
    // estimable.
    let shown = if bt.theta.is_empty() { &half } else { &bt };
    if !shown.theta.is_empty() {
        let rows: Vec<(String, f64, f64, f64)> = shown
            .strategies
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    s.clone(),
                    shown.theta[i],
                    shown.theta_ci[i].0,
                    shown.theta_ci[i].1,
                )
            })
            .collect();
        let which = if bt.theta.is_empty() {
            "ties as halves"
        } else {
            "Davidson ties"
        };
        d.figure(
            "bradley-terry.svg",
            svg::forest(
                &format!("Bradley–Terry log-strengths ({which}; sum zero)"),
                "log-strength",
                &rows,
            ),
            format!("Bradley–Terry log-strengths ({which}) with 95% cluster-bootstrap CIs."),
        );
    }
    let names_bt = if bt.strategies.is_empty() {
        &half.strategies
    } else {
        &bt.strategies
    };
    d.table(
        &[
            "strategy",
            "Davidson log-strength",
            "95% CI",
            "ties-as-halves log-strength",
            "95% CI",
        ],
        names_bt
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (a, b) = est(bt, i);
                let (x, y) = est(half, i);
                vec![s.clone(), a, b, x, y]
            })
            .collect(),
    );
    for (label, s) in [("Davidson", &bt), ("Ties as halves", &half)] {
        match &s.note {
            Some(n) if s.theta.is_empty() => d.p(format!("{label}: not estimable ({n}).")),
            _ => d.p(format!(
                "{label}: {} bootstrap resamples were not estimable and are left out of the CIs{}.",
                s.failed_resamples,
                if label == "Davidson" {
                    format!("; tie parameter ν = {}", f(s.nu, 3))
                } else {
                    String::new()
                }
            )),
        }
    }
    d.h(2, "Judge agreement and position bias");
    let ag = &panel.agreement;
    let mut t = vec![
        vec![
            "Fleiss' κ".into(),
            f(ag.fleiss_kappa, 3),
            ci(ag.fleiss_ci.0, ag.fleiss_ci.1, 3),
            format!("{} complete units of {}", ag.complete_units, ag.units),
        ],
        vec![
            "Krippendorff's α (nominal)".into(),
            f(ag.krippendorff_alpha, 3),
            ci(ag.krippendorff_ci.0, ag.krippendorff_ci.1, 3),
            format!("{} units", ag.units),
        ],
    ];
    for k in &ag.cohen {
        t.push(vec![
            format!("Cohen's κ {} / {}", k.a, k.b),
            f(k.kappa, 3),
            ci(k.ci.0, k.ci.1, 3),
            format!("{} units", k.n),
        ]);
    }
    d.table(&["statistic", "value", "95% CI", "n"], t);
    d.table(
        &[
            "judge",
            "first-position rate",
            "binomial p",
            "order consistency",
            "McNemar p",
            "flag",
        ],
        panel
            .position_bias
            .iter()
            .map(|b| {
                vec![
                    b.judge.clone(),
                    format!(
                        "{} ({}/{})",
                        f(b.first_position_rate, 3),
                        b.first_position,
                        b.decisive
                    ),
                    fmt_p(b.first_position_p),
                    format!("{} of {} pairs", f(b.consistency, 3), b.paired),
                    fmt_p(b.mcnemar_p),
                    if flagged.contains(&b.judge) {
                        "same family as the planner".into()
                    } else {
                        String::new()
                    },
                ]
            })
            .collect(),
    );
    if !flagged.is_empty() {
        let rest: Vec<Verdict> = verdicts
            .iter()
            .filter(|v| !flagged.contains(&v.judge))
            .cloned()
            .collect();
        if rest.is_empty() {
            d.p(format!("Every judge ({}) is of the planner's model family, so self-preference cannot be ruled out and no verdict is left without them.", flagged.join(", ")));
        } else {
            let ps = summarise(&item_scores(&rest), c.stats.resamples, c.study.seed, alpha);
            d.p(format!(
                "Without the judges of the planner's family ({}):",
                flagged.join(", ")
            ));
            d.table(
                &["pair", "items", "win rate of s", "bootstrap CI", "Holm p"],
                ps.iter()
                    .map(|p| {
                        vec![
                            format!("{} vs {}", p.s, p.t),
                            p.items.to_string(),
                            f(p.win_rate, 3),
                            ci(p.bootstrap_ci.0, p.bootstrap_ci.1, 3),
                            fmt_p(p.holm_p),
                        ]
                    })
                    .collect(),
            );
        }
    }
    d.h(2, "Blinding integrity");
    d.table(
        &["feature", "accuracy", "chance", "Holm p", "blocking"],
        tasks_m["integrity"]["features"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| {
                vec![
                    x["feature"].as_str().unwrap_or("").to_string(),
                    format!(
                        "{} ({}/{})",
                        f(x["accuracy"].as_f64().unwrap_or(f64::NAN), 3),
                        x["correct"],
                        x["n"]
                    ),
                    f(x["chance"].as_f64().unwrap_or(f64::NAN), 3),
                    fmt_p(x["p_holm"].as_f64().unwrap_or(f64::NAN)),
                    if x["blocking"].as_bool() == Some(true) {
                        "yes".into()
                    } else {
                        "reported".into()
                    },
                ]
            })
            .collect(),
    );
    Ok(verdicts)
}

/// Repeated-trial reliability from `judged/trials.csv`, or the statement that none was run.
fn reliability_section(d: &mut Doc, run: &Path, c: &AuditConfig) -> Result<()> {
    d.h(2, "Reliability of the verdicts");
    let path = run.join("judged").join("trials.csv");
    if !path.exists() {
        d.p("**No repeated trials were run**: each verdict is one draw, and how often a judge would answer the same task differently (or under a reworded prompt) is unknown. Set `[judges] repeats = K` (judges with temperature > 0) and `paraphrase = true` to measure it.");
        return Ok(());
    }
    let rows: Vec<crate::data::rows::TrialRow> = crate::data::rows::read_csv(&path)?;
    let r = crate::judge::reliability::reliability(&rows, c.stats.alpha);
    d.p(format!(
        "Up to {} trials per (item, judge, order) over {} cells: the flip rate is the chance that two trials of one cell disagree; the stability of a majority of t fresh trials is P(Binomial(t, p) > t/2) with p the cell's modal share, averaged over cells. {}{}",
        r.trials,
        r.cells,
        match r.trials_needed {
            Some(t) => format!("A 95%-stable majority needs **{t} trial(s)**."),
            None if r.cells > 0 => "No number of trials up to 21 gives a 95%-stable majority.".into(),
            None => String::new(),
        },
        if r.paraphrase_cells > 0 {
            format!(
                " Reworded template: **{} of {} verdicts flip** ({} {}).",
                r.paraphrase_flips,
                r.paraphrase_cells,
                f(r.paraphrase_rate, 3),
                ci(r.paraphrase_ci.0, r.paraphrase_ci.1, 3)
            )
        } else {
            String::new()
        }
    ));
    d.table(
        &[
            "judge",
            "cells",
            "flip rate",
            "stability at 1 / 3 / 5 trials",
            "trials needed",
            "paraphrase flips",
        ],
        r.judges
            .iter()
            .map(|j| {
                let at = |t: usize| {
                    j.curve
                        .iter()
                        .find(|x| x.0 == t)
                        .map_or("—".into(), |x| f(x.1, 3))
                };
                vec![
                    j.judge.clone(),
                    j.cells.to_string(),
                    f(j.flip_rate, 3),
                    format!("{} / {} / {}", at(1), at(3), at(5)),
                    j.trials_needed.map_or("> 21".into(), |t| t.to_string()),
                    format!("{}/{}", j.paraphrase_flips, j.paraphrase_cells),
                ]
            })
            .collect(),
    );
    Ok(())
}

/// Judge–human calibration from `RUN/labels.csv`, or the statement that none exists.
fn calibration_section(
    d: &mut Doc,
    run: &Path,
    c: &AuditConfig,
    verdicts: &[Verdict],
) -> Result<()> {
    d.h(2, "Judge–human calibration");
    let path = run.join("labels.csv");
    let labels = if path.exists() {
        crate::judge::calibration::read_labels(&path)?
    } else {
        Vec::new()
    };
    let cal = crate::judge::calibration::calibrate(
        verdicts,
        &crate::judge::preference::item_scores(verdicts),
        &labels,
        c.stats.resamples.min(2_000),
        c.study.seed,
        c.stats.alpha,
    );
    if cal.labelled == 0 {
        d.p("**No calibration exists for this run**: no human has labelled any judged item, so how often the judges agree with a person is unknown and every win rate above is the judges' alone. `pertaudit label RUN/tasks --out RUN/labels` writes a blinded labelling sheet (an HTML form that saves `RUN/labels.csv`); the report then gives per-judge Cohen's κ, sensitivity and specificity, and bias-corrected win rates.");
        return Ok(());
    }
    d.p(format!(
        "{} items labelled by a person on the blinded sheet (`labels.csv`; {} rows matched no verdict). Sensitivity: the judge picks the pair's first strategy when the person does; specificity: the second, likewise (decisive labels only). Bias-corrected win rates: Rogan–Gladen on the panel majority (share of decisive items the person would give to s; Se/Sp pooled over pairs, bootstrap CI over labelled and judged items) and prediction-powered inference (the person's mean score of s; `ppi_py` with λ = 1). Both CIs carry the calibration uncertainty and treat items as independent.",
        cal.labelled, cal.unmatched
    ));
    d.table(
        &[
            "rater",
            "labelled items",
            "Cohen's κ",
            "sensitivity",
            "specificity",
            "decisive",
        ],
        std::iter::once(&cal.panel)
            .chain(&cal.judges)
            .map(|r| {
                vec![
                    r.rater.clone(),
                    r.n.to_string(),
                    f(r.kappa, 3),
                    f(r.sensitivity, 3),
                    f(r.specificity, 3),
                    r.decisive.to_string(),
                ]
            })
            .collect(),
    );
    d.table(
        &[
            "pair (s vs t)",
            "labelled / items",
            "judges' win rate",
            "person's (labelled)",
            "Rogan–Gladen",
            "PPI",
        ],
        cal.pairs
            .iter()
            .map(|p| {
                vec![
                    format!("{} vs {}", p.s, p.t),
                    format!("{} / {}", p.labelled, p.items),
                    f(p.win_rate, 3),
                    f(p.human_win_rate, 3),
                    format!(
                        "{} {}",
                        f(p.rogan_gladen, 3),
                        ci(p.rogan_gladen_ci.0, p.rogan_gladen_ci.1, 3)
                    ),
                    format!("{} {}", f(p.ppi, 3), ci(p.ppi_ci.0, p.ppi_ci.1, 3)),
                ]
            })
            .collect(),
    );
    Ok(())
}

/// Judge validity against the realised gain of each batch and its member fraction.
fn validity_section(d: &mut Doc, run: &Path, c: &AuditConfig, verdicts: &[Verdict]) -> Result<()> {
    use crate::judge::preference::item_scores;
    d.h(2, "Judge validity: preference against realised gain");
    let metric = c.stats.metric.as_str();
    let sign = match crate::planner::comparison::Direction::of(metric) {
        crate::planner::comparison::Direction::HigherIsBetter => 1.0,
        crate::planner::comparison::Direction::LowerIsBetter => -1.0,
    };
    // (screen, pathway, seed, strategy, round) → metric
    let mut value: BTreeMap<(String, String, u64, String, usize), f64> = BTreeMap::new();
    for s in &c.screens {
        for p in &s.pathways {
            let dir = run.join("plan").join(&s.name).join(p);
            // Contexts name the screen as the plan run recorded it (blinding reads config.json).
            let screen = read_json(&dir.join("config.json"))
                .ok()
                .and_then(|v| v["screen"]["name"].as_str().map(str::to_string))
                .unwrap_or_else(|| s.name.clone());
            let path = dir.join("metrics.csv");
            let rows: Vec<crate::data::rows::MetricsRow> = crate::data::rows::read_csv(&path)?;
            for r in rows {
                if let Some(v) = r.metric(metric) {
                    value.insert(
                        (
                            screen.clone(),
                            p.clone(),
                            r.seed,
                            r.strategy.clone(),
                            r.round,
                        ),
                        v,
                    );
                }
            }
        }
    }
    let gain = |ctx: &str, strategy: &str| -> Option<f64> {
        let parts: Vec<&str> = ctx.split('|').collect();
        let [screen, pathway, seed, round] = parts[..] else {
            return None;
        };
        let seed: u64 = seed.strip_prefix("seed")?.parse().ok()?;
        let round: usize = round.strip_prefix("round")?.parse().ok()?;
        let at = |r: usize| {
            value
                .get(&(
                    screen.to_string(),
                    pathway.to_string(),
                    seed,
                    strategy.to_string(),
                    r,
                ))
                .copied()
        };
        Some(sign * (at(round + 1)? - at(round)?))
    };
    // (context, strategy) → member fraction, from the tasks as judges saw them and the key.
    let tasks_dir = run.join("tasks");
    let key: crate::judge::Key = serde_json::from_str(&read(&tasks_dir.join("key.json"))?)?;
    let mut frac: BTreeMap<(String, String), f64> = BTreeMap::new();
    for line in read(&tasks_dir.join("tasks.jsonl"))?
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let t: crate::judge::Task = serde_json::from_str(line)?;
        let members: BTreeSet<&str> = t.pathway.members.iter().map(String::as_str).collect();
        for b in [&t.a, &t.b] {
            if let Some((ctx, st)) = key.batches.get(&b.id) {
                let n = b.genes.len().max(1) as f64;
                let m = b
                    .genes
                    .iter()
                    .filter(|g| members.contains(g.symbol.as_str()))
                    .count();
                frac.insert((ctx.clone(), st.clone()), m as f64 / n);
            }
        }
    }
    let members = |ctx: &str, st: &str| frac.get(&(ctx.to_string(), st.to_string())).copied();
    let v = crate::judge::validity::validity(
        &item_scores(verdicts),
        metric,
        gain,
        members,
        c.stats.resamples.min(2_000),
        c.study.seed,
        c.stats.alpha,
    );
    let Some(v) = v else {
        d.p("Not estimable: fewer than three judged items have a realised gain (the last round acquires nothing to score) or the verdicts name no trajectory.");
        return Ok(());
    };
    d.p(format!(
        "Per item: the panel's preference for s (score − ½), the difference in realised gain of the two batches (`{metric}` in the round after acquiring the batch minus the round it was chosen in, in the metric's better direction) and the difference in their share of pathway members. {} items from {} trajectories; 95% CIs resample whole trajectories ({} resamples). A judge that only counts pathway members has a member coefficient above zero and a gain coefficient near zero.",
        v.items, v.trajectories, c.stats.resamples.min(2_000)
    ));
    d.table(
        &["statistic", "value", "95% CI"],
        vec![
            vec![
                "Spearman ρ(preference, Δgain)".into(),
                f(v.spearman_gain, 3),
                ci(v.spearman_gain_ci.0, v.spearman_gain_ci.1, 3),
            ],
            vec![
                "Spearman ρ(preference, Δmembers)".into(),
                f(v.spearman_members, 3),
                "—".into(),
            ],
            vec![
                "preference per SD of Δgain, at equal member fractions (OLS)".into(),
                f(v.gain_coefficient, 3),
                ci(v.gain_coefficient_ci.0, v.gain_coefficient_ci.1, 3),
            ],
            vec![
                "preference per unit Δmembers, at equal gain (OLS)".into(),
                f(v.member_coefficient, 3),
                ci(v.member_coefficient_ci.0, v.member_coefficient_ci.1, 3),
            ],
        ],
    );
    d.table(
        &[
            "pair (s vs t)",
            "items",
            "win rate of s",
            "member-adjusted win rate",
            "95% CI",
            "slope on Δmembers",
        ],
        v.pairs
            .iter()
            .map(|p| {
                vec![
                    format!("{} vs {}", p.s, p.t),
                    p.items.to_string(),
                    f(p.win_rate, 3),
                    f(p.adjusted_win_rate, 3),
                    ci(p.adjusted_ci.0, p.adjusted_ci.1, 3),
                    f(p.member_slope, 3),
                ]
            })
            .collect(),
    );
    Ok(())
}

/// Rows of the trajectory-level table of some pairs.
fn clustered_rows(pairs: &[crate::judge::preference::PairSummary]) -> Vec<Vec<String>> {
    pairs
        .iter()
        .map(|p| {
            let deff = p.design_effect.unwrap_or(f64::NAN);
            vec![
                format!("{} vs {}", p.s, p.t),
                p.items.to_string(),
                p.trajectories.map_or("—".into(), |t| t.to_string()),
                f(deff, 2),
                if deff.is_finite() && deff > 0.0 {
                    f(p.items as f64 / deff, 1)
                } else {
                    "—".into()
                },
                f(p.win_rate, 3),
                p.ci_clustered.map_or("—".into(), |c| ci(c.0, c.1, 3)),
                p.p_clustered.map_or("—".into(), fmt_p),
                p.holm_p_clustered.map_or("—".into(), fmt_p),
                p.equivalence.as_ref().map_or("—".into(), |e| {
                    format!("{} (TOST p {})", e.verdict.as_str(), fmt_p(e.p_tost))
                }),
            ]
        })
        .collect()
}

const CLUSTERED_HEADER: [&str; 10] = [
    "pair (s vs t)",
    "items",
    "trajectories",
    "design effect",
    "effective items",
    "win rate of s",
    "cluster-bootstrap CI",
    "trajectory sign p",
    "Holm p",
    "equivalence",
];

/// Trajectories, design effects, the primary round, equivalence and missingness.
fn dependence(d: &mut Doc, panel: &crate::judge::panel::PanelStats, alpha: f64) {
    d.h(2, "Dependence, the primary round and equivalence");
    match panel.trajectories {
        None => d.p("The verdicts do not name their trajectories, so no trajectory-level analysis is possible: every figure above treats items as independent and its intervals are too narrow when items cluster."),
        Some(g) => {
            let margin = panel.pairs.iter().find_map(|p| p.equivalence.as_ref());
            d.p(format!(
                "{} items from **{g} independent trajectories**. Per pair: the design effect (cluster-robust over naive variance of the win rate; items ÷ design effect is the effective number of independent items), the two-stage cluster-bootstrap CI, the exact sign test over trajectory means, Holm across pairs at α = {alpha}{}.",
                panel.items,
                margin.map_or(String::new(), |e| format!(
                    ", and equivalence by TOST over trajectory means within the declared margins [{}, {}] (\"equivalent\" only when TOST rejects; \"different\" when the trajectory test does; otherwise \"inconclusive\")",
                    e.low, e.high
                ))
            ));
            d.table(&CLUSTERED_HEADER, clustered_rows(&panel.pairs));
        }
    }
    if let Some(pr) = &panel.primary {
        d.p(format!(
            "**Primary judged round** (pre-registered: the first judged round): acquisition round {}; {} items. {} Later rounds are exploratory.",
            pr.round + 1,
            pr.items,
            if pr.round == 0 {
                "Every strategy chose this batch from the same initial state, so the batches differ only by strategy."
            } else {
                "Round 1 (every strategy choosing from the same initial state) was not judged; here each strategy chose from its own earlier acquisitions."
            }
        ));
        d.table(&CLUSTERED_HEADER, clustered_rows(&pr.pairs));
    }
    d.h(3, "Informative missingness");
    let worst = panel
        .missingness
        .iter()
        .filter(|m| m.p.is_finite())
        .map(|m| m.p)
        .fold(f64::NAN, f64::min);
    d.p(format!(
        "A judge that fails more often on one pair's batches biases that pair's win rate (failures are never imputed). Failures per judge and pair, with Pearson's χ² test of equal failure rates across pairs{}.",
        if worst < alpha {
            format!(": **at least one judge's failures depend on the pair** (smallest p {})", fmt_p(worst))
        } else {
            String::new()
        }
    ));
    d.table(
        &["judge", "failures per pair", "χ² (df)", "p"],
        panel
            .missingness
            .iter()
            .map(|m| {
                vec![
                    m.judge.clone(),
                    m.pairs
                        .iter()
                        .map(|p| format!("{}–{} {}/{}", p.s, p.t, p.failures, p.verdicts))
                        .collect::<Vec<_>>()
                        .join("; "),
                    if m.chi2.is_finite() {
                        format!("{} ({})", f(m.chi2, 2), m.df)
                    } else {
                        "—".into()
                    },
                    fmt_p(m.p),
                ]
            })
            .collect(),
    );
}

pub(crate) fn ablation_section(
    d: &mut Doc,
    run: &Path,
    c: &AuditConfig,
    ab: &crate::audit::config::AblationCfg,
) -> Result<()> {
    use crate::planner::llm::ablation::Ablation;
    d.h(1, "LLM-planner controls");
    d.p(format!("Arms {} and bald (the shortlist's own order). `llm-masked` shows every gene only as a seeded opaque ID (symbols, aliases, database ids and full names hidden; annotation content kept); `llm-names` hides symbols but keeps full names; `llm-symbols` drops annotations; `llm-shuffled` shuffles annotations across candidates after stripping every candidate's names; `llm-permuted` permutes the measured outcomes shown across the acquired genes; `llm-zeroshot` shows none. If the planner relied on memorised names, masking would cost performance; if it used the outcomes, permuting them would. Each control is tested against `llm` on the per-seed AUC (paired Wilcoxon); the arm-pair table is exploratory (Benjamini–Hochberg across arm pairs × rounds).", ab.arms.join(", ")));
    for p in c.ablation_pathways() {
        let path = run
            .join("ablation")
            .join(&c.screens[0].name)
            .join(&p)
            .join("ablation.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let a: Ablation = serde_json::from_str(&text)
            .with_context(|| format!("{}: not an ablation summary", path.display()))?;
        d.h(2, p.clone());
        let fr: Vec<String> = a
            .fallback_rate
            .iter()
            .map(|(k, v)| format!("`{k}` {}", f(*v, 3)))
            .collect();
        d.p(format!("Fallback rate per arm (share of rounds replaced in part by the uncertainty order): {}.", fr.join(", ")));
        let checks: Vec<String> = a
            .leak_checks
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("`{k}` {n}"))
            .collect();
        d.p(if checks.is_empty() {
            "Leak checks: no masked or shuffled prompt was built.".to_string()
        } else {
            format!("Leak checks passed before sending (every masked or shuffled prompt is checked for any name of an in-scope gene; a leak refuses to send): {}.", checks.join(", "))
        });
        if a.probe.is_empty() {
            d.p("De-masking probe: not run (`ablate --probe`, or `probe = true` in `[ablation]`). Without it, nothing shows that the masked arm hid the genes from this model.");
        } else {
            d.p("De-masking probe: the planner's model was asked to name the gene behind each opaque ID from its masked context. A high recovery rate means the masked arm does not test memorisation.");
            d.table(
                &["arm", "IDs asked", "recovered", "recovery rate"],
                a.probe
                    .iter()
                    .map(|(k, r)| {
                        vec![
                            format!("`{k}`"),
                            r.asked.to_string(),
                            r.recovered.to_string(),
                            f(r.rate, 3),
                        ]
                    })
                    .collect(),
            );
        }
        if let Some(n) = a.controls.iter().map(|t| t.seeds).min() {
            let floor = 2.0 / 2f64.powi(n as i32);
            d.p(format!(
                "Each control's test pairs {n} seed(s): the smallest two-sided p it can reach is 2/2^{n} = {}{}.",
                fmt_p(floor),
                if floor >= c.stats.alpha { ", not below α: no control can flag at this design" } else { "" }
            ));
            d.table(
                &[
                    "control",
                    "detects",
                    "seeds",
                    "AUC llm",
                    "AUC control",
                    "Δ (llm − control)",
                    "Wilcoxon p",
                    "equivalence",
                ],
                a.controls
                    .iter()
                    .map(|t| {
                        vec![
                            format!("`{}`", t.control),
                            t.detects.clone(),
                            t.seeds.to_string(),
                            f(t.auc_reference, 4),
                            f(t.auc_control, 4),
                            f(t.mean_difference, 4),
                            fmt_p(t.wilcoxon_p),
                            match c.stats.auc_margin {
                                Some(delta) if !t.differences.is_empty() => {
                                    let (p, v) = t.equivalence(delta, c.stats.alpha);
                                    format!("{} within ±{delta} (TOST p {})", v.as_str(), fmt_p(p))
                                }
                                _ => "— (no margin declared)".into(),
                            },
                        ]
                    })
                    .collect(),
            );
            d.p("A control that is not significantly different from `llm` is not shown equivalent by that: only TOST within a declared margin (`stats.auc_margin`) calls arms equivalent (\"masked ≈ full\", \"backbones comparable\").");
        }
        if !a.samples.is_empty() {
            d.p("The LLM's own variance: several answers were drawn per state (temperature > 0); each drawn batch was scored as if acquired. Within-state spread against the spread over seeds:");
            d.table(
                &[
                    "arm",
                    "states",
                    "valid answers per state",
                    "Jaccard between answers",
                    "SD of pearson_delta within a state",
                    "SD across seeds",
                ],
                a.samples
                    .iter()
                    .map(|(k, s)| {
                        vec![
                            format!("`{k}`"),
                            s.states.to_string(),
                            f(s.mean_valid, 2),
                            f(s.mean_jaccard, 3),
                            f(s.outcome_sd_within_state, 4),
                            f(s.outcome_sd_across_seeds, 4),
                        ]
                    })
                    .collect(),
            );
        }
        let mut rows = Vec::new();
        for (arm, per_round) in &a.answers {
            for r in per_round {
                rows.push(vec![
                    format!("`{arm}`"),
                    r.round.to_string(),
                    r.answers.to_string(),
                    f(r.invalid_rate, 3),
                    f(r.hallucinated_rate, 3),
                ]);
            }
        }
        if !rows.is_empty() {
            d.p("Answers per round: the share of answers rejected as invalid, and the share of gene names that were not on the shortlist (hallucinated or out of scope).");
            d.table(
                &["arm", "round", "answers", "invalid", "hallucinated"],
                rows,
            );
        }
        let mut t = Vec::new();
        for q in &a.pairs {
            let last = q.rounds.last();
            t.push(vec![
                format!("{} vs {}", q.a, q.b),
                format!("{} ± {}", f(q.jaccard_mean, 3), f(q.jaccard_se, 3)),
                q.batches.to_string(),
                f(last.map_or(f64::NAN, |r| r.mean_difference), 4),
                fmt_p(last.map_or(f64::NAN, |r| r.wilcoxon_p)),
                fmt_p(last.map_or(f64::NAN, |r| r.bh_q)),
            ]);
        }
        d.table(
            &[
                "arms",
                "Jaccard of batches (mean ± SE)",
                "batches",
                "last-round Δ pearson_delta",
                "Wilcoxon p",
                "BH q",
            ],
            t,
        );
    }
    Ok(())
}

/// The planted-effect validation of the planner's controls, when `RUN/validation/planner.json`
/// exists (`pertaudit validate planner --out RUN/validation`).
pub(crate) fn validation_appendix(d: &mut Doc, run: &Path) -> Result<()> {
    let path = run.join("validation").join("planner.json");
    if !path.exists() {
        d.p("Planted-effect validation of the planner's controls: not run for this audit (`pertaudit validate planner --out RUN/validation`).");
        return Ok(());
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let v: crate::planner::validate::PlannerValidation = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a planner validation", path.display()))?;
    d.h(2, "Planted-effect validation of the planner's controls");
    d.p(format!(
        "Scripted planners with known behaviour were served over HTTP on simulated screens ({} replicates × {} seeds × {} rounds × batch {}; α = {}): a memoriser (knows genes by symbol only) and a context user (reads annotations) against `llm-masked`; a feedback user (ranks by the outcomes shown) and a feedback ignorer against `llm-permuted`. Test: {}. Masking must flag the memoriser and not the context user; permutation must flag the feedback user and not the ignorer.",
        v.design.replicates, v.design.seeds, v.design.rounds, v.design.batch, v.design.alpha, v.test
    ));
    d.table(
        &[
            "planner",
            "control",
            "planted",
            "flagged",
            "rate [95% CI]",
            "mean ΔAUC",
        ],
        crate::planner::validate::table(&v),
    );
    Ok(())
}

/// The calibration table of `validate judges`, when it was run into `RUN/validation`.
pub(crate) fn judge_validation_appendix(d: &mut Doc, run: &Path) -> Result<()> {
    let path = run.join("validation").join("judges.json");
    if !path.exists() {
        d.p("Planted-truth validation of the judge statistics: not run for this audit (`pertaudit validate judges --out RUN/validation`); the committed figures are in `docs/results/validation/`.");
        return Ok(());
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let v: crate::judge::validate::JudgeValidation = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a judge validation", path.display()))?;
    d.h(2, "Planted-truth validation of the judge statistics");
    d.p(format!(
        "Planted judges were served over HTTP ({} replicates; per case {} trajectories × {} rounds × {} judges, both orders; α = {}; win-rate margins [{}, {}]). An item's latent quality difference is μ + u (trajectory effect, SD τ) + e (item effect, SD {}); a judge prefers batch A with probability Φ(q_A − q_B + β). Rates carry 95% Wilson intervals; coverage is of the 95% CIs.",
        v.design.replicates, v.design.trajectories, v.design.rounds, v.design.judges, v.design.alpha, v.design.margin.0, v.design.margin.1, v.design.item_sd
    ));
    d.table(
        &crate::judge::validate::TABLE_HEADER,
        crate::judge::validate::table(&v),
    );
    d.p("Calibration: in the miscalibrated case the judges see an appeal that a person does not; a simulated person labels a random sample of items from the truth alone. The bias-corrected win rates should cover the person's win rate.");
    d.table(
        &crate::judge::validate::CALIBRATION_HEADER,
        crate::judge::validate::calibration_table(&v),
    );
    Ok(())
}

pub(crate) fn failures(
    d: &mut Doc,
    jm: Option<&JudgeManifest>,
    fb_total: &Fallbacks,
    exchanges: &[Exchange],
) {
    d.h(1, "Failures");
    if let Some(m) = jm {
        let cats = [
            "verdict",
            "parse_error",
            "refusal",
            "provider_error",
            "truncated",
        ];
        let t: Vec<Vec<String>> = m
            .outcomes
            .iter()
            .map(|(j, o)| {
                std::iter::once(j.clone())
                    .chain(
                        cats.iter()
                            .map(|k| o.get(*k).copied().unwrap_or(0).to_string()),
                    )
                    .collect()
            })
            .collect();
        d.p("Judge answers by outcome (a failure is never counted as a verdict):");
        d.table(
            &[
                "judge",
                "verdict",
                "parse error",
                "refusal",
                "provider error",
                "truncated",
            ],
            t,
        );
    }
    if !fb_total.is_empty() {
        d.p("LLM planner batches (seed × round) that fell back, in part or whole, to the uncertainty order after invalid answers:");
        d.table(
            &["strategy", "batches", "with fallback"],
            fb_total
                .iter()
                .map(|(k, (n, fb))| vec![k.clone(), n.to_string(), fb.to_string()])
                .collect(),
        );
    }
    let mut status: BTreeMap<(String, String), usize> = BTreeMap::new();
    for x in exchanges {
        let s = match x.status {
            Status::Error => format!(
                "error: {}",
                x.error
                    .as_ref()
                    .map_or("unknown".into(), |e| serde_json::to_value(e.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default())
            ),
            other => serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        };
        *status.entry((x.endpoint.clone(), s)).or_default() += 1;
    }
    if status.is_empty() {
        d.p("The ledger holds no LLM exchange.");
    } else {
        d.p("Ledger exchanges by endpoint and status:");
        d.table(
            &["endpoint", "status", "exchanges"],
            status
                .iter()
                .map(|((e, s), n)| vec![e.clone(), s.clone(), n.to_string()])
                .collect(),
        );
    }
}

pub(crate) fn tokens(d: &mut Doc, exchanges: &[Exchange]) {
    d.h(1, "Token use and cost");
    let mut use_: BTreeMap<String, (usize, u64, u64, u64, f64)> = BTreeMap::new();
    for x in exchanges {
        let e = use_.entry(x.endpoint.clone()).or_default();
        e.0 += 1;
        e.1 += x.attempts as u64;
        e.2 += x.prompt_tokens;
        e.3 += x.completion_tokens;
        e.4 += if x.source == Source::Network {
            x.cost_usd
        } else {
            0.0
        };
    }
    let total: (usize, u64, u64, u64, f64) = use_.values().fold((0, 0, 0, 0, 0.0), |a, b| {
        (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3, a.4 + b.4)
    });
    let mut t: Vec<Vec<String>> = use_
        .iter()
        .map(|(k, v)| {
            vec![
                k.clone(),
                v.0.to_string(),
                v.1.to_string(),
                v.2.to_string(),
                v.3.to_string(),
                format!("{:.4}", v.4),
            ]
        })
        .collect();
    t.push(vec![
        "**total**".into(),
        total.0.to_string(),
        total.1.to_string(),
        total.2.to_string(),
        total.3.to_string(),
        format!("{:.4}", total.4),
    ]);
    d.table(
        &[
            "endpoint",
            "exchanges",
            "HTTP attempts",
            "prompt tokens",
            "completion tokens",
            "cost (USD)",
        ],
        t,
    );
    d.p("Costs use the prices in each model file; the embedded local model costs nothing. Answers served from the ledger on resume are not sent again and cost nothing.");
}

/// What the provenance table shows.
pub(crate) struct Provenance<'a> {
    pub(crate) lock: &'a crate::audit::Lock,
    pub(crate) lock_sha: &'a str,
    pub(crate) run_id: &'a str,
    pub(crate) config_text: &'a str,
    pub(crate) head: &'a str,
    pub(crate) records: usize,
    pub(crate) judge_manifest: Option<&'a JudgeManifest>,
}

pub(crate) fn provenance(d: &mut Doc, p: &Provenance) {
    let (lock, lock_sha, run_id, config_text, head) =
        (p.lock, p.lock_sha, p.run_id, p.config_text, p.head);
    d.h(1, "Provenance");
    let mut t = vec![
        vec!["tool".into(), format!("pertaudit {}", lock.tool.version)],
        vec![
            "report made by".into(),
            format!("pertaudit {}", env!("CARGO_PKG_VERSION")),
        ],
        vec!["run id".into(), format!("`{run_id}`")],
        vec!["lock.json sha256".into(), format!("`{lock_sha}`")],
        vec![
            "config sha256".into(),
            format!("`{}`", sha256_bytes(config_text.as_bytes())),
        ],
        vec![
            "analysis plan sha256".into(),
            format!("`{}`", lock.analysis_plan.sha256),
        ],
        vec![
            "ledger head".into(),
            format!("`{head}` ({} records)", p.records),
        ],
    ];
    if let Some(m) = p.judge_manifest {
        t.push(vec![
            "blinded tasks sha256".into(),
            format!("`{}`", m.tasks.tasks_sha256.as_deref().unwrap_or("")),
        ]);
        t.push(vec![
            "un-blinding key sha256".into(),
            format!("`{}`", m.tasks.key_sha256.as_deref().unwrap_or("")),
        ]);
    }
    d.table(&["what", "value"], t);
    let mut t = Vec::new();
    let row = |what: &str, path: &str, sha: &str| {
        vec![what.to_string(), format!("`{path}`"), format!("`{sha}`")]
    };
    for e in &lock.inputs {
        t.push(row(&e.role, &e.path, &e.sha256));
    }
    for e in &lock.models {
        t.push(row(&e.role, &e.path, &e.sha256));
    }
    for e in &lock.templates {
        t.push(row(&e.name, &e.source, &e.sha256));
    }
    for e in &lock.weights {
        t.push(row("model weights", &e.model, &e.sha256));
    }
    d.table(&["input", "path (as in the config)", "sha256"], t);
    d.p("`pertaudit verify RUN` re-walks the ledger's hash chain, checks every stored request and response body against its hash, and re-hashes every locked input. `pertaudit report RUN --replay` recomputes every step from the ledger alone (no LLM call) and rebuilds this report byte for byte.");
}

/// The methods paragraph, written from the config.
pub(crate) fn methods(c: &AuditConfig, verdicts: &[Verdict]) -> String {
    let dz = &c.design;
    let mut s = format!(
        "We simulated budgeted active learning on {} screen(s) ({}). For each pathway, {} of the pathway's perturbed member genes were held out as the test set (every perturbation of a held-out gene, none left in the pool); every strategy started from the same initial set of {} knock-downs and acquired {} knock-downs per round for {} rounds. After every round {}, and `{}` was scored on the held-out knock-downs beside the mean-of-training baseline. Strategies: {}. Each design was repeated over {} seeds (base seed {}); strategies were compared by the area under the learning curve with paired Wilcoxon signed-rank tests over seeds, Holm-adjusted (α = {}).",
        c.screens.len(),
        c.screens.iter().map(|s| format!("{}{}", s.name, if s.simulated { ", simulated" } else { "" })).collect::<Vec<_>>().join("; "),
        {
            let f = dz.test_fraction.unwrap_or(0.5);
            if f == 0.5 {
                "half".to_string()
            } else {
                format!("a fraction {f}")
            }
        },
        dz.initial.unwrap_or(dz.batch),
        dz.batch,
        dz.rounds,
        match dz.predictor.unwrap_or_default() {
            crate::predict::ensemble::Predictor::RidgeLoo => "the predictor (one ridge regression on a PCA gene embedding plus prior-network embeddings, its penalty chosen by exact leave-one-out error) was refit on every measured knock-down, with a bootstrap ensemble of ridges for uncertainty",
            crate::predict::ensemble::Predictor::Ensemble => "an ensemble of ridge regressions on a PCA gene embedding plus prior-network embeddings was refit (its mean is the prediction)",
        },
        c.stats.metric,
        dz.strategies.join(", "),
        dz.seeds,
        c.study.seed,
        c.stats.alpha
    );
    if let Some(p) = &c.planner {
        s.push_str(&format!(
            " The LLM planner shortlisted the {}× batch most uncertain candidates by ensemble mutual information and asked the model in `{}` to re-rank them {} with pathway context, gene annotations and diversity criteria, with a one-line rationale per pick; invalid answers were re-prompted up to {} time(s) with the specific error and then replaced by the uncertainty order, and every fallback was recorded.",
            p.shortlist_factor.unwrap_or(3),
            p.model.display(),
            if p.sequential { "one gene per call (genes already chosen left out of the answer schema)" } else { "as a whole batch" },
            p.reprompts.unwrap_or(2)
        ));
    }
    if let Some(j) = &c.judges {
        s.push_str(&format!(
            " Batches of {} were blinded (opaque IDs, canonical gene lists in a seeded order, annotations clipped to one length and neutralised) after a blinding-integrity check, and both orders of every pair were judged by {} judge(s) ({} verdict rows) with a JSON-schema verdict; failures were counted, not imputed. Win rates carry cluster-bootstrap CIs ({} resamples) and exact sign tests, Holm-adjusted across pairs; Bradley–Terry strengths use Davidson's tie model; agreement is reported as Fleiss' κ, Krippendorff's α and pairwise Cohen's κ; position bias as first-position rates and order consistency.",
            c.judged_strategies().join(", "),
            j.models.len(),
            verdicts.len(),
            c.stats.resamples
        ));
    }
    if let Some(a) = &c.ablation {
        s.push_str(&format!(
            " In the LLM-planner controls ({}), masked arms showed every in-scope gene only as a seeded opaque ID (symbols, aliases, database ids and, except in `llm-names`, full names; rewritten in gene-bearing fields only, never in the template), every masked or shuffled prompt was leak-checked before sending, and the feedback controls permuted or withheld the measured outcomes, to test whether the model used context and feedback or memorised names.",
            a.arms.join(", ")
        ));
    }
    if c.planner.is_some() || c.judges.is_some() {
        s.push_str(" Every LLM call was recorded in a hash-chained ledger, and the configuration, analysis plan, data, templates and model files were hashed into a pre-registration lock before the first call.");
    } else {
        s.push_str(" No LLM was called; the configuration, analysis plan and data were hashed into a pre-registration lock before the run.");
    }
    s
}
