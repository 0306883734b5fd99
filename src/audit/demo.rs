//! `pertaudit demo`: the whole audit on the embedded default. A simulated screen (the
//! generative model of `src/data/simulate.rs`, with pathway and complex structure) is written into
//! the run directory with its model files and config, and the embedded local model
//! (SmolLM2-135M) plans and judges. No API key, no network (once the model weights are in
//! the cache). Its answers test the pipeline; a 135M model's judgements are not evidence,
//! and the report says so.

use crate::data::runfile::write_atomic;
use anyhow::Result;
use std::path::Path;

/// The demo's model files: the planner and three judges (greedy, and two sampled at
/// temperature 0.7 with their own seeds). All are the same 135M model: the report flags them
/// as the planner's family.
pub const MODEL_FILES: &[(&str, &str)] = &[
    (
        "local-planner.toml",
        "# The embedded model as the re-ranker (one gene per call: `sequential = true`).\n\
name = \"local-planner\"\nprovider = \"local\"\nmodel = \"SmolLM2-135M-Instruct.Q4_1\"\nfamily = \"smollm\"\n\
temperature = 0.0\nmax_tokens = 120\nconcurrency = 1\ntimeout_secs = 1800\nmax_retries = 1\njson_schema = true\n",
    ),
    (
        "judge-greedy.toml",
        "# The embedded model as a judge, greedy decoding.\n\
name = \"judge-greedy\"\nprovider = \"local\"\nmodel = \"SmolLM2-135M-Instruct.Q4_1\"\nfamily = \"smollm\"\n\
temperature = 0.0\nmax_tokens = 120\nconcurrency = 1\ntimeout_secs = 900\nmax_retries = 1\njson_schema = true\n",
    ),
    (
        "judge-sampled-1.toml",
        "# The embedded model as a judge, sampled at temperature 0.7 (seeded).\n\
name = \"judge-sampled-1\"\nprovider = \"local\"\nmodel = \"SmolLM2-135M-Instruct.Q4_1\"\nfamily = \"smollm\"\n\
temperature = 0.7\nseed = 1\nmax_tokens = 120\nconcurrency = 1\ntimeout_secs = 900\nmax_retries = 1\njson_schema = true\n",
    ),
    (
        "judge-sampled-2.toml",
        "# The embedded model as a judge, sampled at temperature 0.7 (another seed).\n\
name = \"judge-sampled-2\"\nprovider = \"local\"\nmodel = \"SmolLM2-135M-Instruct.Q4_1\"\nfamily = \"smollm\"\n\
temperature = 0.7\nseed = 2\nmax_tokens = 120\nconcurrency = 1\ntimeout_secs = 900\nmax_retries = 1\njson_schema = true\n",
    ),
];

/// How big a demo: the documented one, or a tiny one for quick checks (one pathway, one round
/// of three, two judges) that goes through every step in a fraction of the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DemoSize {
    #[default]
    Full,
    Tiny,
}

/// The demo's study: small enough to finish in minutes on two cores.
pub fn config_text(seed: u64) -> String {
    config_text_sized(seed, DemoSize::Full)
}

/// The demo's study at a size.
pub fn config_text_sized(seed: u64, size: DemoSize) -> String {
    let full = full_config(seed);
    match size {
        DemoSize::Full => full,
        DemoSize::Tiny => full
            .replace(
                "pathways = [\"SIM_PATHWAY_1\", \"SIM_PATHWAY_2\"]",
                "pathways = [\"SIM_PATHWAY_1\"]",
            )
            .replace(
                "strategies = [\"random\", \"bald\", \"iterpert\", \"llm\"]\nrounds = 2\nbatch = 4",
                "strategies = [\"random\", \"bald\", \"llm\"]\nrounds = 1\nbatch = 3",
            )
            .replace(
                "models = [\"models/judge-greedy.toml\", \"models/judge-sampled-1.toml\", \"models/judge-sampled-2.toml\"]",
                "models = [\"models/judge-greedy.toml\", \"models/judge-sampled-1.toml\"]",
            )
            .replace("rounds = [2]", "rounds = [1]")
            .replace("name = \"demo\"", "name = \"demo-tiny\""),
    }
}

fn full_config(seed: u64) -> String {
    format!(
        r#"# pertaudit demo: the whole audit on a SIMULATED screen with the embedded model.
# Written by `pertaudit demo`; `pertaudit audit` runs it the same way.

[study]
name = "demo"
description = "Smoke test of the full audit on a simulated screen (documented generative model in src/simulate.rs) with the embedded 135M model as planner and judges. Not evidence about any real screen or model."
seed = {seed}

[[screens]]
name = "sim"
simulated = true
screen = "data/screen.tsv"
gene_sets = "data/pathways.gmt"
pathways = ["SIM_PATHWAY_1", "SIM_PATHWAY_2"]
network = "data/network.tsv"
annotations = "data/context.tsv"
genes = "data/genes.tsv"

[design]
strategies = ["random", "bald", "iterpert", "llm"]
rounds = 2
batch = 4
seeds = 2

[planner]
model = "models/local-planner.toml"
sequential = true
shortlist_factor = 3
reprompts = 1

[judges]
models = ["models/judge-greedy.toml", "models/judge-sampled-1.toml", "models/judge-sampled-2.toml"]
strategies = ["random", "bald", "llm"]
rounds = [2]

[ablation]
arms = ["llm", "llm-masked"]
pathways = ["SIM_PATHWAY_1"]
probe = true

[stats]
alpha = 0.05
resamples = 2000
metric = "pearson_delta"
# equivalence margins: judged win rates within [0.4, 0.6], AUC differences within ±0.02
win_rate_margin = [0.4, 0.6]
auc_margin = 0.02
"#
    )
}

/// Write the demo's data, model files and config into `out`; returns the config's path.
pub fn prepare(out: &Path, seed: u64, size: DemoSize) -> Result<std::path::PathBuf> {
    let sim = crate::data::simulate::SimConfig {
        seed,
        ..Default::default()
    };
    crate::data::simulate::write_files(&out.join("data"), &sim)?;
    for (name, text) in MODEL_FILES {
        write_atomic(&out.join("models").join(name), text.as_bytes())?;
    }
    let config = out.join("audit.toml");
    write_atomic(&config, config_text_sized(seed, size).as_bytes())?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_differs_from_full_where_intended() {
        let full = config_text(0);
        let tiny = config_text_sized(0, DemoSize::Tiny);
        for want in [
            "name = \"demo-tiny\"",
            "pathways = [\"SIM_PATHWAY_1\"]\n",
            "rounds = 1\nbatch = 3",
            "rounds = [1]",
        ] {
            assert!(tiny.contains(want), "tiny config lacks {want:?}");
        }
        assert!(!tiny.contains("judge-sampled-2"));
        assert_eq!(full.matches('\n').count(), tiny.matches('\n').count());
        crate::audit::AuditConfig::parse(&tiny, Path::new("audit.toml")).unwrap();
    }
}
