//! `pertaudit blind` and `pertaudit judge`: flags → specs, and the one-line summaries.

use crate::cli::args::{BlindArgs, JudgeArgs};
use crate::cli::Bars;
use crate::judge::{BlindOutcome, BlindSpec, JudgeOutcome, JudgeSpec};
use anyhow::Result;

impl BlindArgs {
    pub fn to_spec(&self) -> BlindSpec {
        BlindSpec {
            runs: self.runs.clone(),
            out: self.out.clone(),
            annotations: self.annotations.clone(),
            strategies: self.strategies.clone(),
            rounds: self.rounds.clone(),
            sorted: self.sorted,
            seed: self.seed,
            alpha: self.alpha,
        }
    }
}

impl JudgeArgs {
    pub fn to_spec(&self) -> JudgeSpec {
        JudgeSpec {
            tasks: self.tasks.clone(),
            judges: self.judges.clone(),
            run: self.run.clone(),
            prompts: self.prompts.clone(),
            planner_family: self.planner_family.clone(),
            replay: self.replay.clone(),
            cost_cap: self.cost_cap,
            seed: self.seed,
            ledger: self.ledger.clone(),
            one_at_a_time: self.one_at_a_time,
            repeats: self.repeats as usize,
            paraphrase: self.paraphrase,
        }
    }
}

pub fn blind(a: &BlindArgs) -> Result<()> {
    let o = crate::judge::blind(&a.to_spec(), &Bars::new())?;
    print_blind(&o)?;
    Ok(())
}

pub fn print_blind(o: &BlindOutcome) -> Result<()> {
    outln!(
        "{} tasks ({} items × 2 orders) over {} contexts and {} strategies → {}; key hash {}",
        o.tasks,
        o.items,
        o.contexts,
        o.strategies,
        o.out.display(),
        &o.key_sha256[..o.key_sha256.len().min(16)]
    );
    Ok(())
}

pub fn judge(a: &JudgeArgs) -> Result<()> {
    let o = crate::judge::judge(&a.to_spec(), &Bars::new())?;
    print_judge(&o)?;
    Ok(())
}

pub fn print_judge(o: &JudgeOutcome) -> Result<()> {
    outln!(
        "{} judgements ({} tasks × {} judges; {} from the ledger) → {}",
        o.judgements,
        o.tasks,
        o.judges,
        o.cached,
        o.run.display()
    );
    for (j, m) in &o.outcomes {
        let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v}")).collect();
        outln!(
            "  {j}: {}{}",
            parts.join(", "),
            if o.flagged.contains(j) {
                " (same family as the planner: flagged)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// `validate judges`: the panel statistics on planted truths.
pub fn validate_judges(a: &crate::cli::args::ValidateJudgesArgs) -> Result<()> {
    use crate::judge::validate::{table, validate_judges, Design, ValidateSpec, TABLE_HEADER};
    let spec = ValidateSpec {
        design: Design {
            replicates: a.replicates as usize,
            trajectories: a.trajectories as usize,
            rounds: a.rounds as usize,
            judges: a.judges as usize,
            resamples: a.resamples,
            alpha: a.alpha,
            margin: a.margin,
            ..Design::default()
        },
        out: a.out.clone(),
    };
    let v = validate_judges(&spec, &Bars::new())?;
    outln!(
        "planted-truth validation of the judge statistics: {} replicates × {} trajectories × {} rounds × {} judges, α = {}, margins [{}, {}]",
        v.design.replicates, v.design.trajectories, v.design.rounds, v.design.judges, v.design.alpha, v.design.margin.0, v.design.margin.1
    );
    outln!("{}", TABLE_HEADER.join(" | "));
    for r in table(&v) {
        outln!("{}", r.join(" | "));
    }
    outln!("\ncalibration with a simulated person's labels");
    outln!("{}", crate::judge::validate::CALIBRATION_HEADER.join(" | "));
    for r in crate::judge::validate::calibration_table(&v) {
        outln!("{}", r.join(" | "));
    }
    outln!("written to {}", a.out.join("judges.json").display());
    Ok(())
}

/// `label`: the blinded labelling sheet.
pub fn label(a: &crate::cli::args::LabelArgs) -> Result<()> {
    let s = crate::judge::calibration::write_sheet(&a.tasks, &a.out, a.items as usize, a.seed)?;
    outln!(
        "labelling sheet: {} items ({} labelled): {} (open in a browser; it saves {})",
        s.rows,
        s.labelled,
        s.html.display(),
        s.csv.display()
    );
    Ok(())
}
