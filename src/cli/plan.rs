//! `pertaudit plan` and `pertaudit ablate`: flags → [`PlanSpec`], the library run, and the
//! tables printed from its outcome.

use crate::cli::args::PlanArgs;
use crate::cli::Bars;
use crate::planner::active::CurvePoint;
use crate::planner::run::{run_ablation, run_plan, PlanOutcome, PRIMARY_METRIC};
use crate::planner::spec::{parse_strategies, AblationSpec, PlanSpec};
use anyhow::{anyhow, Result};
use std::fmt::Write as _;

impl PlanArgs {
    /// The spec these flags describe.
    pub fn to_spec(&self) -> Result<PlanSpec> {
        Ok(PlanSpec {
            screen: self.screen.clone(),
            pathways: self.pathways.clone(),
            pathway: self.pathway.clone(),
            strategies: parse_strategies(&self.strategies)
                .map_err(|e| anyhow!("--strategies: {e}"))?,
            rounds: self.rounds,
            batch: self.batch,
            seeds: self.seeds,
            seed: self.seed,
            out: self.out.clone(),
            network: self.network.clone(),
            min_score: self.min_score,
            go: self.go.clone(),
            cross_screen: self.cross_screen.clone(),
            cross_embedding: self.cross_embedding,
            initial: self.initial,
            test_fraction: self.test_fraction,
            members: self.members,
            lambda: self.lambda,
            pca_dim: self.pca_dim,
            feature_fraction: self.feature_fraction,
            predictor: self.predictor,
            prior_dim: self.prior_dim,
            control: self.control.clone(),
            control_vector: self.control_vector.clone(),
            threads: self.threads,
            llm_model: self.llm_model.clone(),
            llm_backbones: self.llm_backbones.clone(),
            llm_samples: self.llm_samples,
            annotations: self.annotations.clone(),
            genes: self.genes.clone(),
            shortlist_factor: self.shortlist_factor,
            reprompts: self.reprompts,
            sequential: self.sequential,
            probe: self.probe,
            prompts: self.prompts.clone(),
            replay: self.replay.clone(),
            ledger: self.ledger.clone(),
            shard: self.shard,
        })
    }
}

/// `plan`: run and print the learning curve, the AUC table and the best strategy (a shard:
/// what it wrote and how to join it).
pub fn plan(a: &PlanArgs) -> Result<()> {
    let o = run_plan(&a.to_spec()?, &Bars::new())?;
    match o.shard {
        Some(sh) => outln!(
            "shard {sh} of run {}: seeds {:?} ({} jobs) written to {}; join the {} shards with `pertaudit merge --out DIR SHARD…`",
            o.run_id,
            o.rounds.iter().map(|r| r.seed).collect::<std::collections::BTreeSet<_>>(),
            o.rounds.iter().filter(|r| r.round == 0).count(),
            o.out.display(),
            sh.count
        ),
        None => print_plan(&o)?,
    }
    Ok(())
}

/// `merge`: join plan shards.
pub fn merge(a: &crate::cli::args::MergeArgs) -> Result<()> {
    let m = crate::planner::merge::merge_plan_shards(&a.shards, &a.out)?;
    outln!(
        "run {}: {} shards, {} seeds joined into {}",
        m.run_id,
        m.shards,
        m.seeds,
        m.out.display()
    );
    if !m.ledgers.is_empty() {
        outln!(
            "{} shards hold LLM ledgers: `pertaudit ledger merge --out {} {}` indexes them",
            m.ledgers.len(),
            m.out.display(),
            m.ledgers
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(())
}

/// What `plan` prints about a finished run.
/// `bench plan`: one plan run and where its time went.
pub fn bench_plan(a: &PlanArgs) -> Result<()> {
    let mut spec = a.to_spec()?;
    let temp = match spec.out {
        Some(_) => None,
        None => Some(crate::cli::bench_dir("plan")?),
    };
    if let Some(t) = &temp {
        spec.out = Some(t.clone());
    }
    let clock = std::time::Instant::now();
    let o = run_plan(&spec, &Bars::new());
    let wall = clock.elapsed().as_secs_f64();
    if let Some(t) = &temp {
        let _ = std::fs::remove_dir_all(t);
    }
    let o = o?;
    let jobs = o.seeds.len() * o.strategies.len();
    outln!(
        "plan: {} strategies × {} seeds = {jobs} jobs; {:.2} s wall; prior embeddings {}",
        o.strategies.len(),
        o.seeds.len(),
        wall,
        if o.prior_cache_hit {
            "from the cache"
        } else {
            "computed (now cached)"
        }
    );
    for (phase, secs) in &o.timings {
        outln!(
            "  {phase:<11} {secs:>8.2} s  {:>5.1} %",
            100.0 * secs / wall.max(1e-9)
        );
    }
    if let Some(kb) = peak_rss_kb() {
        outln!("  peak RSS    {:>8.1} MB", kb as f64 / 1024.0);
    }
    Ok(())
}

/// Peak resident memory of this process (Linux `VmHWM`), when known.
fn peak_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn print_plan(o: &PlanOutcome) -> Result<()> {
    let label = format!("{PRIMARY_METRIC}: {}", o.response.pearson_label());
    out!("{}", curve_table(&o.curve, &o.strategies, &label));
    outln!("\narea under the learning curve ({label}, mean ± SE over seeds)");
    for (s, m, se) in &o.comparison.auc {
        outln!("  {s:<10} {m:.4} ± {se:.4}");
    }
    let cal: Vec<String> = o
        .strategies
        .iter()
        .map(|st| {
            let v: Vec<f64> = o
                .rounds
                .iter()
                .filter(|r| &r.strategy == st && r.calibration.is_finite())
                .map(|r| r.calibration)
                .collect();
            let m = if v.is_empty() {
                f64::NAN
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            };
            format!("{st} {m:.3}")
        })
        .collect();
    outln!(
        "uncertainty calibration (Spearman, predicted variance vs realised error on the next batch; mean): {}",
        cal.join(", ")
    );
    let neg = o.negative_skill();
    if neg.is_empty() {
        outln!("skill over the mean-of-training baseline: positive in every (strategy, round)");
    } else {
        let cells: Vec<String> = neg
            .iter()
            .map(|(s, r, m)| format!("{s} r{r} ({m:+.4})"))
            .collect();
        outln!(
            "warning: the model is below the mean-of-training baseline in {} of {} (strategy, round) cells: {}",
            neg.len(),
            o.skill.len(),
            cells.join(", ")
        );
    }
    outln!(
        "best strategy on {}: {} ({}; paired Wilcoxon over {} seeds, Holm-adjusted)",
        o.pathway,
        o.comparison.best,
        if o.comparison.best_is_significant {
            "significantly better than every other at α = 0.05"
        } else {
            "not significantly better than every other at α = 0.05"
        },
        o.seeds.len()
    );
    outln!("run {} written to {}", o.run_id, o.out.display());
    Ok(())
}

/// `ablate`: bald and the four arms, then the ablation's overlaps and paired tests.
pub fn ablate(a: &PlanArgs) -> Result<()> {
    let plan = a.to_spec()?;
    // The LLM strategies named in --strategies are the arms (backbones included); none named:
    // all seven arms on the default planner model.
    let named: Vec<_> = plan
        .strategies
        .iter()
        .copied()
        .filter(|k| k.arm().is_some())
        .collect();
    let mut spec = AblationSpec::new(plan);
    if !named.is_empty() {
        spec.arms = named;
    }
    let done = run_ablation(&spec, &Bars::new())?;
    print_plan(&done.plan)?;
    let ab = &done.ablation;
    outln!("\nmasking ablation (arms {}):", done.arms.join(", "));
    for (arm, r) in &ab.fallback_rate {
        outln!("  {arm:<13} fallback rate {r:.3}");
    }
    for p in &ab.pairs {
        let last = p.rounds.last();
        outln!(
            "  {:<13} vs {:<13} Jaccard {:.3} ± {:.3} over {} batches; last round Δ Pearson {:+.4} (Wilcoxon p {:.4}, BH q {:.4})",
            p.a, p.b, p.jaccard_mean, p.jaccard_se, p.batches,
            last.map_or(f64::NAN, |r| r.mean_difference),
            last.map_or(f64::NAN, |r| r.wilcoxon_p),
            last.map_or(f64::NAN, |r| r.bh_q)
        );
    }
    for t in &ab.controls {
        outln!(
            "  control {:<13} ({}): AUC llm {:.4} vs {:.4}, Δ {:+.4} over {} seeds (Wilcoxon p {:.4})",
            t.control, t.detects, t.auc_reference, t.auc_control, t.mean_difference, t.seeds, t.wilcoxon_p
        );
    }
    for (arm, n) in ab.leak_checks.iter().filter(|(_, n)| **n > 0) {
        outln!("  {arm:<13} {n} prompt(s) leak-checked before sending");
    }
    for (arm, s) in &ab.samples {
        outln!(
            "  {arm:<13} {:.2} valid answers per state, Jaccard {:.3}; SD of pearson_delta within a state {:.4} vs across seeds {:.4}",
            s.mean_valid, s.mean_jaccard, s.outcome_sd_within_state, s.outcome_sd_across_seeds
        );
    }
    for (arm, p) in &ab.probe {
        outln!(
            "  {arm:<13} de-masking probe: {} of {} IDs named correctly (recovery rate {:.3})",
            p.recovered,
            p.asked,
            p.rate
        );
    }
    outln!(
        "ablation written to {}",
        done.plan.out.join("ablation.json").display()
    );
    Ok(())
}

/// A plain-text learning-curve table: rounds down, strategies across, `mean ± se`.
pub fn curve_table(curve: &[CurvePoint], strategies: &[String], metric: &str) -> String {
    let max_round = curve.iter().map(|p| p.round).max().unwrap_or(0);
    let mut s = format!(
        "{metric} (mean ± SE over seeds)\n{:>5} {:>7}",
        "round", "n_train"
    );
    for st in strategies {
        let _ = write!(s, " {st:>17}");
    }
    s.push('\n');
    for r in 0..=max_round {
        let n = curve
            .iter()
            .find(|p| p.round == r)
            .map(|p| p.n_train)
            .unwrap_or(0.0);
        let _ = write!(s, "{r:>5} {n:>7}");
        for st in strategies {
            match curve.iter().find(|p| &p.strategy == st && p.round == r) {
                Some(p) => {
                    let _ = write!(s, " {:>17}", format!("{:.4} ± {:.4}", p.mean, p.se));
                }
                None => {
                    let _ = write!(s, " {:>17}", "-");
                }
            }
        }
        s.push('\n');
    }
    s
}

/// `validate planner`: the controls' power and false-positive rate on planted planners.
pub fn validate_planner(a: &crate::cli::args::ValidatePlannerArgs) -> Result<()> {
    use crate::planner::validate::{table, validate_planner, Design, ValidateSpec};
    let spec = ValidateSpec {
        design: Design {
            replicates: a.replicates as usize,
            seeds: a.seeds as usize,
            rounds: a.rounds as usize,
            batch: a.batch as usize,
            shortlist_factor: a.shortlist_factor as usize,
            alpha: a.alpha,
        },
        out: a.out.clone(),
        threads: a.threads,
    };
    let v = validate_planner(&spec, &Bars::new())?;
    outln!(
        "planted-effect validation of the planner's controls: {} replicates × {} seeds × {} rounds × batch {}, α = {}",
        v.design.replicates, v.design.seeds, v.design.rounds, v.design.batch, v.design.alpha
    );
    outln!(
        "{:<10} {:<13} {:<8} {:>9}  {:<42} {:>10}",
        "planner",
        "control",
        "planted",
        "flagged",
        "rate [95% Wilson CI]",
        "mean ΔAUC"
    );
    for r in table(&v) {
        outln!(
            "{:<10} {:<13} {:<8} {:>9}  {:<42} {:>10}",
            r[0],
            r[1].trim_matches('`'),
            r[2],
            r[3],
            r[4],
            r[5]
        );
    }
    outln!("written to {}", a.out.join("planner.json").display());
    Ok(())
}
