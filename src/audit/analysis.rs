//! The analysis plan, written from the config before anything runs: what will be computed
//! and how each question is decided.

use super::config::AuditConfig;
use std::fmt::Write as _;

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
    if let Some(j) = &c.judges {
        let _ = writeln!(t, "## Judged coherence\n");
        let _ = writeln!(
            t,
            "The batches of {} in {} are blinded (opaque ids, canonical gene lists, clipped and neutralised annotations; a blinding-integrity check at α = {} refuses designs whose surface features reveal the strategy), \
both orders of every pair go to {} judge(s). Failures (parse errors, refusals, provider errors, truncations) are counted, never imputed. \
Per pair: the panel's win rate with a cluster-bootstrap CI ({} resamples), an exact sign test on decisive items, Holm-adjusted across pairs at α = {}. \
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
            s.alpha
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
    let _ = writeln!(t, "Anything not named here is exploratory.");
    t
}
