//! Reading a judge's answer: the last well-formed `{"winner": "A"|"B"|"tie", "reason": …}` in
//! the text, never a guess; and the failure categories that are never counted as a verdict.

use crate::llm::ledger::{Exchange, Status};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Label {
    A,
    B,
    #[serde(rename = "tie")]
    Tie,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// An answer with no well-formed verdict in it.
    ParseError,
    /// The model declined (or a content filter stopped it).
    Refusal,
    /// The provider failed after its retries (or the cost cap stopped the call).
    ProviderError,
    /// Cut off at the token limit.
    Truncated,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::ParseError => "parse_error",
            Failure::Refusal => "refusal",
            Failure::ProviderError => "provider_error",
            Failure::Truncated => "truncated",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub label: Option<Label>,
    pub reason: Option<String>,
    pub failure: Option<Failure>,
}

/// Every top-level JSON object in `text` (balanced braces outside strings), in order.
fn json_objects(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'{' {
            i += 1;
            continue;
        }
        let (mut depth, mut in_str, mut esc) = (0usize, false, false);
        let mut end = None;
        for (j, &c) in b.iter().enumerate().skip(i) {
            if in_str {
                match (esc, c) {
                    (true, _) => esc = false,
                    (false, b'\\') => esc = true,
                    (false, b'"') => in_str = false,
                    _ => {}
                }
                continue;
            }
            match c {
                b'"' => in_str = true,
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(j);
                        break;
                    }
                }
                _ => {}
            }
        }
        match end {
            Some(j) => {
                out.push(&text[i..=j]);
                i = j + 1;
            }
            None => i += 1,
        }
    }
    out
}

/// The last well-formed verdict in a text.
pub fn parse_verdict(text: &str) -> Option<(Label, String)> {
    json_objects(text).into_iter().rev().find_map(|o| {
        let v: Value = serde_json::from_str(o).ok()?;
        let w = v.get("winner")?.as_str()?.trim();
        let label = match w.to_ascii_lowercase().as_str() {
            "a" => Label::A,
            "b" => Label::B,
            "tie" => Label::Tie,
            _ => return None,
        };
        let reason = v
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        Some((label, reason))
    })
}

/// Classify an exchange: a verdict, or the failure it is.
pub fn read(x: &Exchange) -> Reading {
    let fail = |f| Reading {
        label: None,
        reason: None,
        failure: Some(f),
    };
    match x.status {
        Status::Error => fail(Failure::ProviderError),
        Status::Refusal | Status::ContentFilter => fail(Failure::Refusal),
        Status::Truncated => fail(Failure::Truncated),
        Status::Ok => match x.text.as_deref().and_then(parse_verdict) {
            Some((label, reason)) => Reading {
                label: Some(label),
                reason: Some(reason),
                failure: None,
            },
            None => fail(Failure::ParseError),
        },
    }
}

/// The JSON schema sent with every judge request.
pub fn schema() -> Value {
    serde_json::json!({
        "name": "verdict",
        "schema": {
            "type": "object",
            "properties": {
                "winner": {"type": "string", "enum": ["A", "B", "tie"]},
                "reason": {"type": "string", "maxLength": 300}
            },
            "required": ["winner", "reason"],
            "additionalProperties": false
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_last_well_formed_verdict() {
        assert_eq!(
            parse_verdict(r#"{"winner": "B", "reason": "x"}"#),
            Some((Label::B, "x".into()))
        );
        let t = r#"First I thought {"winner": "A"} but then {"winner": "tie", "reason": "both {fine}"} ok"#;
        assert_eq!(parse_verdict(t), Some((Label::Tie, "both {fine}".into())));
        // Malformed last object: the earlier well-formed one is taken.
        assert_eq!(
            parse_verdict(r#"{"winner":"A","reason":"r"} then {"winner": "B""#)
                .unwrap()
                .0,
            Label::A
        );
        // Never a guess.
        assert_eq!(parse_verdict("Batch A is clearly better."), None);
        assert_eq!(parse_verdict(r#"{"winner": "Batch A"}"#), None);
        assert_eq!(parse_verdict(r#"{"winner": "C"}"#), None);
        assert_eq!(parse_verdict(""), None);
    }
}
