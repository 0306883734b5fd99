//! The analysis plan, written from the config before anything runs: what will be computed
//! and how each question is decided, and the preflight: whether each primary decision can
//! reach α with this design at all, and its power for stated effects.

use super::config::AuditConfig;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Whether one primary decision can reach α.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reach {
    pub decision: String,
    pub test: String,
    /// Independent units per test (seeds, or trajectories = pathways × seeds).
    pub units: usize,
    pub unit: String,
    /// Hypotheses in the Holm family.
    pub family: usize,
    /// Smallest two-sided p one test can reach.
    pub min_p: f64,
    /// Smallest Holm-adjusted p when every test in the family reaches `min_p`.
    pub min_adjusted_p: f64,
    pub reachable: bool,
    /// Units needed for the decision to be reachable.
    pub units_needed: Option<usize>,
}

/// Power of one primary decision for one stated effect (at Holm's first step, α / family).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerRow {
    pub decision: String,
    pub effect: String,
    pub power: f64,
}

/// The preflight of a design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preflight {
    pub alpha: f64,
    pub reach: Vec<Reach>,
    pub power: Vec<PowerRow>,
}

impl Preflight {
    /// The decisions that cannot reach α.
    pub fn unreachable(&self) -> Vec<&Reach> {
        self.reach.iter().filter(|r| !r.reachable).collect()
    }

    /// One line per unreachable decision.
    pub fn warnings(&self) -> Vec<String> {
        self.unreachable()
            .iter()
            .map(|r| {
                format!(
                    "{} cannot reach α = {} with {} {}: the smallest {}p is {:.4}{}",
                    r.decision,
                    self.alpha,
                    r.units,
                    r.unit,
                    if r.family > 1 {
                        format!("Holm-adjusted (family of {}) ", r.family)
                    } else {
                        String::new()
                    },
                    r.min_adjusted_p,
                    r.units_needed
                        .map(|n| format!("; {n} {} needed", r.unit))
                        .unwrap_or_default()
                )
            })
            .collect()
    }
}

/// Standardised effects (mean difference / SD of per-seed differences) the power table shows.
pub const STANDARDISED_EFFECTS: [f64; 4] = [0.5, 1.0, 1.5, 2.0];
/// True win rates the judged power table shows.
pub const WIN_RATES: [f64; 3] = [0.6, 0.7, 0.8];
/// Monte Carlo draws per Wilcoxon power figure.
pub const POWER_SIMS: usize = 2_000;

/// Reachability and power from the design alone (pure: the report recomputes it).
pub fn preflight(c: &AuditConfig) -> Preflight {
    let alpha = c.stats.alpha;
    let d = &c.design;
    let reach = |decision: &str, test: &str, units: usize, unit: &str, family: usize| {
        let min_p = crate::stats::min_p(units);
        Reach {
            decision: decision.to_string(),
            test: test.to_string(),
            units,
            unit: unit.to_string(),
            family,
            min_p,
            min_adjusted_p: (min_p * family.max(1) as f64).min(1.0),
            reachable: crate::stats::holm_reachable(units, family, alpha),
            units_needed: crate::stats::units_needed(family, alpha),
        }
    };
    let k = d.strategies.len();
    let family = k * k.saturating_sub(1) / 2;
    let mut out = vec![reach(
        "best strategy significantly better than every other (per pathway)",
        "exact Wilcoxon signed-rank over seeds, Holm over strategy pairs",
        d.seeds,
        "seeds",
        family,
    )];
    let mut power = Vec::new();
    let mut rng = crate::numeric::seed::stream(c.study.seed, "preflight/power");
    let level = alpha / family.max(1) as f64;
    let mut effects: Vec<(String, f64)> = STANDARDISED_EFFECTS
        .iter()
        .map(|&e| (format!("standardised ΔAUC {e}"), e))
        .collect();
    if let (Some(e), Some(sd)) = (c.stats.effect, c.stats.pilot_sd) {
        effects.push((
            format!("ΔAUC {e} with pilot SD {sd} (standardised {:.2})", e / sd),
            e / sd,
        ));
    }
    for (label, e) in effects {
        power.push(PowerRow {
            decision: "predictive pair".into(),
            effect: label,
            power: crate::stats::wilcoxon_power(d.seeds, e, level, POWER_SIMS, &mut rng),
        });
    }
    if c.judges.is_some() {
        let kj = c.judged_strategies().len();
        let fam = kj * kj.saturating_sub(1) / 2;
        let pathways: usize = c.screens.iter().map(|s| s.pathways.len()).sum();
        let g = pathways * d.seeds;
        out.push(reach(
            "judged preference (per pair, primary round)",
            "exact sign test over trajectories (pathway × seed), Holm over judged pairs",
            g,
            "trajectories",
            fam,
        ));
        for w in WIN_RATES {
            power.push(PowerRow {
                decision: "judged pair".into(),
                effect: format!("win rate {w} per trajectory"),
                power: crate::stats::sign_test_power(g as u64, w, alpha / fam.max(1) as f64),
            });
        }
    }
    if c.ablation.is_some() {
        out.push(reach(
            "each LLM-planner control against `llm`",
            "exact Wilcoxon signed-rank over seeds",
            d.seeds,
            "seeds",
            1,
        ));
    }
    Preflight {
        alpha,
        reach: out,
        power,
    }
}

/// The analysis plan, written from the config: what will be computed and how it is decided.
pub fn analysis_plan(c: &AuditConfig) -> String {
    let d = &c.design;
    let s = &c.stats;
    let mut t = String::new();
    let _ = writeln!(t, "# Analysis plan: {}\n", c.study.name);
    if c.simulated() {
        let _ = writeln!(
            t,
            "**The screen is SIMULATED** (a documented generative model; not real data).\n"
        );
    }
    let _ = writeln!(t, "## Predictive performance (primary)\n");
    let _ = writeln!(
        t,
        "For every screen and pathway: {} strategies ({}) × {} seeds (base seed {}) × {} rounds of {} knock-downs. \
The endpoint is the area under the learning curve of `{}` on the held-out knock-downs of the pathway (trapezoid over rounds 0..{}, divided by {}). \
The best strategy has the best mean AUC in the metric's direction (lower for an MSE, higher otherwise; a NaN AUC is flagged, never ranked); it is called significantly best only if its paired Wilcoxon signed-rank test over seeds against every other strategy, Holm-adjusted across those comparisons, is below α = {}.\n",
        d.strategies.len(),
        d.strategies.join(", "),
        d.seeds,
        c.study.seed,
        d.rounds,
        d.batch,
        s.metric,
        d.rounds,
        d.rounds,
        s.alpha
    );
    let _ = writeln!(
        t,
        "Every AUC difference carries a percentile bootstrap CI over seeds; across pathways, each pair is also tested pooled (stratified sign-flip permutation over seeds, each pathway weighted equally, Holm across pairs). {}\n",
        match s.auc_margin {
            Some(delta) => format!("Two strategies are called equivalent only by a paired TOST over seeds with |ΔAUC| < {delta}; otherwise \"different\" (Wilcoxon) or \"inconclusive\"."),
            None => "No equivalence margin is declared (`stats.auc_margin`), so no two strategies are called equivalent: a non-significant difference is reported as inconclusive.".into(),
        }
    );
    if let Some(j) = &c.judges {
        let _ = writeln!(t, "## Judged coherence\n");
        let _ = writeln!(
            t,
            "The batches of {} in {} are blinded (opaque ids, canonical gene lists, clipped and neutralised annotations; a blinding-integrity check at α = {} refuses designs whose surface features reveal the strategy), \
both orders of every pair go to {} judge(s). Failures (parse errors, refusals, provider errors, truncations) are counted, never imputed. \
Per pair: the panel's win rate with a two-stage cluster-bootstrap CI ({} resamples: trajectories, i.e. pathway × seed, then contexts within them), the exact sign test at the trajectory level (each trajectory's mean panel score one observation), Holm-adjusted across pairs at α = {}, and the design effect; the item-level sign test and Wilson interval are shown beside it. \
The primary judged round is the first selection round (every strategy chose from the same state); later rounds are exploratory. \
Equivalence of a pair is claimed only by TOST on trajectory means within the win-rate margins [{}, {}]; otherwise a pair is \"different\" (clustered test) or \"inconclusive\". \
Also: Bradley–Terry strengths (Davidson ties) with bootstrap CIs, Fleiss' κ, Krippendorff's α and Cohen's κ per judge pair, first-position rates (exact binomial) and order consistency (McNemar). \
Judges of the planner's model family are flagged and every figure is also given without them.\n",
            c.judged_strategies().join(", "),
            match &j.rounds {
                Some(r) => format!("rounds {}", r.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
                None => "every round".into(),
            },
            j.integrity_alpha.unwrap_or(0.01),
            j.models.len(),
            s.resamples,
            s.alpha,
            s.win_rate_margin[0],
            s.win_rate_margin[1]
        );
        let _ = writeln!(
            t,
            "Exploratory: judge validity (each item's preference against the realised gain of the two batches, adjusted for their share of pathway members), informative missingness (χ² of failure rates across pairs per judge){}; judge–human calibration when a labelling sheet exists.\n",
            match (j.repeats.unwrap_or(1), j.paraphrase) {
                (1, false) => String::new(),
                (k, p) => format!(
                    "; reliability from {k} trial(s) per task and judge{}",
                    if p { " and a paraphrased template" } else { "" }
                ),
            }
        );
    }
    if let Some(a) = &c.ablation {
        let _ = writeln!(t, "## LLM-planner controls\n");
        let _ = writeln!(
            t,
            "Arms {} against bald (the shortlist's own order) on {}. Each control arm against `llm` on its backbone: paired two-sided Wilcoxon across seeds of the per-seed AUC of `pearson_delta` (the test `validate planner` calibrates). Exploratory: Jaccard overlap of batches per seed and round, paired Wilcoxon per round, Benjamini–Hochberg across arm pairs × rounds; fallback, invalid-answer and hallucinated-gene rates per arm{}. Every masked or shuffled prompt is leak-checked before sending.\n",
            a.arms.join(", "),
            c.ablation_pathways().join(", "),
            if a.probe { "; the de-masking probe's recovery rate per identity-hiding arm" } else { "" }
        );
    }
    let pf = preflight(c);
    let _ = writeln!(
        t,
        "## Preflight: what this design can decide
"
    );
    for r in &pf.reach {
        let _ = writeln!(
            t,
            "- {}: {} with {} {}; smallest p {:.4}, smallest adjusted p {:.4} → {}.",
            r.decision,
            r.test,
            r.units,
            r.unit,
            r.min_p,
            r.min_adjusted_p,
            if r.reachable {
                "reachable".to_string()
            } else {
                format!(
                    "**cannot reach α = {}**{}",
                    pf.alpha,
                    r.units_needed
                        .map(|n| format!(" ({n} {} needed)", r.unit))
                        .unwrap_or_default()
                )
            }
        );
    }
    let _ = writeln!(t);
    let _ = writeln!(t, "Anything not named here is exploratory.");
    t
}
