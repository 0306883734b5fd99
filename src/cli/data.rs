//! `pertaudit data list | fetch NAME`: known public files, size- and sha256-checked downloads.

use crate::cli::args::DataArgs;
use crate::cli::Bars;
use anyhow::{bail, Context, Result};

pub fn data(a: &DataArgs) -> Result<()> {
    let files = crate::data::fetch::registry(a.registry.as_deref())?;
    match a.action.as_str() {
        "list" => {
            for f in &files {
                println!("{:<42} {:>11} bytes  {}", f.name, f.size, f.description);
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
            println!("{} (sha256 {} checked)", p.display(), f.sha256);
            Ok(())
        }
        other => bail!("unknown data action `{other}` (known: list, fetch)"),
    }
}
