//! The LLM layer: model files, wire formats, the async client, the hash-chained ledger and the
//! index of merged shard ledgers.

pub mod client;
pub mod config;
pub mod embedded;
pub mod ledger;
pub mod ledger_index;
pub mod prompt;
pub mod provider;
pub mod scripted;

pub use client::{Answer, Client, ClientError, ClientOptions, Job};
pub use config::{ModelConfig, Provider};
pub use ledger::{Exchange, Ledger, Status};
pub use provider::{ChatRequest, Message};
