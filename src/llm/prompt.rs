//! Prompt templates (`prompts/*.j2`, minijinja with strict undefined). The templates are read
//! from the prompts folder when present (so a user can edit them; their sha256 goes into the
//! manifest), else the copies compiled into the binary are used.

use minijinja::{Environment, UndefinedBehavior};
use std::path::Path;

/// The LLM planner's re-ranking template.
pub const RERANK: &str = "rerank.j2";
pub const JUDGE_SYSTEM: &str = "judge_system.j2";
pub const JUDGE_PAIRWISE: &str = "judge_pairwise.j2";

const EMBEDDED: &[(&str, &str)] = &[
    (JUDGE_SYSTEM, include_str!("../../prompts/judge_system.j2")),
    (
        JUDGE_PAIRWISE,
        include_str!("../../prompts/judge_pairwise.j2"),
    ),
    (
        RERANK,
        include_str!("../../prompts/rerank.j2"),
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
