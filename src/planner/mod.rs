//! The budgeted active-learning planner: splits and the fit → score → acquire loop
//! (`active`), the strategies (`strategy`), the LLM-guided planner and its masking arms
//! (`llm`), the comparison of strategies (`comparison`), and the join of a sharded run
//! (`merge`).

pub mod active;
pub mod comparison;
pub mod llm;
pub mod merge;
pub mod run;
pub mod spec;
pub mod strategy;
pub mod validate;
