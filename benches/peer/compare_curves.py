#!/usr/bin/env python3
"""Do pertaudit's learning curves and the peer's agree? One line per (strategy, round) cell.

    python3 benches/peer/compare_curves.py RUN/curve.csv peer.csv [--metric pearson_delta]

`RUN/curve.csv` is `pertaudit plan`'s (mean and SE over seeds per cell); `peer.csv` is
`plan_peer.py`'s per-seed rows. A cell agrees when the two means differ by at most 2 SE of the
difference (sqrt(se_a^2 + se_b^2)); the random draws differ between the tools, so agreement
is statistical, not exact. Exits 1 when any cell disagrees.
"""

import argparse
import sys

import pandas as pd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ours")
    ap.add_argument("peer")
    ap.add_argument("--metric", default="pearson_delta")
    a = ap.parse_args()
    ours = pd.read_csv(a.ours)
    ours = ours[ours["metric"] == a.metric].set_index(["strategy", "round"])
    peer = pd.read_csv(a.peer)
    g = peer.groupby(["strategy", "round"])[a.metric]
    theirs = pd.DataFrame({"mean": g.mean(), "se": g.std(ddof=1) / g.count() ** 0.5})
    agree = 0
    cells = 0
    print(f"{'strategy':<10} {'round':>5} {'pertaudit':>17} {'peer':>17} {'|diff|/SE':>9}")
    for (s, r), row in theirs.iterrows():
        if (s, r) not in ours.index:
            print(f"{s} round {r}: not in {a.ours}", file=sys.stderr)
            sys.exit(2)
        o = ours.loc[(s, r)]
        se = (o["se"] ** 2 + row["se"] ** 2) ** 0.5
        z = abs(o["mean"] - row["mean"]) / se if se > 0 else 0.0
        ok = z <= 2.0
        cells += 1
        agree += ok
        print(f"{s:<10} {r:>5} {o['mean']:>8.4f} ± {o['se']:.4f} {row['mean']:>8.4f} ± "
              f"{row['se']:.4f} {z:>9.2f}{'' if ok else '  DISAGREE'}")
    print(f"{agree} of {cells} cells agree within 2 SE")
    sys.exit(0 if agree == cells else 1)


if __name__ == "__main__":
    main()
