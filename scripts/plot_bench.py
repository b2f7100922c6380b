#!/usr/bin/env python3
"""Plots `dejavu bench` results (bench.json) into bench.png: per-token decode latency vs MLP density at batch 1
(sparse engine with fixed selections, heads at the bench's head density; dense engine and its roofline floor as
horizontal lines; Hugging Face eager from bench_hf.json when present), speedup vs dense, and the batch sweep.
Shapes built with fewer layers than the model has are marked '(N layers)'.
Usage: plot_bench.py RESULTS_DIR
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def label(r):
    return r["shape"] + (f" ({r['layers']} layers)" if r["per_layer"] else "")


def main():
    out = sys.argv[1]
    doc = json.load(open(os.path.join(out, "bench.json")))
    rows = doc["rows"]
    hf = {}
    hf_path = os.path.join(out, "bench_hf.json")
    if os.path.exists(hf_path):
        for r in json.load(open(hf_path)).get("rows", []):
            if r.get("batch", 1) == 1 and r.get("mode") == "eager" and "ms_per_token" in r:
                hf[r["shape"]] = r["ms_per_token"]
    shapes = []
    for r in rows:
        if r["batch"] == 1 and r["shape"] not in shapes:
            shapes.append(r["shape"])
    fig, axes = plt.subplots(1, 3, figsize=(20, 5.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, shape in enumerate(shapes):
        col = colors[i % len(colors)]
        b1 = [r for r in rows if r["shape"] == shape and r["batch"] == 1]
        sp = sorted((r for r in b1 if r["engine"] == "sparse-fixed"), key=lambda r: r["mlp_density"])
        dense = [r for r in b1 if r["engine"] == "dense"]
        if sp:
            axes[0].plot([r["mlp_density"] for r in sp], [r["median_ms"] for r in sp], "o-", color=col, label=label(sp[0]))
            axes[0].plot([r["mlp_density"] for r in sp], [r["floor_ms"] for r in sp], ":", color=col, alpha=0.6)
            axes[1].plot([r["mlp_density"] for r in sp], [r["speedup_vs_dense"] for r in sp], "o-", color=col,
                         label=label(sp[0]))
        if dense:
            axes[0].axhline(dense[0]["median_ms"], color=col, ls="--", alpha=0.7)
        pred = [r for r in b1 if r["engine"] == "sparse-predictor"]
        for r in pred:
            axes[0].plot([r["mlp_density"]], [r["median_ms"]], "*", ms=12, color=col)
            axes[1].plot([r["mlp_density"]], [r["speedup_vs_dense"]], "*", ms=12, color=col)
        if shape in hf and not (dense and dense[0]["per_layer"]):
            axes[0].plot([1.05], [hf[shape]], "s", color=col)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("MLP density (fraction of fc1 neurons kept)")
    axes[0].set_ylabel("ms per token (batch 1)")
    axes[0].set_title("decode latency: sparse (o), predictors (*), dense (--), floor (:), HF eager (square)")
    axes[0].legend(fontsize=8)
    axes[1].axhline(1, color="gray", lw=0.8)
    axes[1].set_xlabel("MLP density")
    axes[1].set_ylabel("speedup vs dense engine")
    heads = sorted({r["head_density"] for r in rows if r["engine"] != "dense"})
    axes[1].set_title(f"speedup at head density {', '.join(map(str, heads))}")
    axes[1].legend(fontsize=8)
    # A real checkpoint's rows (bench --model, the bench stage) have no batch sweep: that panel stays empty.
    options = doc["options"]
    if isinstance(options.get("shapes"), dict):  # the bench stage: {"model": {...}, "shapes": {...}}
        options = options["shapes"]
    bshape = options.get("batch_shape", "")
    goal_density = options.get("mlp_density", 0)
    for j, eng in enumerate(["dense", "sparse-fixed", "sparse-union", "sparse-predictor"]):
        pts = [r for r in rows if r["shape"] == bshape and r["engine"] == eng]
        if eng in ("sparse-fixed", "sparse-predictor"):
            pts = [r for r in pts if abs(r["mlp_density"] - goal_density) < 1e-9]
        pts.sort(key=lambda r: r["batch"])
        if pts:
            axes[2].plot([r["batch"] for r in pts], [r["median_ms"] for r in pts], "o-", color=colors[j], label=eng)
    axes[2].set_xscale("log", base=2)
    axes[2].set_xlabel("batch size")
    axes[2].set_ylabel("ms per step")
    axes[2].set_title(f"{bshape}: batch sweep (union = independent selections, 1-(1-p)^B)")
    axes[2].legend(fontsize=8)
    fig.suptitle(f"{doc['device']}, copy bandwidth {doc['copy_gbps']:.0f} GB/s")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "bench.png"), dpi=110)


if __name__ == "__main__":
    main()
