//! Wire formats: the canonical request (what is hashed), the provider-specific HTTP body, and the
//! parse of a provider's answer into text, finish reason, model and usage.

use super::config::{ModelConfig, Provider};
use crate::data::runfile::{canonical_json, sha256_bytes};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn system(s: impl Into<String>) -> Message {
        Message {
            role: "system".into(),
            content: s.into(),
        }
    }
    pub fn user(s: impl Into<String>) -> Message {
        Message {
            role: "user".into(),
            content: s.into(),
        }
    }
}

/// What a caller asks: messages, an optional JSON schema for the answer, and a sample index
/// (0 unless the caller deliberately wants several draws of the same prompt).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    /// `{"name": ..., "schema": {...}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sample: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// The canonical request: everything that determines the answer, nothing that only determines
/// how it is fetched (URL, key, limits). Its sha256 is the cache key.
pub fn canonical(cfg: &ModelConfig, req: &ChatRequest) -> Value {
    let mut v = json!({
        "provider": cfg.provider.as_str(),
        "model": cfg.model,
        "messages": req.messages,
        "temperature": cfg.temperature,
        "max_tokens": cfg.max_tokens,
        "seed": cfg.seed,
        "schema": if cfg.json_schema { req.schema.clone() } else { None },
    });
    if req.sample != 0 {
        v["sample"] = json!(req.sample);
    }
    v
}

pub fn request_hash(cfg: &ModelConfig, req: &ChatRequest) -> String {
    sha256_bytes(canonical_json(&canonical(cfg, req)).as_bytes())
}

/// The URL a request goes to.
pub fn endpoint_url(cfg: &ModelConfig) -> String {
    let base = cfg.base_url.trim_end_matches('/');
    match cfg.provider {
        Provider::Openai => format!("{base}/chat/completions"),
        Provider::Local => format!(
            "local:{}",
            cfg.model_path
                .clone()
                .unwrap_or_else(|| crate::llm::embedded::default_model_path()
                    .display()
                    .to_string())
        ),
        Provider::Anthropic => {
            if base.ends_with("/v1") {
                format!("{base}/messages")
            } else {
                format!("{base}/v1/messages")
            }
        }
    }
}

/// The HTTP body for the provider.
pub fn wire_body(cfg: &ModelConfig, req: &ChatRequest) -> Value {
    let schema = req.schema.as_ref().filter(|_| cfg.json_schema);
    match cfg.provider {
        Provider::Openai | Provider::Local => {
            let mut b = json!({
                "model": cfg.model,
                "messages": req.messages,
                "temperature": cfg.temperature,
                "max_tokens": cfg.max_tokens,
            });
            // A deliberate extra draw (sample k > 0) moves the seed, so that a seeded server
            // samples a different answer; sample 0 is sent exactly as before.
            match (cfg.seed, req.sample) {
                (Some(s), k) => b["seed"] = json!(s + u64::from(k)),
                (None, k) if k > 0 => b["seed"] = json!(u64::from(k)),
                _ => {}
            }
            if let Some(s) = schema {
                b["response_format"] = json!({
                    "type": "json_schema",
                    "json_schema": {
                        "name": s.get("name").cloned().unwrap_or(json!("answer")),
                        "schema": s.get("schema").cloned().unwrap_or(json!({})),
                        "strict": true,
                    }
                });
            }
            b
        }
        Provider::Anthropic => {
            let system: Vec<&str> = req
                .messages
                .iter()
                .filter(|m| m.role == "system")
                .map(|m| m.content.as_str())
                .collect();
            let msgs: Vec<&Message> = req.messages.iter().filter(|m| m.role != "system").collect();
            let mut b = json!({
                "model": cfg.model,
                "max_tokens": cfg.max_tokens,
                "temperature": cfg.temperature,
                "messages": msgs,
            });
            if !system.is_empty() {
                b["system"] = json!(system.join("\n\n"));
            }
            if let Some(s) = schema {
                b["output_config"] = json!({
                    "format": {"type": "json_schema", "schema": s.get("schema").cloned().unwrap_or(json!({}))}
                });
            }
            b
        }
    }
}

/// Why generation stopped, normalised across providers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    Stop,
    /// Cut off at `max_tokens`: the text is incomplete.
    Length,
    /// The model declined.
    Refusal,
    /// The provider's content filter stopped it.
    ContentFilter,
    Other(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub text: String,
    pub finish: Finish,
    pub model: Option<String>,
    pub fingerprint: Option<String>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

fn u(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

/// Parse a 2xx response body. `Err` means the body is not a well-formed answer of the provider.
pub fn parse_response(provider: Provider, body: &[u8]) -> Result<Parsed, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("response is not JSON: {e}"))?;
    match provider {
        Provider::Openai | Provider::Local => {
            let choice = v
                .get("choices")
                .and_then(Value::as_array)
                .and_then(|c| c.first())
                .ok_or("response has no `choices[0]`")?;
            let msg = choice
                .get("message")
                .ok_or("response has no `choices[0].message`")?;
            let refusal = msg
                .get("refusal")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty());
            let content = msg.get("content").and_then(Value::as_str);
            let finish = match choice.get("finish_reason").and_then(Value::as_str) {
                _ if refusal.is_some() => Finish::Refusal,
                Some("stop") | Some("eos") => Finish::Stop,
                Some("length") => Finish::Length,
                Some("content_filter") => Finish::ContentFilter,
                Some(o) => Finish::Other(o.to_string()),
                None => return Err("response has no `finish_reason`".into()),
            };
            let text = match (content, refusal) {
                (_, Some(r)) => r.to_string(),
                (Some(c), None) => c.to_string(),
                (None, None) if finish == Finish::ContentFilter => String::new(),
                (None, None) => return Err("response has no `message.content`".into()),
            };
            let usage = v.get("usage").cloned().unwrap_or(Value::Null);
            Ok(Parsed {
                text,
                finish,
                model: s(&v, "model"),
                fingerprint: s(&v, "system_fingerprint"),
                prompt_tokens: u(&usage, "prompt_tokens"),
                completion_tokens: u(&usage, "completion_tokens"),
            })
        }
        Provider::Anthropic => {
            let blocks = v
                .get("content")
                .and_then(Value::as_array)
                .ok_or("response has no `content` array")?;
            let text: String = blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect();
            let finish = match v.get("stop_reason").and_then(Value::as_str) {
                Some("end_turn") | Some("stop_sequence") => Finish::Stop,
                Some("max_tokens") | Some("model_context_window_exceeded") => Finish::Length,
                Some("refusal") => Finish::Refusal,
                Some(o) => Finish::Other(o.to_string()),
                None => return Err("response has no `stop_reason`".into()),
            };
            let usage = v.get("usage").cloned().unwrap_or(Value::Null);
            Ok(Parsed {
                text,
                finish,
                model: s(&v, "model"),
                // Anthropic returns no system fingerprint; the model id is the fingerprint.
                fingerprint: None,
                prompt_tokens: u(&usage, "input_tokens"),
                completion_tokens: u(&usage, "output_tokens"),
            })
        }
    }
}

/// The provider's error message from an error body, if it has the usual shape.
pub fn error_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error")?;
    e.get("message")
        .and_then(Value::as_str)
        .or_else(|| e.as_str())
        .map(|m| m.chars().take(300).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(p: &str) -> ModelConfig {
        ModelConfig::parse(
            &format!("provider = \"{p}\"\nbase_url = \"http://h/v1\"\nmodel = \"m\"\nseed = 7\n"),
            Path::new("x.toml"),
        )
        .unwrap()
    }

    #[test]
    fn hash_ignores_transport_but_not_content() {
        let a = cfg("openai");
        let mut b = a.clone();
        b.base_url = "http://other/v1".into();
        b.concurrency = 99;
        b.api_key_env = Some("K".into());
        let r = ChatRequest {
            messages: vec![Message::user("hi")],
            ..Default::default()
        };
        assert_eq!(request_hash(&a, &r), request_hash(&b, &r));
        let mut c = a.clone();
        c.temperature = 0.5;
        assert_ne!(request_hash(&a, &r), request_hash(&c, &r));
        let r2 = ChatRequest {
            sample: 1,
            ..r.clone()
        };
        assert_ne!(request_hash(&a, &r), request_hash(&a, &r2));
    }

    #[test]
    fn anthropic_moves_system_and_parses_blocks() {
        let c = cfg("anthropic");
        assert_eq!(endpoint_url(&c), "http://h/v1/messages");
        let r = ChatRequest {
            messages: vec![Message::system("be brief"), Message::user("hi")],
            ..Default::default()
        };
        let b = wire_body(&c, &r);
        assert_eq!(b["system"], "be brief");
        assert_eq!(b["messages"].as_array().unwrap().len(), 1);
        let p = parse_response(
            Provider::Anthropic,
            br#"{"id":"x","model":"claude-x","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"stop_reason":"max_tokens","usage":{"input_tokens":5,"output_tokens":2}}"#,
        )
        .unwrap();
        assert_eq!(
            (p.text.as_str(), p.finish.clone(), p.prompt_tokens),
            ("ab", Finish::Length, 5)
        );
    }

    #[test]
    fn openai_refusal_and_malformed() {
        let p = parse_response(
            Provider::Openai,
            br#"{"model":"m","choices":[{"message":{"content":null,"refusal":"I can't"},"finish_reason":"stop"}]}"#,
        )
        .unwrap();
        assert_eq!(p.finish, Finish::Refusal);
        assert!(parse_response(Provider::Openai, b"{\"choices\": [").is_err());
        assert!(parse_response(Provider::Openai, br#"{"choices":[]}"#).is_err());
    }
}
