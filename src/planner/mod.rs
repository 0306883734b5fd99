//! The budgeted active-learning planner: splits and the fit → score → acquire loop
//! (`active`), the strategies (`strategy`), the LLM-guided planner and its masking arms
//! (`llm`), and the comparison of strategies (`comparison`).

pub mod active;
pub mod comparison;
pub mod llm;
pub mod run;
pub mod spec;
pub mod strategy;
pub mod validate;
