//! Plots as standalone SVG text (no external assets, fixed number formatting, so the same
//! numbers always give the same bytes): learning curves with error bands, a win-rate heat map,
//! and a dot-and-whisker chart.

use std::fmt::Write as _;

/// Okabe–Ito colours (distinguishable with the common colour-vision deficiencies).
pub const PALETTE: &[&str] = &[
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442",
];

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A coordinate with two decimals (enough for a 640-pixel plot, and stable).
fn c(v: f64) -> String {
    let s = format!("{v:.2}");
    if s == "-0.00" {
        "0.00".into()
    } else {
        s
    }
}

/// A tick label: as few decimals as the step needs.
fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s.trim_start_matches(['-', '0', '.']).is_empty() {
        s[1..].to_string()
    } else {
        s
    }
}

/// Round tick positions covering [lo, hi].
fn ticks(lo: f64, hi: f64, want: usize) -> (f64, f64, f64) {
    let span = (hi - lo).max(1e-9);
    let raw = span / want.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= want as f64)
        .unwrap_or(10.0 * mag);
    ((lo / step).floor() * step, (hi / step).ceil() * step, step)
}

/// An SVG's opening: size, font, white background and the title at `title_x`.
fn open(w: f64, h: f64, title: &str, title_x: f64) -> String {
    let t = esc(title);
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="DejaVu Sans, Arial, sans-serif" font-size="13" role="img" aria-label="{t}"><rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/><text x="{}" y="22" font-size="15" font-weight="bold">{t}</text>"##,
        c(title_x)
    )
}

pub struct Series {
    pub name: String,
    /// (x, mean, standard error)
    pub points: Vec<(f64, f64, f64)>,
}

/// Learning curves: one line per series with a ±1 SE band.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let (w, h) = (680.0, 380.0);
    let (ml, mr, mt, mb) = (64.0, 150.0, 36.0, 52.0);
    let pts = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, m, se) in pts {
        let se = if se.is_finite() { se } else { 0.0 };
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(m - se);
        y1 = y1.max(m + se);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 == x0 {
        x1 = x0 + 1.0;
    }
    let (y0, y1, ystep) = ticks(y0, y1, 5);
    let (px, py) = (w - ml - mr, h - mt - mb);
    let sx = |x: f64| ml + (x - x0) / (x1 - x0) * px;
    let sy = |y: f64| mt + (1.0 - (y - y0) / (y1 - y0)) * py;
    let mut s = String::new();
    s.push_str(&open(w, h, title, ml));
    // Grid and y ticks.
    let mut y = y0;
    while y <= y1 + ystep * 1e-6 {
        let _ = write!(
            s,
            r##"<line x1="{a}" x2="{b}" y1="{v}" y2="{v}" stroke="#dddddd"/><text x="{t}" y="{ty}" text-anchor="end">{l}</text>"##,
            a = c(ml),
            b = c(ml + px),
            v = c(sy(y)),
            t = c(ml - 6.0),
            ty = c(sy(y) + 4.0),
            l = tick_label(y, ystep)
        );
        y += ystep;
    }
    // x ticks: the integer rounds.
    let mut x = x0.ceil();
    while x <= x1 + 1e-9 {
        let _ = write!(
            s,
            r##"<line x1="{v}" x2="{v}" y1="{a}" y2="{b}" stroke="#333333"/><text x="{v}" y="{t}" text-anchor="middle">{l}</text>"##,
            v = c(sx(x)),
            a = c(mt + py),
            b = c(mt + py + 5.0),
            t = c(mt + py + 20.0),
            l = x as i64
        );
        x += 1.0;
    }
    let _ = write!(
        s,
        r##"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#333333"/>"##,
        c(ml),
        c(mt),
        c(px),
        c(py)
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        c(ml + px / 2.0),
        c(h - 12.0),
        esc(x_label)
    );
    let _ = write!(
        s,
        r#"<text transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
        c(mt + py / 2.0),
        esc(y_label)
    );
    for (k, ser) in series.iter().enumerate() {
        let col = PALETTE[k % PALETTE.len()];
        let p: Vec<&(f64, f64, f64)> = ser.points.iter().filter(|p| p.1.is_finite()).collect();
        if p.is_empty() {
            continue;
        }
        let se = |q: &(f64, f64, f64)| if q.2.is_finite() { q.2 } else { 0.0 };
        let mut band: Vec<String> = p
            .iter()
            .map(|q| format!("{},{}", c(sx(q.0)), c(sy(q.1 + se(q)))))
            .collect();
        band.extend(
            p.iter()
                .rev()
                .map(|q| format!("{},{}", c(sx(q.0)), c(sy(q.1 - se(q))))),
        );
        let _ = write!(
            s,
            r#"<polygon points="{}" fill="{col}" fill-opacity="0.15" stroke="none"/>"#,
            band.join(" ")
        );
        let line: Vec<String> = p
            .iter()
            .map(|q| format!("{},{}", c(sx(q.0)), c(sy(q.1))))
            .collect();
        let _ = write!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{col}" stroke-width="2.5"/>"#,
            line.join(" ")
        );
        for q in &p {
            let _ = write!(
                s,
                r#"<circle cx="{}" cy="{}" r="3.5" fill="{col}"/>"#,
                c(sx(q.0)),
                c(sy(q.1))
            );
        }
        let ly = mt + 14.0 + 22.0 * k as f64;
        let lx = ml + px + 14.0;
        let _ = write!(
            s,
            r#"<line x1="{}" x2="{}" y1="{ly2}" y2="{ly2}" stroke="{col}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            c(lx),
            c(lx + 22.0),
            c(lx + 28.0),
            c(ly + 4.0),
            esc(&ser.name),
            ly2 = c(ly)
        );
    }
    let _ = write!(
        s,
        r##"<text x="{}" y="{}" font-size="11" fill="#555555">band: ±1 SE over seeds</text>"##,
        c(ml + px + 14.0),
        c(mt + 14.0 + 22.0 * series.len() as f64 + 6.0)
    );
    s.push_str("</svg>");
    s
}

/// One heat-map cell: the row strategy's win rate over the column strategy, its CI and its
/// Holm-adjusted p-value.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    pub rate: f64,
    pub lo: f64,
    pub hi: f64,
    pub holm_p: f64,
}

fn diverging(v: f64) -> (String, bool) {
    // 0 → blue (#2166ac), ½ → near white (#f7f7f7), 1 → red (#b2182b).
    let v = v.clamp(0.0, 1.0);
    let (a, b, t) = if v < 0.5 {
        ((33.0, 102.0, 172.0), (247.0, 247.0, 247.0), v / 0.5)
    } else {
        ((247.0, 247.0, 247.0), (178.0, 24.0, 43.0), (v - 0.5) / 0.5)
    };
    let mix = |x: f64, y: f64| (x + (y - x) * t).round() as u8;
    let (r, g, bl) = (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2));
    let dark = (v - 0.5).abs() > 0.32;
    (format!("#{r:02x}{g:02x}{bl:02x}"), dark)
}

/// Win-rate matrix: cell (row s, column t) is s's win rate over t.
pub fn heatmap(
    title: &str,
    names: &[String],
    cell: &dyn Fn(usize, usize) -> Option<Cell>,
) -> String {
    let n = names.len();
    let cw = 118.0;
    let ch = 62.0;
    let (ml, mt) = (120.0, 66.0);
    let w = (ml + cw * n as f64 + 20.0).max(560.0);
    let h = mt + ch * n as f64 + 70.0;
    let mut s = String::new();
    s.push_str(&open(w, h, title, 10.0));
    for (j, t) in names.iter().enumerate() {
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" font-weight="bold">{}</text>"#,
            c(ml + cw * (j as f64 + 0.5)),
            c(mt - 10.0),
            esc(t)
        );
    }
    for (i, r) in names.iter().enumerate() {
        let y = mt + ch * i as f64;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end" font-weight="bold">{}</text>"#,
            c(ml - 10.0),
            c(y + ch / 2.0 + 4.0),
            esc(r)
        );
        for j in 0..n {
            let x = ml + cw * j as f64;
            match (i == j, cell(i, j)) {
                (true, _) | (false, None) => {
                    let _ = write!(
                        s,
                        r##"<rect x="{}" y="{}" width="{}" height="{}" fill="#eeeeee" stroke="#ffffff"/><text x="{}" y="{}" text-anchor="middle" fill="#888888">{}</text>"##,
                        c(x),
                        c(y),
                        c(cw),
                        c(ch),
                        c(x + cw / 2.0),
                        c(y + ch / 2.0 + 4.0),
                        if i == j { "—" } else { "no items" }
                    );
                }
                (false, Some(v)) => {
                    let (fill, dark) = diverging(v.rate);
                    let tc = if dark { "#ffffff" } else { "#000000" };
                    let star = if v.holm_p < 0.05 { " *" } else { "" };
                    let _ = write!(
                        s,
                        r##"<rect x="{}" y="{}" width="{}" height="{}" fill="{fill}" stroke="#ffffff"/><text x="{}" y="{}" text-anchor="middle" fill="{tc}" font-size="16" font-weight="bold">{:.2}{star}</text><text x="{}" y="{}" text-anchor="middle" fill="{tc}" font-size="11">[{:.2}, {:.2}]</text><text x="{}" y="{}" text-anchor="middle" fill="{tc}" font-size="11">Holm p {}</text>"##,
                        c(x),
                        c(y),
                        c(cw),
                        c(ch),
                        c(x + cw / 2.0),
                        c(y + 22.0),
                        v.rate,
                        c(x + cw / 2.0),
                        c(y + 38.0),
                        v.lo,
                        v.hi,
                        c(x + cw / 2.0),
                        c(y + 53.0),
                        crate::report::fmt_p(v.holm_p)
                    );
                }
            }
        }
    }
    let _ = write!(
        s,
        r##"<text x="10" y="{}" font-size="11" fill="#333333">Cell: win rate of the row strategy over the column strategy (ties ½),</text><text x="10" y="{}" font-size="11" fill="#333333">95% cluster-bootstrap CI, Holm-adjusted sign-test p (* below 0.05).</text><text x="10" y="{}" font-size="11" fill="#333333">Blue: the row strategy loses; red: it wins.</text>"##,
        c(h - 40.0),
        c(h - 26.0),
        c(h - 12.0)
    );
    s.push_str("</svg>");
    s
}

/// Dot-and-whisker chart of estimates with intervals (one row per name), with a zero line.
pub fn forest(title: &str, x_label: &str, rows: &[(String, f64, f64, f64)]) -> String {
    let (ml, mr, mt, mb) = (130.0, 30.0, 36.0, 48.0);
    let rh = 30.0;
    let w = 640.0;
    let h = mt + mb + rh * rows.len().max(1) as f64;
    let vals = rows
        .iter()
        .flat_map(|r| [r.1, r.2, r.3])
        .filter(|v| v.is_finite());
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for v in vals {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi - lo < 1e-9 {
        lo -= 1.0;
        hi += 1.0;
    }
    let (lo, hi, step) = ticks(lo, hi, 6);
    let px = w - ml - mr;
    let sx = |x: f64| ml + (x - lo) / (hi - lo) * px;
    let mut s = String::new();
    s.push_str(&open(w, h, title, 10.0));
    let bottom = mt + rh * rows.len().max(1) as f64;
    let mut x = lo;
    while x <= hi + step * 1e-6 {
        let _ = write!(
            s,
            r##"<line x1="{v}" x2="{v}" y1="{a}" y2="{b}" stroke="#dddddd"/><text x="{v}" y="{t}" text-anchor="middle">{l}</text>"##,
            v = c(sx(x)),
            a = c(mt),
            b = c(bottom),
            t = c(bottom + 18.0),
            l = tick_label(x, step)
        );
        x += step;
    }
    let _ = write!(
        s,
        r##"<line x1="{v}" x2="{v}" y1="{}" y2="{}" stroke="#333333" stroke-dasharray="4 3"/>"##,
        c(mt),
        c(bottom),
        v = c(sx(0.0))
    );
    for (k, (name, est, l, u)) in rows.iter().enumerate() {
        let y = mt + rh * (k as f64 + 0.5);
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            c(ml - 10.0),
            c(y + 4.0),
            esc(name)
        );
        if l.is_finite() && u.is_finite() {
            let _ = write!(
                s,
                r##"<line x1="{}" x2="{}" y1="{yy}" y2="{yy}" stroke="#0072B2" stroke-width="2.5"/>"##,
                c(sx(*l)),
                c(sx(*u)),
                yy = c(y)
            );
        }
        if est.is_finite() {
            let _ = write!(
                s,
                r##"<circle cx="{}" cy="{}" r="5" fill="#0072B2"/>"##,
                c(sx(*est)),
                c(y)
            );
        }
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        c(ml + px / 2.0),
        c(h - 8.0),
        esc(x_label)
    );
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cover_the_range_with_round_steps() {
        let (lo, hi, step) = ticks(0.03, 0.71, 5);
        assert!(lo <= 0.03 && hi >= 0.71);
        assert!((step - 0.2).abs() < 1e-12, "{step}");
        assert_eq!(tick_label(-0.0, 0.2), "0.0");
    }

    #[test]
    fn charts_are_well_formed_and_stable() {
        let s = vec![Series {
            name: "a<b".into(),
            points: vec![(0.0, 0.1, 0.02), (1.0, 0.4, f64::NAN)],
        }];
        let one = line_chart("t", "round", "r", &s);
        assert_eq!(one, line_chart("t", "round", "r", &s));
        assert!(one.starts_with("<svg") && one.ends_with("</svg>"));
        assert!(one.contains("a&lt;b"));
        let names = vec!["x".to_string(), "y".to_string()];
        let hm = heatmap("w", &names, &|i, _| {
            Some(Cell {
                rate: if i == 0 { 0.8 } else { 0.2 },
                lo: 0.1,
                hi: 0.9,
                holm_p: 0.01,
            })
        });
        assert!(hm.contains("0.80 *") && hm.contains("0.20 *"));
        assert_eq!(diverging(0.5).0, "#f7f7f7");
        assert_eq!(diverging(1.0).0, "#b2182b");
    }
}
