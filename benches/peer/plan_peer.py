#!/usr/bin/env python3
"""A numpy / scipy / scikit-learn peer of `pertaudit plan`, for side-by-side speed measurements.

The same planner loop, written as a user of the Python stack would write it (vectorised numpy,
LAPACK through scipy, metrics from scikit-learn), so that `pertaudit plan` can be timed beside
it on the same screens:

- loaders: PerturbQA labelled pairs (`pert,gene,label` + the sibling `*-dir.csv`: +1 DE-up,
  -1 DE-down, 0 otherwise) and ranked DEG lists (`perturbation rank gene in_top_up`:
  1 - (rank - 1) / N, N the list's length);
- priors: the STRING spectral embedding (regularised normalised adjacency, trivial vector
  dropped, scaled by the eigenvalue) and the GO-Jaccard spectral embedding (scaled by sqrt of
  the eigenvalue), 16 each, by `scipy.linalg.eigh(subset_by_index=...)`; cosine kernels;
  curated closeness (membership + top-5 mean STRING weight + top-5 mean GO Jaccard);
- split: half of the pathway's perturbed targets held out, an initial set of one batch;
- predictor: PCA (K = 16) of the centred training responses, features = the target's loading
  row (when a training response reads the target out), an indicator, the prior embedding;
  a 10-member ridge ensemble (bootstraps, 80 % of the features, lambda = 1, standardised
  features) for the uncertainty and a ridge with its penalty chosen by exact leave-one-out
  error for the prediction;
- per round: Pearson delta, top-20 DE Pearson and MSE, AUROC / AUPRC / direction accuracy on
  labelled screens, the mean-of-training baseline, the pool's ensemble uncertainty, the
  out-of-bag scores; then a batch by `random`, `prior`, `bald` (closed-form greedy batch BALD
  with Sherman-Morrison updates), `coreset` (greedy k-centre on standardised features) or
  `iterpert` (greedy k-centre on the mean of the max-normalised prior and model kernels).

Random draws use numpy's own generators (seeded per seed and stream), so splits differ from
pertaudit's; learning curves are compared statistically (`compare_curves.py`), not bit for bit.

    python3 benches/peer/plan_peer.py --screen S --pathways GMT --pathway P \
        --network NET --go GO --seeds 5 --out curve.csv
"""

import argparse
import os
import sys
import time
import zlib

import numpy as np
import pandas as pd
import scipy.linalg as sla
from joblib import Parallel, delayed
from sklearn.metrics import average_precision_score, roc_auc_score
from threadpoolctl import threadpool_limits

LOO_GRID = 10.0 ** np.arange(-2.0, 4.01, 0.5)
TOP_DE = 20


def target_of(label):
    first = label.split("+")[0]
    parts = first.split("_")
    if len(parts) >= 3 and parts[0].isdigit():
        return parts[1]
    return first


# ----------------------------------------------------------------------------- loaders
def load_screen(path):
    """(perturbations, targets, genes, Y, labels) with labels = (pert, gene, de, up) or None."""
    if path.endswith(".csv"):
        de = pd.read_csv(path, dtype={"pert": str, "gene": str})
        p_codes, perts = pd.factorize(de["pert"], sort=False)
        g_codes, genes = pd.factorize(de["gene"], sort=False)
        y = np.zeros((len(perts), len(genes)))
        up = np.full(len(de), -1, dtype=np.int8)
        dir_path = path.replace("-de.", "-dir.")
        if dir_path != path and os.path.exists(dir_path):
            d = pd.read_csv(dir_path, dtype={"pert": str, "gene": str})
            key = pd.MultiIndex.from_arrays([de["pert"], de["gene"]])
            pos = key.get_indexer(pd.MultiIndex.from_arrays([d["pert"], d["gene"]]))
            if (pos < 0).any():
                sys.exit(f"{dir_path}: a direction pair is not in the DE file")
            up[pos] = d["label"].to_numpy().astype(np.int8)
        lab = de["label"].to_numpy().astype(bool)
        val = np.where(lab & (up == 1), 1.0, np.where(lab & (up == 0), -1.0, 0.0))
        y[p_codes, g_codes] = val
        labels = (p_codes, g_codes, lab, up)
    else:
        t = pd.read_csv(path, sep="\t", dtype={"perturbation": str, "gene": str})
        p_codes, perts = pd.factorize(t["perturbation"], sort=False)
        g_codes, genes = pd.factorize(t["gene"], sort=False)
        rank = t["rank"].to_numpy().astype(float)
        n_of = np.ones(len(perts))
        np.maximum.at(n_of, p_codes, rank)
        y = np.zeros((len(perts), len(genes)))
        y[p_codes, g_codes] = 1.0 - (rank - 1.0) / n_of[p_codes]
        labels = None
    perts = list(perts)
    return perts, [target_of(p) for p in perts], list(genes), y, labels


def load_gmt(path, name):
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if parts[0] == name:
                return [g for g in parts[2:] if g]
    sys.exit(f"{path}: no gene set {name}")


def load_network(path):
    t = pd.read_csv(path, sep="\t", usecols=["symbol_1", "symbol_2", "combined_score"])
    t = t[t["symbol_1"] != t["symbol_2"]]
    w = t["combined_score"].to_numpy(float)
    scale = max(1000.0, w.max()) if w.max() > 1.0 else 1.0
    a = pd.concat(
        [
            pd.DataFrame({"a": t["symbol_1"], "b": t["symbol_2"], "w": w / scale}),
            pd.DataFrame({"a": t["symbol_2"], "b": t["symbol_1"], "w": w / scale}),
        ]
    )
    return a.groupby(["a", "b"], sort=False)["w"].max()


def load_go(path):
    t = pd.read_csv(path, sep="\t", usecols=["symbol", "go_id", "evidence"])
    t = t[t["evidence"] != "ND"].drop_duplicates(["symbol", "go_id"])
    return t[["symbol", "go_id"]]


# ----------------------------------------------------------------------------- priors
def top_eigh(m, k):
    n = m.shape[0]
    k = min(k, n)
    vals, vecs = sla.eigh(m, subset_by_index=[n - k, n - 1])
    return vals[::-1], vecs[:, ::-1]


def string_embedding(targets, net, dim):
    n = len(targets)
    idx = {}
    for i, t in enumerate(targets):
        idx.setdefault(t, []).append(i)
    e = net.reset_index()
    e = e[e["a"].isin(idx) & e["b"].isin(idx)]
    a = np.zeros((n, n))
    for ga, gb, w in zip(e["a"], e["b"], e["w"]):
        for i in idx[ga]:
            a[i, idx[gb]] = w
    np.fill_diagonal(a, 0.0)
    deg = a.sum(1)
    tau = max(deg.mean(), 1e-3)
    dreg = np.sqrt(deg + tau)
    m = (a + tau / n) / np.outer(dreg, dreg)
    vals, vecs = top_eigh(m, dim + 1)
    keep = [c for c in range(1, len(vals)) if vals[c] > 1e-10][:dim]
    return vecs[:, keep] * vals[keep]


def go_sets(genes, go):
    """Binary incidence matrix (genes x terms) of direct GO annotations."""
    g = go[go["symbol"].isin(set(genes))]
    terms, t_codes = np.unique(g["go_id"].to_numpy(), return_inverse=True)
    row = {s: i for i, s in enumerate(genes)}
    b = np.zeros((len(genes), len(terms)), dtype=np.float32)
    b[[row[s] for s in g["symbol"]], t_codes] = 1.0
    return b


def jaccard(b1, b2):
    inter = b1 @ b2.T
    s1, s2 = b1.sum(1), b2.sum(1)
    union = s1[:, None] + s2[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        j = np.where((s1[:, None] > 0) & (s2[None, :] > 0), inter / union, 0.0)
    return j.astype(float)


def go_embedding(targets, go, dim):
    uniq = sorted(set(targets))
    b = go_sets(uniq, go)
    j_u = jaccard(b, b)
    where = {t: i for i, t in enumerate(uniq)}
    pos = np.array([where[t] for t in targets])
    j = j_u[np.ix_(pos, pos)]
    vals, vecs = top_eigh(j, dim)
    keep = [c for c in range(len(vals)) if vals[c] > 1e-10][:dim]
    return vecs[:, keep] * np.sqrt(vals[keep])


def cosine_kernel(e):
    norms = np.linalg.norm(e, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    k = (e @ e.T) / np.outer(safe, safe)
    k[norms == 0, :] = 0.0
    k[:, norms == 0] = 0.0
    np.fill_diagonal(k, 1.0)
    return k


def closeness(targets, members, net, go):
    uniq = sorted(set(targets))
    mem = list(dict.fromkeys(members))
    # STRING weights target x member
    e = net.reset_index()
    e = e[e["a"].isin(set(uniq)) & e["b"].isin(set(mem))]
    ui = {t: i for i, t in enumerate(uniq)}
    mi = {t: i for i, t in enumerate(mem)}
    s = np.zeros((len(uniq), len(mem)))
    s[[ui[a] for a in e["a"]], [mi[b] for b in e["b"]]] = e["w"].to_numpy()
    both = sorted(set(uniq) | set(mem))
    b = go_sets(both, go)
    bi = {t: i for i, t in enumerate(both)}
    j = jaccard(b[[bi[t] for t in uniq]], b[[bi[t] for t in mem]])
    same = np.array([[u == m for m in mem] for u in uniq]) if len(mem) else np.zeros((len(uniq), 0), bool)
    s[same] = -np.inf
    j[same] = -np.inf

    def top5(x):
        x = np.sort(x, axis=1)[:, ::-1]
        cnt = np.minimum(np.isfinite(x).sum(1), 5)
        x5 = np.where(np.isfinite(x[:, :5]), x[:, :5], 0.0)
        return np.where(cnt > 0, x5.sum(1) / np.maximum(cnt, 1), 0.0)

    inside = np.array([u in mi for u in uniq], float)
    c_u = inside + top5(s) + top5(j)
    return np.array([c_u[ui[t]] for t in targets])


# ----------------------------------------------------------------------------- predictor
def standardise(x):
    m = x.mean(0)
    s = np.sqrt(((x - m) ** 2).mean(0))
    s = np.where(s ** 2 > 1e-24, s, 0.0)
    return m, s


def ridge_fit(x, y, lam):
    m, s = standardise(x)
    xs = np.where(s > 0, (x - m) / np.where(s > 0, s, 1.0), 0.0)
    ym = y.mean(0)
    yc = y - ym
    n, d = xs.shape
    if d <= n:
        coef = sla.solve(xs.T @ xs + lam * np.eye(d), xs.T @ yc, assume_a="pos")
    else:
        coef = xs.T @ sla.solve(xs @ xs.T + lam * np.eye(n), yc, assume_a="pos")
    return m, s, ym, coef


def ridge_predict(r, x):
    m, s, ym, coef = r
    xs = np.where(s > 0, (x - m) / np.where(s > 0, s, 1.0), 0.0)
    return ym + xs @ coef


def ridge_loo(x, y):
    m, s = standardise(x)
    xs = np.where(s > 0, (x - m) / np.where(s > 0, s, 1.0), 0.0)
    yc = y - y.mean(0)
    n = x.shape[0]
    dv, v = np.linalg.eigh(xs.T @ xs)
    p = xs @ v
    b = p.T @ yc
    best, best_e = None, None
    for lam in LOO_GRID:
        shrink = 1.0 / (np.maximum(dv, 0.0) + lam)
        h = 1.0 / n + (p * p) @ shrink
        fitted = (p * shrink) @ b
        e = (((yc - fitted) / np.maximum(1.0 - h, 1e-12)[:, None]) ** 2).sum() / n
        if best_e is None or e <= best_e:
            best, best_e = lam, e
    return ridge_fit(x, y, best), best


class Model:
    pass


def fit(y_all, target_gene, prior, train, rng, k_max=16, members=10, frac=0.8):
    ytr = y_all[train]
    mu = ytr.mean(0)
    yc = ytr - mu
    # PCA through the n x n Gram matrix (n << genes): faster than an SVD of the n x G matrix.
    lam, u = np.linalg.eigh(yc @ yc.T)
    lam, u = lam[::-1], u[:, ::-1]
    keep = np.flatnonzero(lam > 1e-10 * max(lam[0], 1e-300))[:k_max]
    t = u[:, keep] * np.sqrt(lam[keep])
    v = yc.T @ (u[:, keep] / np.sqrt(lam[keep]))
    k = len(keep)
    measured = (ytr != 0).any(0)
    tg = np.array([g if g >= 0 and measured[g] else -1 for g in target_gene])
    has = tg >= 0
    feat = np.zeros((y_all.shape[0], k + 1 + prior.shape[1]))
    feat[has, :k] = v[tg[has]]
    feat[has, k] = 1.0
    feat[:, k + 1:] = prior
    n, d = len(train), feat.shape[1]
    n_cols = min(max(int(np.ceil(d * frac)), 1), d)
    mem = []
    oob_sse, oob_n = np.zeros(k), 0
    oob_lat, oob_cnt = np.zeros((n, k)), np.zeros(n)
    ftr = feat[train]
    for _ in range(members):
        boot = rng.integers(0, n, n)
        cols = np.sort(rng.permutation(d)[:n_cols])
        r = ridge_fit(ftr[boot][:, cols], t[boot], 1.0)
        out = np.setdiff1d(np.arange(n), boot)
        if len(out):
            pred = ridge_predict(r, ftr[out][:, cols])
            oob_sse += ((t[out] - pred) ** 2).sum(0)
            oob_lat[out] += pred
            oob_cnt[out] += 1
            oob_n += len(out)
        mem.append((cols, r))
    m = Model()
    m.train, m.mu, m.v, m.feat, m.members = train, mu, v, feat, mem
    m.noise = oob_sse / oob_n if oob_n else (t ** 2).mean(0)
    m.full, m.lam = ridge_loo(ftr, t)
    ok = oob_cnt > 0
    m.oob = (np.asarray(train)[ok], oob_lat[ok] / oob_cnt[ok, None])
    return m


def member_latents(m, perts):
    return np.stack([ridge_predict(r, m.feat[perts][:, cols]) for cols, r in m.members])


def predict(m, perts):
    return m.mu + ridge_predict(m.full, m.feat[perts]) @ m.v.T


def uncertainty(m, perts):
    lat = member_latents(m, perts)
    var = lat.var(0)
    return var.sum(1), (0.5 * np.log1p(var / np.maximum(m.noise, 1e-12))).sum(1)


# ----------------------------------------------------------------------------- metrics
def rowwise_pearson(a, b):
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    saa, sbb = (a * a).sum(1), (b * b).sum(1)
    ok = (saa > 0) & (sbb > 0)
    return np.where(ok, (a * b).sum(1) / np.sqrt(np.where(ok, saa * sbb, 1.0)), 0.0)


def score(y_all, test, pred, labels):
    truth = y_all[test]
    pd_ = rowwise_pearson(pred, truth).mean()
    top = np.argsort(-np.abs(truth), axis=1, kind="stable")[:, :TOP_DE]
    tt = np.take_along_axis(truth, top, 1)
    yy = np.take_along_axis(pred, top, 1)
    out = {"pearson_delta": pd_, "top20_pearson": rowwise_pearson(yy, tt).mean(),
           "top20_mse": ((tt - yy) ** 2).mean(1).mean()}
    if labels is not None:
        p_codes, g_codes, de, up = labels
        row = np.full(y_all.shape[0], -1)
        row[test] = np.arange(len(test))
        sel = row[p_codes] >= 0
        yv = pred[row[p_codes[sel]], g_codes[sel]]
        d = de[sel]
        if d.any() and not d.all():
            out["auroc_de"] = roc_auc_score(d, np.abs(yv))
            out["auprc_de"] = average_precision_score(d, np.abs(yv))
        u = up[sel]
        dd = d & (u >= 0)
        if dd.any():
            y1 = yv[dd]
            out["direction_accuracy"] = np.where(y1 == 0, 0.5, (y1 > 0) == (u[dd] == 1)).mean()
    return out


# ----------------------------------------------------------------------------- strategies
def k_centre(dist_to, pool, train, batch, weight=None):
    """Greedy k-centre: dist_to(i, js) -> squared distances of pool[i]'s ... (vectorised)."""
    mind = dist_to(pool, train).min(1) if len(train) else np.full(len(pool), np.inf)
    taken = np.zeros(len(pool), bool)
    picks = []
    for _ in range(min(batch, len(pool))):
        sc = np.sqrt(np.maximum(mind, 0.0))
        if weight is not None:
            sc = sc * weight
        sc[taken] = -np.inf
        i = int(np.argmax(sc))
        taken[i] = True
        picks.append(pool[i])
        mind = np.minimum(mind, dist_to(pool, [pool[i]])[:, 0])
    return picks


def select(name, m, ctx, rng):
    pool, train, batch = ctx["pool"], ctx["train"], ctx["batch"]
    if name == "random":
        return list(rng.choice(pool, batch, replace=False))
    if name == "prior":
        s = ctx["closeness"][pool]
        order = np.lexsort((rng.random(len(pool)), -s))
        return list(np.asarray(pool)[order[:batch]])
    if name == "bald":
        f = m.feat
        tr = f[train]
        mean = tr.mean(0)
        sd = np.sqrt(((tr - mean) ** 2).mean(0))
        zs = lambda x: np.where(sd > 1e-12, (x - mean) / np.where(sd > 1e-12, sd, 1.0), 0.0)
        ztr = zs(tr)
        g = ztr.T @ ztr + m.lam * np.eye(f.shape[1])
        inv = sla.cho_solve(sla.cho_factor(g), np.eye(f.shape[1]))
        z = zs(f[pool])
        h = ((z @ inv) * z).sum(1) + 1.0 / len(train)
        taken = np.zeros(len(pool), bool)
        picks = []
        for _ in range(batch):
            hh = np.where(taken, -np.inf, h)
            i = int(np.argmax(hh))
            taken[i] = True
            picks.append(pool[i])
            w = inv @ z[i]
            inv -= np.outer(w, w) / (1.0 + z[i] @ w)
            h = ((z @ inv) * z).sum(1) + 1.0 / len(train)
        return picks
    if name == "coreset":
        f = m.feat
        mean, sd = f.mean(0), f.std(0)
        z = np.where(sd ** 2 > 1e-24, (f - mean) / np.where(sd > 0, sd, 1.0), 0.0)
        sq = (z * z).sum(1)
        dist = lambda a, b: sq[a][:, None] + sq[b][None, :] - 2.0 * z[a] @ z[b].T
        return k_centre(dist, np.asarray(pool), np.asarray(train), batch)
    if name == "iterpert":
        all_ = np.arange(m.feat.shape[0])
        model_k = cosine_kernel(np.mean(member_latents(m, all_), 0))
        ks = ctx["kernels"] + [model_k]
        km = sum(k / np.abs(k).max() for k in ks) / len(ks)
        diag = np.diag(km)
        dist = lambda a, b: diag[a][:, None] + diag[b][None, :] - 2.0 * km[np.ix_(a, b)]
        return k_centre(dist, np.asarray(pool), np.asarray(train), batch)
    sys.exit(f"unknown strategy {name}")


# ----------------------------------------------------------------------------- the loop
def rng_for(seed, name):
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def split(targets, members, seed, batch, rounds, frac=0.5):
    inside = list(dict.fromkeys(t for t in targets if t in members))
    rng = rng_for(seed, "split/test")
    rng.shuffle(inside)
    n_test = min(max(int(round(len(inside) * frac)), 1), len(inside) - 1)
    held = set(inside[:n_test])
    test = [i for i, t in enumerate(targets) if t in held]
    pool = [i for i, t in enumerate(targets) if t not in held]
    initial = sorted(rng_for(seed, "split/initial").choice(pool, batch, replace=False))
    pool = sorted(set(pool) - set(initial))
    return test, pool, list(initial)


def run_job(y, target_gene, priors, labels, sp, strategy, seed, rounds, batch):
    test, pool, train = sp
    rows = []
    for rnd in range(rounds + 1):
        m = fit(y, target_gene, priors["embedding"], train, rng_for(seed, f"ensemble/round{rnd}"))
        sc = score(y, test, predict(m, test), labels)
        base = np.repeat(y[train].mean(0)[None, :], len(test), 0)
        score(y, test, base, labels)
        rows.append((strategy, seed, rnd, len(train), sc["pearson_delta"]))
        if rnd == rounds:
            break
        var, mi = uncertainty(m, pool)
        oob_p, oob_lat = m.oob
        score(y, oob_p, m.mu + oob_lat @ m.v.T, labels)
        ctx = {"pool": pool, "train": train, "batch": batch, "closeness": priors["closeness"],
               "kernels": priors["kernels"]}
        chosen = select(strategy, m, ctx, rng_for(seed, f"strategy/{strategy}/round{rnd}"))
        train = sorted(train + [int(c) for c in chosen])
        pool = sorted(set(pool) - set(int(c) for c in chosen))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--screen", required=True)
    ap.add_argument("--pathways", required=True)
    ap.add_argument("--pathway", required=True)
    ap.add_argument("--network")
    ap.add_argument("--go")
    ap.add_argument("--strategies", default="random,prior,bald,coreset,iterpert")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--prior-dim", type=int, default=16)
    ap.add_argument("--jobs", type=int, default=-1, help="worker processes (-1: all cores)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    t0 = time.perf_counter()
    perts, targets, genes, y, labels = load_screen(a.screen)
    members = set(load_gmt(a.pathways, a.pathway))
    net = load_network(a.network) if a.network else None
    go = load_go(a.go) if a.go else None
    t1 = time.perf_counter()
    parts = []
    if net is not None:
        parts.append(string_embedding(targets, net, a.prior_dim))
    if go is not None:
        parts.append(go_embedding(targets, go, a.prior_dim))
    emb = np.hstack(parts) if parts else np.zeros((len(perts), 0))
    empty_net = pd.Series(dtype=float, index=pd.MultiIndex.from_arrays([[], []], names=["a", "b"]))
    empty_go = pd.DataFrame({"symbol": [], "go_id": []})
    priors = {
        "embedding": emb,
        "kernels": [cosine_kernel(p) for p in parts],
        "closeness": closeness(targets, load_gmt(a.pathways, a.pathway),
                               net if net is not None else empty_net,
                               go if go is not None else empty_go),
    }
    gi = {g: i for i, g in enumerate(genes)}
    target_gene = np.array([gi.get(t, -1) for t in targets])
    t2 = time.perf_counter()
    # One job per (seed, strategy), on every core (joblib's processes; BLAS one thread each).
    jobs = [(seed, s) for seed in range(a.seeds) for s in a.strategies.split(",")]
    splits = {seed: split(targets, members, seed, a.batch, a.rounds) for seed in range(a.seeds)}
    with threadpool_limits(1):
        out = Parallel(n_jobs=a.jobs)(
            delayed(run_job)(y, target_gene, priors, labels, splits[seed], s, seed, a.rounds,
                             a.batch)
            for seed, s in jobs)
    rows = [r for part in out for r in part]
    t3 = time.perf_counter()
    pd.DataFrame(rows, columns=["strategy", "seed", "round", "n_train", "pearson_delta"]).to_csv(
        a.out, index=False)
    t4 = time.perf_counter()
    print(f"peer: {len(perts)} perturbations x {len(genes)} genes; load {t1 - t0:.2f} s, "
          f"priors {t2 - t1:.2f} s, loop {t3 - t2:.2f} s, output {t4 - t3:.2f} s, "
          f"total {t4 - t0:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
