//! A small document model rendered twice: Markdown (figures as SVG files beside it) and one
//! self-contained HTML page (figures inline, styles inline, no external asset).

use super::svg::esc;
use std::fmt::Write as _;

#[derive(Debug, Clone)]
pub enum Block {
    Heading(u8, String),
    /// Text with `code` and **bold** spans.
    Para(String),
    /// A highlighted notice.
    Banner(String),
    Table {
        head: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    Figure {
        file: String,
        svg: String,
        caption: String,
    },
    List(Vec<String>),
}

#[derive(Debug, Clone, Default)]
pub struct Doc {
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Doc {
    pub fn h(&mut self, level: u8, t: impl Into<String>) {
        self.blocks.push(Block::Heading(level, t.into()));
    }
    pub fn p(&mut self, t: impl Into<String>) {
        self.blocks.push(Block::Para(t.into()));
    }
    pub fn banner(&mut self, t: impl Into<String>) {
        self.blocks.push(Block::Banner(t.into()));
    }
    pub fn table(&mut self, head: &[&str], rows: Vec<Vec<String>>) {
        self.blocks.push(Block::Table {
            head: head.iter().map(|s| s.to_string()).collect(),
            rows,
        });
    }
    pub fn figure(&mut self, file: impl Into<String>, svg: String, caption: impl Into<String>) {
        self.blocks.push(Block::Figure {
            file: file.into(),
            svg,
            caption: caption.into(),
        });
    }
    pub fn list(&mut self, items: Vec<String>) {
        self.blocks.push(Block::List(items));
    }

    /// Markdown, and the figures it links (file name, SVG text).
    pub fn markdown(&self) -> (String, Vec<(String, String)>) {
        let mut s = format!("# {}\n\n", self.title);
        let mut figs = Vec::new();
        for b in &self.blocks {
            match b {
                Block::Heading(l, t) => {
                    let _ = writeln!(s, "{} {t}\n", "#".repeat(*l as usize + 1));
                }
                Block::Para(t) => {
                    let _ = writeln!(s, "{t}\n");
                }
                Block::Banner(t) => {
                    let _ = writeln!(s, "> **{t}**\n");
                }
                Block::Table { head, rows } => {
                    let cell = |c: &str| c.replace('|', "\\|");
                    let _ = writeln!(
                        s,
                        "| {} |",
                        head.iter().map(|h| cell(h)).collect::<Vec<_>>().join(" | ")
                    );
                    let _ = writeln!(s, "|{}", "---|".repeat(head.len()));
                    for r in rows {
                        let _ = writeln!(
                            s,
                            "| {} |",
                            r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
                        );
                    }
                    s.push('\n');
                }
                Block::Figure { file, svg, caption } => {
                    let _ = writeln!(s, "![{caption}](figures/{file})\n\n*{caption}*\n");
                    figs.push((file.clone(), svg.clone()));
                }
                Block::List(items) => {
                    for i in items {
                        let _ = writeln!(s, "- {i}");
                    }
                    s.push('\n');
                }
            }
        }
        (s, figs)
    }

    /// One self-contained HTML page.
    pub fn html(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>\n{}\n</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
            esc(&self.title),
            CSS,
            esc(&self.title)
        );
        let mut section_open = false;
        for b in &self.blocks {
            match b {
                Block::Heading(l, t) => {
                    if *l == 1 {
                        if section_open {
                            s.push_str("</section>\n");
                        }
                        s.push_str("<section>\n");
                        section_open = true;
                    }
                    let _ = writeln!(s, "<h{n}>{}</h{n}>", inline(t), n = l + 1);
                }
                Block::Para(t) => {
                    let _ = writeln!(s, "<p>{}</p>", inline(t));
                }
                Block::Banner(t) => {
                    let _ = writeln!(s, "<p class=\"banner\">{}</p>", inline(t));
                }
                Block::Table { head, rows } => {
                    s.push_str("<div class=\"tw\"><table>\n<thead><tr>");
                    for h in head {
                        let _ = write!(s, "<th>{}</th>", inline(h));
                    }
                    s.push_str("</tr></thead>\n<tbody>\n");
                    for r in rows {
                        s.push_str("<tr>");
                        for c in r {
                            let _ = write!(s, "<td>{}</td>", inline(c));
                        }
                        s.push_str("</tr>\n");
                    }
                    s.push_str("</tbody>\n</table></div>\n");
                }
                Block::Figure { svg, caption, .. } => {
                    let _ = writeln!(
                        s,
                        "<figure>\n{svg}\n<figcaption>{}</figcaption>\n</figure>",
                        inline(caption)
                    );
                }
                Block::List(items) => {
                    s.push_str("<ul>\n");
                    for i in items {
                        let _ = writeln!(s, "<li>{}</li>", inline(i));
                    }
                    s.push_str("</ul>\n");
                }
            }
        }
        if section_open {
            s.push_str("</section>\n");
        }
        s.push_str("</main>\n</body>\n</html>\n");
        s
    }
}

/// Escape, then turn `code` and **bold** spans into tags.
fn inline(t: &str) -> String {
    let e = esc(t);
    let mut out = String::new();
    let mut code = false;
    let mut bold = false;
    let mut rest = e.as_str();
    while let Some(ch) = rest.chars().next() {
        if !code && rest.starts_with("**") {
            out.push_str(if bold { "</strong>" } else { "<strong>" });
            bold = !bold;
            rest = &rest[2..];
        } else if ch == '`' {
            out.push_str(if code { "</code>" } else { "<code>" });
            code = !code;
            rest = &rest[1..];
        } else {
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
    }
    if code {
        out.push_str("</code>");
    }
    if bold {
        out.push_str("</strong>");
    }
    out
}

const CSS: &str = "body{font-family:'DejaVu Sans',Arial,sans-serif;color:#1a1a1a;background:#fff;margin:0;line-height:1.45}
main{max-width:1000px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:26px;margin:0 0 12px}h2{font-size:20px;border-bottom:2px solid #0072B2;padding-bottom:4px;margin-top:34px}
h3{font-size:16px;margin-top:22px}
p.banner{background:#fff4d6;border-left:6px solid #E69F00;padding:10px 14px;font-weight:bold}
.tw{overflow-x:auto}table{border-collapse:collapse;margin:10px 0 18px;font-size:13px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f0f4f8}
tbody tr:nth-child(even){background:#fafafa}code{font-family:'DejaVu Sans Mono',monospace;font-size:12px;background:#f3f3f3;padding:0 3px;word-break:break-all}
figure{margin:14px 0 22px}figure svg{max-width:100%;height:auto}figcaption{font-size:13px;color:#444;margin-top:4px}
section{page-break-inside:auto}figure,table{page-break-inside:avoid}
@media print{main{max-width:none;padding:0 8px}h2{page-break-after:avoid}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_spans_and_escaping() {
        assert_eq!(
            inline("a `x<y` **b**"),
            "a <code>x&lt;y</code> <strong>b</strong>"
        );
    }

    #[test]
    fn one_doc_two_renderings() {
        let mut d = Doc {
            title: "T".into(),
            ..Default::default()
        };
        d.h(1, "Sec");
        d.table(&["a", "b"], vec![vec!["1|2".into(), "3".into()]]);
        d.figure("f.svg", "<svg></svg>".into(), "cap");
        let (md, figs) = d.markdown();
        assert!(md.contains("| 1\\|2 | 3 |"));
        assert!(md.contains("![cap](figures/f.svg)"));
        assert_eq!(figs.len(), 1);
        let h = d.html();
        assert!(h.contains("<svg></svg>") && h.contains("<td>1|2</td>"));
        assert!(!h.contains("src=") && !h.contains("href="));
    }
}
