//! Bradley–Terry fits: Davidson's tie model (Newton on the log-likelihood) and ties as halves.

/// A Bradley–Terry fit with ties (Davidson 1970): `P(i ≻ j) = πᵢ/D`, `P(tie) = ν√(πᵢπⱼ)/D`,
/// `D = πᵢ + πⱼ + ν√(πᵢπⱼ)`, log-strengths `θ = ln π` summing to 0 (identifiable).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DavidsonFit {
    pub theta: Vec<f64>,
    pub nu: f64,
    pub loglik: f64,
    pub iterations: usize,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BtError {
    #[error("no finite maximum-likelihood estimate: {0}")]
    NotEstimable(String),
}

/// Log-likelihood and gradient over the free parameters `(θ₁..θ_{k−1}, ln ν)`.
pub(crate) fn davidson_ll(params: &[f64], wins: &[Vec<f64>], ties: &[Vec<f64>]) -> (f64, Vec<f64>) {
    let k = wins.len();
    let mut theta: Vec<f64> = params[..k - 1].to_vec();
    theta.push(-theta.iter().sum::<f64>());
    let lam = params[k - 1];
    let mut ll = 0.0;
    let mut g_theta = vec![0.0; k];
    let mut g_lam = 0.0;
    for i in 0..k {
        for j in i + 1..k {
            let (wij, wji, t) = (wins[i][j], wins[j][i], ties[i][j]);
            let n = wij + wji + t;
            if n == 0.0 {
                continue;
            }
            let s = lam + 0.5 * (theta[i] + theta[j]);
            let m = theta[i].max(theta[j]).max(s);
            let (ei, ej, es) = ((theta[i] - m).exp(), (theta[j] - m).exp(), (s - m).exp());
            let d = ei + ej + es;
            let logd = m + d.ln();
            ll += wij * (theta[i] - logd) + wji * (theta[j] - logd) + t * (s - logd);
            let (pi, pj, ps) = (ei / d, ej / d, es / d);
            // ∂logD/∂θi = pi + ps/2; ∂logD/∂λ = ps
            g_theta[i] += wij + 0.5 * t - n * (pi + 0.5 * ps);
            g_theta[j] += wji + 0.5 * t - n * (pj + 0.5 * ps);
            g_lam += t - n * ps;
        }
    }
    let mut g: Vec<f64> = (0..k - 1).map(|a| g_theta[a] - g_theta[k - 1]).collect();
    g.push(g_lam);
    (ll, g)
}

/// A pair (i, j) such that i never beats j, directly or through others (transitive closure of
/// `wins > 0`); None when every strategy reaches every other.
pub(crate) fn unreachable_pair(wins: &[Vec<f64>]) -> Option<(usize, usize)> {
    let k = wins.len();
    let mut reach: Vec<Vec<bool>> = (0..k)
        .map(|i| (0..k).map(|j| i == j || wins[i][j] > 0.0).collect())
        .collect();
    for m in 0..k {
        for i in 0..k {
            for j in 0..k {
                if reach[i][m] && reach[m][j] {
                    reach[i][j] = true;
                }
            }
        }
    }
    (0..k)
        .flat_map(|i| (0..k).map(move |j| (i, j)))
        .find(|&(i, j)| !reach[i][j])
}

/// Maximum-likelihood Davidson fit by Newton's method (Hessian from central differences of the
/// analytic gradient, step halving). `wins[i][j]` = times i beat j; `ties` symmetric.
pub fn bradley_terry_davidson(
    wins: &[Vec<f64>],
    ties: &[Vec<f64>],
) -> Result<DavidsonFit, BtError> {
    let k = wins.len();
    if k < 2 {
        return Err(BtError::NotEstimable("need at least two strategies".into()));
    }
    let total_ties: f64 = (0..k)
        .flat_map(|i| (i + 1..k).map(move |j| (i, j)))
        .map(|(i, j)| ties[i][j])
        .sum();
    if total_ties == 0.0 {
        return Err(BtError::NotEstimable(
            "no ties, so the tie parameter ν is 0 (use the tie-as-half fit)".into(),
        ));
    }
    // Sufficient for a finite MLE: every strategy reaches every other through "beat at least
    // once" (otherwise some strengths run off to ±∞, with ν absorbing the ties).
    if let Some((i, j)) = unreachable_pair(wins) {
        return Err(BtError::NotEstimable(format!(
            "strategy {i} never beats strategy {j}, directly or through others: strengths are unbounded"
        )));
    }
    let p = k;
    let mut x = vec![0.0; p];
    let (mut ll, mut g) = davidson_ll(&x, wins, ties);
    for it in 1..=200 {
        let h_step = 1e-5;
        let mut h = crate::numeric::linalg::Mat::zeros(p, p);
        for a in 0..p {
            let mut xp = x.clone();
            let mut xm = x.clone();
            xp[a] += h_step;
            xm[a] -= h_step;
            let (_, gp) = davidson_ll(&xp, wins, ties);
            let (_, gm) = davidson_ll(&xm, wins, ties);
            for b in 0..p {
                h.set(a, b, -(gp[b] - gm[b]) / (2.0 * h_step));
            }
        }
        // symmetrise the negative Hessian and solve (−H) δ = g
        let hs =
            crate::numeric::linalg::Mat::from_fn(p, p, |a, b| 0.5 * (h.get(a, b) + h.get(b, a)));
        let delta = match crate::numeric::linalg::cholesky(&hs) {
            Ok(l) => {
                crate::numeric::linalg::cholesky_solve(
                    &l,
                    &crate::numeric::linalg::Mat::from_vec(p, 1, g.clone()),
                )
                .data
            }
            Err(_) => g.clone(),
        };
        let mut step = 1.0;
        loop {
            let xn: Vec<f64> = x.iter().zip(&delta).map(|(a, d)| a + step * d).collect();
            let (lln, gn) = davidson_ll(&xn, wins, ties);
            if lln >= ll - 1e-12 || step < 1e-10 {
                x = xn;
                ll = lln;
                g = gn;
                break;
            }
            step /= 2.0;
        }
        if x.iter().any(|v| v.abs() > 50.0) {
            return Err(BtError::NotEstimable("strengths diverge".into()));
        }
        if g.iter().map(|v| v.abs()).fold(0.0, f64::max) < 1e-10 {
            let mut theta = x[..k - 1].to_vec();
            theta.push(-theta.iter().sum::<f64>());
            return Ok(DavidsonFit {
                theta,
                nu: x[k - 1].exp(),
                loglik: ll,
                iterations: it,
            });
        }
    }
    Err(BtError::NotEstimable(
        "Newton iterations did not converge".into(),
    ))
}

/// Plain Bradley–Terry with each tie counted as half a win to each side, by the MM algorithm
/// (Hunter 2004). Log-strengths sum to zero. `wins[i][j]` = times i beat j; `ties` symmetric.
pub fn bradley_terry_half(wins: &[Vec<f64>], ties: &[Vec<f64>]) -> Result<Vec<f64>, BtError> {
    let k = wins.len();
    if k < 2 {
        return Err(BtError::NotEstimable("need at least two strategies".into()));
    }
    let w: Vec<Vec<f64>> = (0..k)
        .map(|i| {
            (0..k)
                .map(|j| {
                    if i == j {
                        0.0
                    } else {
                        wins[i][j] + 0.5 * ties[i][j]
                    }
                })
                .collect()
        })
        .collect();
    if let Some((i, j)) = unreachable_pair(&w) {
        return Err(BtError::NotEstimable(format!(
            "strategy {i} never beats strategy {j}, even counting ties as halves: strengths are unbounded"
        )));
    }
    let wins_of: Vec<f64> = (0..k).map(|i| w[i].iter().sum()).collect();
    let mut p = vec![1.0; k];
    for _ in 0..100_000 {
        let mut next = vec![0.0; k];
        for i in 0..k {
            let denom: f64 = (0..k)
                .filter(|&j| j != i)
                .map(|j| (w[i][j] + w[j][i]) / (p[i] + p[j]))
                .sum();
            next[i] = wins_of[i] / denom;
        }
        let g = (next.iter().map(|x| x.ln()).sum::<f64>() / k as f64).exp();
        for x in &mut next {
            *x /= g;
        }
        let change = next
            .iter()
            .zip(&p)
            .map(|(a, b)| (a.ln() - b.ln()).abs())
            .fold(0.0, f64::max);
        p = next;
        if change < 1e-14 {
            break;
        }
    }
    Ok(p.iter().map(|x| x.ln()).collect())
}
