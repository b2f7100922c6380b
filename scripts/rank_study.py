#!/usr/bin/env python3
"""rank_study.py: predictor recall and mass kept against predictor rank (relative to d) and weight dtype, from
`dejavu measure` folders of predictors trained at several ranks: one CSV row per (rank, dtype, kind, keep-fraction)
with the mean over layers of recall, mass recall and the oracle's mass recall, and a plot of recall against
rank / d at each keep-fraction.

  python3 scripts/rank_study.py --d 256 --out DIR RANK:DTYPE=MEASURE_DIR [...]
"""
import argparse
import csv
import os
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def sweep_means(run_dir):
    """{(kind, fraction): (recall, mass_recall, oracle_mass_recall)} means over layers of the top-k rows."""
    per = {}
    with open(os.path.join(run_dir, "predictor_sweep.csv")) as f:
        for r in csv.DictReader(f):
            if r["selector"] != "topk":
                continue
            cols = [float(r["recall"]), float(r["mass_recall"] or "nan"), float(r["oracle_mass_recall"] or "nan")]
            per.setdefault((r["kind"], float(r["param"])), []).append(cols)
    return {k: tuple(statistics.fmean(c[i] for c in v) for i in range(3)) for k, v in per.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="RANK:DTYPE=DIR (MLP rank; the head rank is half of it)")
    ap.add_argument("--d", type=int, required=True, help="the model's hidden size")
    ap.add_argument("--out", required=True, help="folder for rank_study.csv and rank_study.png")
    a = ap.parse_args()
    rows = []
    for spec in a.runs:
        key, run_dir = spec.split("=", 1)
        rank, dtype = key.split(":")
        for (kind, frac), (rec, mass, oracle) in sorted(sweep_means(run_dir).items()):
            r = int(rank) if kind == "mlp" else int(rank) // 2
            rows.append({"kind": kind, "rank": r, "rank_over_d": r / a.d, "dtype": dtype, "keep_fraction": frac,
                         "recall": rec, "mass_recall": mass, "oracle_mass_recall": oracle})
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "rank_study.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.5f}" if isinstance(v, float) else v) for k, v in r.items()})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, kind in zip(axes, ("mlp", "att")):
        for frac in sorted({r["keep_fraction"] for r in rows if r["kind"] == kind}):
            for dtype, style in (("fp32", "-o"), ("int8", "x")):
                pts = sorted((r["rank_over_d"], r["recall"]) for r in rows
                             if r["kind"] == kind and r["keep_fraction"] == frac and r["dtype"] == dtype)
                if pts:
                    ax.plot(*zip(*pts), style, label=f"top-{100 * frac:g}% {dtype}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("predictor rank / d")
        ax.set_ylabel("mean recall over layers")
        ax.set_title("MLP neurons" if kind == "mlp" else "attention heads")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "rank_study.png"), dpi=120)
    print(f"wrote {a.out}/rank_study.csv and rank_study.png ({len(rows)} rows)")


if __name__ == "__main__":
    main()
