//! The integration tests: one binary (one link of the crate and llama.cpp), one module per
//! area, shared helpers in `util`.

mod util;

mod audit;
mod judge_panel;
mod layers;
mod leaks;
mod llm_client;
mod llm_crash;
mod llm_prompts;
mod loaders;
mod local_llm;
mod plan_cli;
mod preference_props;
mod robustness;
mod stats_cli;
mod stats_reference;
mod validate;
mod workflow;
