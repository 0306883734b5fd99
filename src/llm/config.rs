//! Model files (`judges/*.toml`, planner models): which endpoint, which model, what limits.

use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// OpenAI Chat Completions and every server that speaks it (vLLM, llama.cpp, Ollama,
    /// LM Studio, OpenRouter, Together, `pertaudit serve`).
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// The embedded local model (llama.cpp in-process), spoken to in the OpenAI format.
    Local,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Openai => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Local => "local",
        }
    }
}

fn default_max_tokens() -> u32 {
    512
}
fn default_concurrency() -> usize {
    4
}
fn default_timeout() -> f64 {
    120.0
}
fn default_retries() -> u32 {
    4
}
fn default_backoff() -> f64 {
    0.5
}
fn default_true() -> bool {
    true
}

/// One model endpoint. Everything that changes an answer (provider, model, temperature,
/// max tokens, seed, response schema) goes into the request hash; everything that only changes
/// how it is fetched (URL, key, limits) does not.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Label used in the ledger and reports (default: the file stem).
    #[serde(default)]
    pub name: String,
    pub provider: Provider,
    /// e.g. `https://api.openai.com/v1`, `http://127.0.0.1:8080/v1`, `https://api.anthropic.com`
    /// (not used by `local`).
    #[serde(default)]
    pub base_url: String,
    /// `local` only: the GGUF file (default: the cached SmolLM2-135M-Instruct).
    #[serde(default)]
    pub model_path: Option<String>,
    pub model: String,
    /// Model family (e.g. `gpt`, `claude`, `qwen`), for the self-preference guard.
    #[serde(default)]
    pub family: String,
    #[serde(default)]
    pub temperature: f64,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    #[serde(default)]
    pub seed: Option<u64>,
    /// The *name* of the environment variable holding the API key (never the key itself).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    #[serde(default)]
    pub tokens_per_minute: Option<u32>,
    /// Per-request timeout, seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
    /// Retries after the first attempt, for 429, 5xx, timeouts and connection errors.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// First back-off step, seconds; doubles per attempt (full jitter, capped at 60 s).
    #[serde(default = "default_backoff")]
    pub backoff_secs: f64,
    /// Send the request's JSON schema as a response format when the caller gives one.
    #[serde(default = "default_true")]
    pub json_schema: bool,
    /// USD per million input / output tokens, for the cost ledger and the cost cap.
    #[serde(default)]
    pub price_input_per_mtok: f64,
    #[serde(default)]
    pub price_output_per_mtok: f64,
}

impl ModelConfig {
    /// Load and validate a model file. Errors name the file, the line and the field.
    pub fn load(path: &Path) -> anyhow::Result<ModelConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Self::parse(crate::data::textio::strip_bom(&text), path)
    }

    pub fn parse(text: &str, path: &Path) -> anyhow::Result<ModelConfig> {
        let mut cfg: ModelConfig = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(1);
            let msg = e.message().replace('\n', " ");
            anyhow::anyhow!("{}: line {line}: {msg}", path.display())
        })?;
        if cfg.name.is_empty() {
            cfg.name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("model")
                .to_string();
        }
        let bad = |field: &str, msg: &str| {
            let line = text
                .lines()
                .position(|l| l.trim_start().starts_with(field))
                .map(|i| i + 1)
                .unwrap_or(1);
            anyhow::anyhow!("{}: line {line}, field `{field}`: {msg}", path.display())
        };
        if cfg.provider != Provider::Local
            && !(cfg.base_url.starts_with("http://") || cfg.base_url.starts_with("https://"))
        {
            return Err(bad("base_url", "must start with http:// or https://"));
        }
        // Any printable name: verdicts.csv is written and read through the csv crate, which
        // quotes as needed; only outer whitespace (trimmed by readers) and control characters
        // (which would break a report line) are refused.
        if cfg.name.trim().is_empty()
            || cfg.name.trim() != cfg.name
            || cfg.name.chars().any(char::is_control)
        {
            return Err(bad(
                "name",
                "must be non-empty, without outer whitespace or control characters",
            ));
        }
        if cfg.model.trim().is_empty() {
            return Err(bad("model", "must not be empty"));
        }
        if !(0.0..=2.0).contains(&cfg.temperature) {
            return Err(bad("temperature", "must be in [0, 2]"));
        }
        if cfg.max_tokens == 0 {
            return Err(bad("max_tokens", "must be at least 1"));
        }
        if cfg.concurrency == 0 {
            return Err(bad("concurrency", "must be at least 1"));
        }
        if !(cfg.timeout_secs > 0.0 && cfg.timeout_secs <= 86_400.0) {
            return Err(bad(
                "timeout_secs",
                "must be a number of seconds in (0, 86400]",
            ));
        }
        if cfg.requests_per_minute == Some(0) {
            return Err(bad(
                "requests_per_minute",
                "must be at least 1 (leave it out for no limit)",
            ));
        }
        if cfg.max_retries > 20 {
            return Err(bad("max_retries", "at most 20 (retries are bounded)"));
        }
        if !(cfg.backoff_secs >= 0.0 && cfg.backoff_secs <= 3_600.0) {
            return Err(bad(
                "backoff_secs",
                "must be a number of seconds in [0, 3600]",
            ));
        }
        for (field, price) in [
            ("price_input_per_mtok", cfg.price_input_per_mtok),
            ("price_output_per_mtok", cfg.price_output_per_mtok),
        ] {
            // NaN would disable the cost cap (every comparison with it is false).
            if !(price >= 0.0 && price.is_finite()) {
                return Err(bad(
                    field,
                    "must be a finite price ≥ 0 (USD per million tokens)",
                ));
            }
        }
        if let Some(var) = &cfg.api_key_env {
            if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(bad(
                    "api_key_env",
                    "must be the name of an environment variable (letters, digits, _), not a key",
                ));
            }
        }
        Ok(cfg)
    }

    /// Cost in USD of a call with these token counts.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        (prompt_tokens as f64 * self.price_input_per_mtok
            + completion_tokens as f64 * self.price_output_per_mtok)
            / 1e6
    }

    /// Read the API key from the environment variable the file names.
    pub fn api_key(&self) -> anyhow::Result<Option<String>> {
        match &self.api_key_env {
            None => Ok(None),
            Some(var) => match std::env::var(var) {
                Ok(k) if !k.is_empty() => Ok(Some(k)),
                _ => anyhow::bail!(
                    "model `{}`: environment variable {var} (named by api_key_env) is not set",
                    self.name
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_defaults_and_names_bad_fields() {
        let p = Path::new("judges/x.toml");
        let c = ModelConfig::parse(
            "provider = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\nmodel = \"m\"\n",
            p,
        )
        .unwrap();
        assert_eq!(c.name, "x");
        assert_eq!(c.max_tokens, 512);
        assert_eq!(c.concurrency, 4);
        let e = ModelConfig::parse(
            "provider = \"openai\"\nbase_url = \"http://h/v1\"\nmodel = \"m\"\ntemperature = 3\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "judges/x.toml: line 4, field `temperature`: must be in [0, 2]"
        );
        let e = ModelConfig::parse(
            "provider = \"gemini\"\nbase_url = \"http://h/v1\"\nmodel = \"m\"\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("judges/x.toml: line 1: unknown variant `gemini`"),
            "{e}"
        );
        let e = ModelConfig::parse(
            "provider = \"openai\"\nbase_url = \"http://h/v1\"\nmodel = \"m\"\napi_key_env = \"sk-abc123-xyz\"\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("field `api_key_env`"), "{e}");
        assert!(!e.contains("sk-abc123"), "{e}");
        // A comma is fine now (verdicts.csv quotes it); outer space and control characters not.
        let m = ModelConfig::parse(
            "name = \"a,b\"\nprovider = \"openai\"\nbase_url = \"http://h/v1\"\nmodel = \"m\"\n",
            p,
        )
        .unwrap();
        assert_eq!(m.name, "a,b");
        for bad in ["\" a\"", "\"a\\n\""] {
            let e = ModelConfig::parse(
                &format!("name = {bad}\nprovider = \"openai\"\nbase_url = \"http://h/v1\"\nmodel = \"m\"\n"),
                p,
            )
            .unwrap_err()
            .to_string();
            assert!(
                e.starts_with("judges/x.toml: line 1, field `name`"),
                "{bad}: {e}"
            );
        }
    }
}
