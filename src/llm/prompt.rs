//! The prompt service shared by the LLM planner and the judges: templates (`prompts/*.j2`,
//! minijinja with strict undefined), rendering, and the text hygiene applied to every
//! annotation a model is shown (`neutralise` against injected instructions, `clip` to one
//! length). The templates are read from the prompts folder when present (so a user can edit
//! them; their sha256 goes into the manifest), else the copies compiled into the binary are used.

use minijinja::{Environment, UndefinedBehavior};
use std::path::Path;

/// The LLM planner's re-ranking template.
pub const RERANK: &str = "rerank.j2";
pub const JUDGE_SYSTEM: &str = "judge_system.j2";
pub const JUDGE_PAIRWISE: &str = "judge_pairwise.j2";
/// The same question reworded (the paraphrase arm of `judge --paraphrase`).
pub const JUDGE_PARAPHRASE: &str = "judge_pairwise_paraphrase.j2";

const EMBEDDED: &[(&str, &str)] = &[
    (JUDGE_SYSTEM, include_str!("../../prompts/judge_system.j2")),
    (
        JUDGE_PAIRWISE,
        include_str!("../../prompts/judge_pairwise.j2"),
    ),
    (RERANK, include_str!("../../prompts/rerank.j2")),
    (
        JUDGE_PARAPHRASE,
        include_str!("../../prompts/judge_pairwise_paraphrase.j2"),
    ),
];

/// A named template's text: from `dir` when it has the file, else the embedded copy.
pub fn template_text(dir: Option<&Path>, name: &str) -> anyhow::Result<(String, String)> {
    if let Some(d) = dir {
        let p = d.join(name);
        if p.is_file() {
            let t =
                std::fs::read_to_string(&p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            return Ok((t, p.display().to_string()));
        }
    }
    EMBEDDED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| (t.to_string(), format!("embedded:{name}")))
        .ok_or_else(|| anyhow::anyhow!("no template named {name}"))
}

/// An environment with strict undefined behaviour: a missing variable is an error, never "".
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env
}

/// Render one template with a serialisable context.
pub fn render(name: &str, text: &str, ctx: &serde_json::Value) -> anyhow::Result<String> {
    let mut env = environment();
    env.add_template(name, text)
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let t = env
        .get_template(name)
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    t.render(ctx).map_err(|e| anyhow::anyhow!("{name}: {e}"))
}

/// Longest annotation shown, characters, so annotation length is the same field for every
/// gene and not a fingerprint of a strategy.
pub const MAX_ANNOTATION: usize = 160;

/// Replace text that could steer a judge: template and role markers, bracketed labels, and
/// instruction-like phrases. Returns the cleaned text and whether anything was changed.
pub fn neutralise(text: &str) -> (String, bool) {
    let mut s: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let before = s.clone();
    for (from, to) in [
        ("[[", "("),
        ("]]", ")"),
        ("{{", "("),
        ("}}", ")"),
        ("{%", "("),
        ("%}", ")"),
        ("<|", "("),
        ("|>", ")"),
        ("```", "'"),
    ] {
        s = s.replace(from, to);
    }
    s = s.replace(['{', '}', '<', '>', '[', ']'], "");
    let lower = s.to_lowercase();
    let phrases = [
        "ignore previous",
        "ignore all previous",
        "ignore the previous",
        "ignore the above",
        "ignore above",
        "disregard previous",
        "disregard the above",
        "disregard all",
        "system prompt",
        "you are now",
        "new instructions",
        "answer a",
        "answer b",
        "choose a",
        "choose b",
        "prefer batch",
        "batch a",
        "batch b",
        "winner",
        "assistant:",
        "system:",
        "user:",
    ];
    let mut cut: Vec<(usize, usize)> = Vec::new();
    for p in phrases {
        let mut from = 0;
        while let Some(i) = lower[from..].find(p) {
            cut.push((from + i, from + i + p.len()));
            from += i + p.len();
        }
    }
    if !cut.is_empty() {
        cut.sort();
        let mut out = String::new();
        let mut at = 0;
        for (a, b) in cut {
            if a < at {
                at = at.max(b);
                continue;
            }
            // `lower` and `s` have the same byte offsets only for ASCII; fall back to a blunt cut.
            if !s.is_char_boundary(a) || !s.is_char_boundary(b) {
                continue;
            }
            out.push_str(&s[at..a]);
            out.push_str("[removed]");
            at = b;
        }
        out.push_str(&s[at.min(s.len())..]);
        s = out;
    }
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let changed = s != before.split_whitespace().collect::<Vec<_>>().join(" ");
    (s, changed)
}

/// Cut to exactly `MAX_ANNOTATION` characters (then `…`), so every long annotation has the same
/// length and length cannot fingerprint a strategy.
pub fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_ANNOTATION {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX_ANNOTATION).collect();
    format!("{head}…")
}
