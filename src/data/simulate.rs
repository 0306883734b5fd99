//! A simulated Perturb-seq screen with pathway structure, for the embedded demo and tests. Every
//! file it writes says it is simulated. The generative model (all draws from the named stream
//! `simulate/<part>` of one seed):
//!
//! - `pathways` pathways, each with `complexes` complexes of `genes_per_complex` member genes, and
//!   `background` genes in no pathway; `readouts` measured genes.
//! - Pathway k has a response program π_k over the readouts (each entry non-zero with probability
//!   0.15, then N(0, 1)); complex c of pathway k adds κ_kc (non-zero with probability 0.05,
//!   N(0, 0.5²)); a background gene b has its own weak program β_b (probability 0.03, N(0, 0.3²)).
//! - Knocking down gene g with guide efficiency s_g ~ U(0.6, 1.4) changes expression by
//!   Δ_g = s_g (π_k + κ_kc) for a member of complex c of pathway k (β_g for a background gene),
//!   plus noise N(0, σ²) per readout.
//! - Expression = baseline μ (N(5, 1) per readout) + Δ; the `control` row is μ, so the loader
//!   subtracts it back to Δ.
//! - The STRING-like network scores 900 within a complex, 600 for 30 % of the pairs within a
//!   pathway, 400 for 1 % of all other pairs.
//! - Annotations name the gene's pathway process and complex, but 20 % of member genes carry a
//!   wrong pathway (annotation noise, as real annotations are imperfect).

use crate::data::runfile::write_atomic;
use crate::numeric::seed::stream;
use rand::rngs::ChaCha8Rng;
use rand::RngExt;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimConfig {
    pub pathways: usize,
    pub complexes: usize,
    pub genes_per_complex: usize,
    pub background: usize,
    pub readouts: usize,
    pub noise: f64,
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            pathways: 5,
            complexes: 3,
            genes_per_complex: 8,
            background: 120,
            readouts: 300,
            noise: 0.15,
            seed: 0,
        }
    }
}

/// The simulated files, as text in their real formats.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulated {
    /// Dense TSV: `perturbation`, then one column per readout; a `control` row.
    pub screen: String,
    /// GMT of the pathways.
    pub gmt: String,
    /// STRING-like TSV: `symbol_1 symbol_2 combined_score`.
    pub network: String,
    /// One-line gene context: `symbol context`.
    pub context: String,
    /// Gene table: `symbol name aliases`.
    pub genes: String,
    /// Pathway names.
    pub pathway_names: Vec<String>,
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller on (0, 1].
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn sparse(rng: &mut ChaCha8Rng, n: usize, p: f64, sd: f64) -> Vec<f64> {
    (0..n)
        .map(|_| {
            if rng.random::<f64>() < p {
                sd * normal(rng)
            } else {
                0.0
            }
        })
        .collect()
}

const PROCESSES: [&str; 8] = [
    "cytoplasmic translation",
    "mRNA splicing via spliceosome",
    "proteasome-mediated protein catabolism",
    "DNA replication",
    "rRNA processing",
    "oxidative phosphorylation",
    "tRNA aminoacylation",
    "mitotic cell cycle",
];

fn fmt(v: f64) -> String {
    let s = format!("{v:.4}");
    if s == "-0.0000" {
        "0.0000".into()
    } else {
        s
    }
}

pub fn simulate(c: &SimConfig) -> Simulated {
    let mut r_prog = stream(c.seed, "simulate/programs");
    let mut r_kd = stream(c.seed, "simulate/knockdown");
    let mut r_net = stream(c.seed, "simulate/network");
    let mut r_ann = stream(c.seed, "simulate/annotations");
    let readouts: Vec<String> = (1..=c.readouts).map(|i| format!("SIMR{i:04}")).collect();
    let baseline: Vec<f64> = (0..c.readouts).map(|_| 5.0 + normal(&mut r_prog)).collect();
    let pathway_names: Vec<String> = (1..=c.pathways)
        .map(|k| format!("SIM_PATHWAY_{k}"))
        .collect();
    // (symbol, pathway, complex)
    let mut genes: Vec<(String, Option<(usize, usize)>)> = Vec::new();
    for k in 0..c.pathways {
        for cx in 0..c.complexes {
            for j in 0..c.genes_per_complex {
                genes.push((
                    format!("SIMP{}C{}G{:02}", k + 1, cx + 1, j + 1),
                    Some((k, cx)),
                ));
            }
        }
    }
    for b in 0..c.background {
        genes.push((format!("SIMB{:03}", b + 1), None));
    }
    let pi: Vec<Vec<f64>> = (0..c.pathways)
        .map(|_| sparse(&mut r_prog, c.readouts, 0.15, 1.0))
        .collect();
    let kappa: Vec<Vec<Vec<f64>>> = (0..c.pathways)
        .map(|_| {
            (0..c.complexes)
                .map(|_| sparse(&mut r_prog, c.readouts, 0.05, 0.5))
                .collect()
        })
        .collect();

    let mut screen = String::from("perturbation");
    for r in &readouts {
        screen.push('\t');
        screen.push_str(r);
    }
    screen.push_str("\ncontrol");
    for v in &baseline {
        screen.push('\t');
        screen.push_str(&fmt(*v));
    }
    screen.push('\n');
    for (g, place) in &genes {
        let s: f64 = 0.6 + 0.8 * r_kd.random::<f64>();
        let program: Vec<f64> = match place {
            Some((k, cx)) => pi[*k]
                .iter()
                .zip(&kappa[*k][*cx])
                .map(|(a, b)| s * (a + b))
                .collect(),
            None => sparse(&mut r_prog, c.readouts, 0.03, 0.3),
        };
        screen.push_str(g);
        for (i, d) in program.iter().enumerate() {
            let v = baseline[i] + d + c.noise * normal(&mut r_kd);
            screen.push('\t');
            screen.push_str(&fmt(v));
        }
        screen.push('\n');
    }

    let mut gmt = String::new();
    for (k, name) in pathway_names.iter().enumerate() {
        let members: Vec<&str> = genes
            .iter()
            .filter(|(_, p)| p.is_some_and(|(pk, _)| pk == k))
            .map(|(g, _)| g.as_str())
            .collect();
        let _ = writeln!(
            gmt,
            "{name}\tSimulated pathway {} ({}; {} complexes)\t{}",
            k + 1,
            PROCESSES[k % PROCESSES.len()],
            c.complexes,
            members.join("\t")
        );
    }

    let mut network = String::from("symbol_1\tsymbol_2\tcombined_score\n");
    for i in 0..genes.len() {
        for j in i + 1..genes.len() {
            let score = match (genes[i].1, genes[j].1) {
                (Some((a, x)), Some((b, y))) if a == b && x == y => Some(900),
                (Some((a, _)), Some((b, _))) if a == b => {
                    (r_net.random::<f64>() < 0.3).then_some(600)
                }
                _ => (r_net.random::<f64>() < 0.01).then_some(400),
            };
            if let Some(s) = score {
                let _ = writeln!(network, "{}\t{}\t{s}", genes[i].0, genes[j].0);
            }
        }
    }

    let mut context = String::from("symbol\tcontext\n");
    let mut table = String::from("symbol\tname\taliases\n");
    for (idx, (g, place)) in genes.iter().enumerate() {
        let line = match place {
            Some((k, cx)) => {
                let shown = if r_ann.random::<f64>() < 0.2 {
                    (k + 1 + r_ann.random_range(0..c.pathways.max(2) - 1)) % c.pathways
                } else {
                    *k
                };
                format!(
                    "{g}: simulated gene. Biological process: {}. Cellular component: simulated complex {} of pathway {}.",
                    PROCESSES[shown % PROCESSES.len()],
                    cx + 1,
                    shown + 1
                )
            }
            None => format!("{g}: simulated gene of no modelled pathway."),
        };
        let _ = writeln!(context, "{g}\t{line}");
        let _ = writeln!(
            table,
            "{g}\tsimulated gene {}\tSIMALT{}|{g}-ALT",
            idx + 1,
            idx + 1
        );
    }
    Simulated {
        screen,
        gmt,
        network,
        context,
        genes: table,
        pathway_names,
    }
}

/// The simulated screen's files in `out`, and a README that says they are simulated.
pub fn write_files(out: &std::path::Path, c: &SimConfig) -> anyhow::Result<Simulated> {
    let s = simulate(c);
    let readme = format!(
        "# SIMULATED screen (not real data)\n\nMade by `pertaudit simulate` with {c:?}.\nThe generative model is documented in `src/data/simulate.rs`.\nPathways: {}.\n",
        s.pathway_names.join(", ")
    );
    for (name, text) in [
        ("screen.tsv", &s.screen),
        ("pathways.gmt", &s.gmt),
        ("network.tsv", &s.network),
        ("context.tsv", &s.context),
        ("genes.tsv", &s.genes),
        ("README.md", &readme),
    ] {
        let p = out.join(name);
        write_atomic(&p, text.as_bytes())
            .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", p.display()))?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_structured() {
        let c = SimConfig {
            readouts: 50,
            background: 10,
            ..Default::default()
        };
        let a = simulate(&c);
        assert_eq!(a, simulate(&c));
        assert_ne!(a.screen, simulate(&SimConfig { seed: 1, ..c }).screen);
        assert_eq!(a.gmt.lines().count(), 5);
        assert_eq!(a.screen.lines().count(), 1 + 1 + 5 * 3 * 8 + 10);
        assert!(a.network.contains("SIMP1C1G01\tSIMP1C1G02\t900"));
    }
}
