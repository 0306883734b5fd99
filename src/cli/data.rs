//! `pertaudit data list | fetch NAME`: known public files, size- and sha256-checked downloads;
//! `pertaudit inspect SCREEN`: what a loader made of a screen file.

use crate::cli::args::{DataArgs, InspectArgs};
use crate::cli::Bars;
use anyhow::{bail, Context, Result};

pub fn data(a: &DataArgs) -> Result<()> {
    let files = crate::data::fetch::registry(a.registry.as_deref())?;
    match a.action.as_str() {
        "list" => {
            for f in &files {
                outln!("{:<42} {:>11} bytes  {}", f.name, f.size, f.description);
            }
            Ok(())
        }
        "fetch" => {
            let name = a
                .name
                .as_deref()
                .context("data fetch: give a NAME (see `pertaudit data list`)")?;
            let f = files.iter().find(|f| f.name == name).with_context(|| {
                format!(
                    "data fetch: no known file {name:?} (known: {})",
                    files
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            let p = crate::data::fetch::fetch(f, &a.dir, &Bars::new())?;
            outln!("{} (sha256 {} checked)", p.display(), f.sha256);
            Ok(())
        }
        other => bail!("unknown data action `{other}` (known: list, fetch)"),
    }
}

pub fn inspect(a: &InspectArgs) -> Result<()> {
    let opts = crate::data::screen_file::LoadOptions {
        control: a.control.clone(),
        control_vector: a.control_vector.clone(),
    };
    let i = crate::data::inspect::inspect(&a.screen, &opts)?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&i)?);
        return Ok(());
    }
    outln!(
        "{} ({}; responses read as {:?})",
        i.file,
        i.format,
        i.response
    );
    outln!(
        "  perturbations × readouts   {} × {}",
        i.perturbations,
        i.readouts
    );
    outln!(
        "  value range                [{}, {}]",
        i.value_min,
        i.value_max
    );
    outln!(
        "  positive / negative / zero {:.4} / {:.4} / {:.4}",
        i.fraction_positive,
        i.fraction_negative,
        i.fraction_zero
    );
    outln!(
        "  target in own response     {} of {} whose target is a readout ({} down)",
        i.targets_in_own_response,
        i.targets_measured,
        i.targets_down_in_own_response
    );
    outln!("  duplicate targets          {}", i.duplicate_targets);
    outln!("  controls                   {}", i.controls);
    outln!(
        "  whole-readout Pearson      reported as \"{}\"",
        i.metric_label
    );
    if let Some(f) = &i.flag {
        outln!(
            "  in_top_up flag             {:.2}% of entries (mean rank {:.1} flagged, {:.1} not)",
            100.0 * f.fraction_flagged,
            f.mean_rank_flagged,
            f.mean_rank_unflagged
        );
    }
    for w in &i.warnings {
        outln!("warning: {w}");
    }
    Ok(())
}
