#!/usr/bin/env python3
"""recall_table.py: mean predictor recall over layers (markdown) from several `dejavu measure` output folders,
side by side, at chosen top-k keep-fractions: how much recall a predictor variant (int8 weights, a lower rank)
costs against the baseline folder (the first). Reads DIR/predictor_sweep.csv of each folder.

  python3 scripts/recall_table.py LABEL=DIR [LABEL=DIR ...] [--topk 0.1,0.2]
"""
import argparse
import csv
import os
import statistics


def mean_recall(run_dir):
    """{(kind, fraction): mean recall over layers} for the top-k rows of one measure folder."""
    per = {}
    with open(os.path.join(run_dir, "predictor_sweep.csv")) as f:
        for r in csv.DictReader(f):
            if r["selector"] == "topk":
                per.setdefault((r["kind"], float(r["param"])), []).append(float(r["recall"]))
    return {k: statistics.fmean(v) for k, v in per.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="LABEL=DIR (the first is the baseline)")
    ap.add_argument("--topk", default="0.1,0.2", help="keep-fractions to show")
    a = ap.parse_args()
    runs = [tuple(x.split("=", 1)) for x in a.runs]
    fractions = [float(x) for x in a.topk.split(",")]
    recalls = [(label, mean_recall(d)) for label, d in runs]
    base = recalls[0][1]
    cols = [f"{kind} top-{100 * p:g}%" for kind in ("mlp", "att") for p in fractions]
    print("| predictors | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for label, rec in recalls:
        cells = []
        for kind in ("mlp", "att"):
            for p in fractions:
                v = rec.get((kind, p))
                b = base.get((kind, p))
                cells.append("-" if v is None else f"{v:.4f}" + ("" if rec is base or b is None else f" ({v - b:+.5f})"))
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
