#!/usr/bin/env python3
"""Plots an eval results dir (eval.json from `dejavu eval`): perplexity vs kept density, one panel per
target (mlp, heads, both), oracle and predicted lines, dense as a horizontal line. Writes eval.png.
Usage: plot_eval.py RESULTS_DIR
"""
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from plot_labels import dataset_name, model_name  # noqa: E402


def main():
    out = sys.argv[1]
    doc = json.load(open(os.path.join(out, "eval.json")))
    pts = doc["points"]
    dense = [p["perplexity"] for p in pts if p["mode"] == "dense"]
    targets = [t for t in ("mlp", "heads", "both") if any(p["target"] == t for p in pts)]
    fig, axes = plt.subplots(1, max(1, len(targets)), figsize=(5 * max(1, len(targets)), 4), squeeze=False)
    for ax, target in zip(axes[0], targets):
        for mode, style in (("oracle", "o-"), ("predicted", "s--")):
            sel = sorted((p for p in pts if p["mode"] == mode and p["target"] == target),
                         key=lambda p: p["mlp_density"] if target != "heads" else p["head_density"])
            if not sel:
                continue
            x = [p["mlp_density"] if target != "heads" else p["head_density"] for p in sel]
            ax.plot(x, [p["perplexity"] for p in sel], style, label=mode)
            if target == "both":  # x is the MLP density; each point's head density is written beside it
                for p in sel:
                    ax.annotate(f"heads {p['head_density']:g}", (p["mlp_density"], p["perplexity"]),
                                textcoords="offset points", xytext=(4, 4), fontsize=7)
        if dense:
            ax.axhline(dense[0], color="k", lw=1, label="dense")
        ax.set_xlabel("MLP neurons kept" if target != "heads" else "heads kept")
        if target == "both":
            ax.set_xlabel("MLP neurons kept (heads kept: beside each point)")
        ax.set_ylabel("perplexity")
        ys = [p["perplexity"] for p in pts if (p["target"] == target or p["mode"] == "dense")
              and isinstance(p["perplexity"], (int, float)) and math.isfinite(p["perplexity"])]
        if ys and min(ys) > 0 and max(ys) / min(ys) > 10:  # high sparsity blows up: keep the near-dense end readable
            ax.set_yscale("log")
            ax.set_ylabel("perplexity (log scale)")
        ax.set_title(f"sparse {target}" + (" (heads paired)" if target == "both" else ""))
        ax.grid(alpha=0.3)
        ax.legend()
    ctx = doc.get("context", {})
    dense_layers = ctx.get("dense_layers") or []
    fig.suptitle(f"{model_name(ctx.get('model'))} on {dataset_name(ctx.get('text'))}"
                 + (f"; layer{'s' if len(dense_layers) > 1 else ''} {', '.join(map(str, dense_layers))} kept dense"
                    if dense_layers else ""))
    fig.tight_layout()
    tmp = os.path.join(out, "eval.png.tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, os.path.join(out, "eval.png"))


if __name__ == "__main__":
    main()
