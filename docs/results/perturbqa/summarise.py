"""AUC and skill tables of the committed PerturbQA study, from its plan outputs (metrics.csv).

AUC: trapezoid over rounds 0..R of pearson_delta divided by R (as pertaudit computes it), per
seed, then mean ± SE over seeds. Skill: the same AUC of (model − mean-of-training baseline).
Usage: python3 summarise.py RUN_DIR  (e.g. runs/perturbqa or this folder)
"""
import csv, math, sys, pathlib
from collections import defaultdict

run = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
order = ["random", "random-pathway", "prior", "bald", "coreset", "iterpert", "iterpert-unc", "evr"]

def auc(vals):
    r = len(vals) - 1
    return sum((vals[i] + vals[i + 1]) / 2 for i in range(r)) / r

def mse(xs):
    m = sum(xs) / len(xs)
    se = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1) / len(xs))
    return m, se

for kind in ["AUC of pearson_delta (DE-label Pearson)", "skill AUC (model − baseline)"]:
    rows = []
    for m in sorted(run.glob("plan/*/*/metrics.csv")):
        screen, pathway = m.parts[-3], m.parts[-2]
        per = defaultdict(lambda: defaultdict(dict))
        with open(m) as fh:
            for r in csv.DictReader(fh):
                v = float(r["pearson_delta"])
                if kind.startswith("skill"):
                    v -= float(r["baseline_pearson_delta"])
                per[r["strategy"]][int(r["seed"])][int(r["round"])] = v
        cells = []
        for s in order:
            aucs = [auc([per[s][sd][k] for k in sorted(per[s][sd])]) for sd in sorted(per[s])]
            cells.append(mse(aucs))
        best = max(range(len(order)), key=lambda i: cells[i][0])
        rows.append((f"{screen} / {pathway.replace('KEGG_', '')}", cells, best))
    print(f"\n{kind}, mean ± SE over 12 seeds (bold: highest)\n")
    print("| screen / pathway | " + " | ".join(order) + " |")
    print("|---|" + "---|" * len(order))
    for name, cells, best in rows:
        txt = [f"{m:.3f} ± {se:.3f}" for m, se in cells]
        txt[best] = f"**{txt[best]}**"
        print(f"| {name} | " + " | ".join(txt) + " |")
