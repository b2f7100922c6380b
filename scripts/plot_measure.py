#!/usr/bin/env python3
"""Plots a measure results dir (measure.json from `dejavu measure`) into measure.png: per layer the oracle
MLP sparsity, the fraction of heads needed for each share of attention-output norm, the cosine similarity of
consecutive layers' inputs with ||F(X)||/||X||, and (when predictors were measured) recall vs kept fraction,
2x2 at the report's page width.
Usage: plot_measure.py RESULTS_DIR
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from plot_labels import dataset_name, model_name  # noqa: E402


def main():
    out = sys.argv[1]
    doc = json.load(open(os.path.join(out, "measure.json")))
    layers = doc["layers"]
    x = [l["layer"] for l in layers]
    has_pred = any("predictor" in l for l in layers)
    # 2x2 panels (1100 x 800 px, the report's page width), so its text stays legible where the report shows it
    # at its own size; without predictors the fourth panel is left out.
    fig, grid = plt.subplots(2, 2, figsize=(11, 8))
    axes = list(grid.flat)
    if not has_pred:
        axes[3].remove()
        axes = axes[:3]
    axes[0].bar(x, [l["mlp_sparsity"] for l in layers], color="tab:blue")
    axes[0].set_title("oracle MLP sparsity")
    axes[0].set_ylabel("fraction of fc1 neurons silent")
    axes[0].set_ylim(0, 1)
    for share in layers[0]["heads_fraction_for_norm_share"]:
        axes[1].plot(x, [l["heads_fraction_for_norm_share"][share] for l in layers], "o-", label=f"{share} of norm")
    axes[1].set_title("heads needed for a share of the output norm")
    axes[1].set_ylabel("fraction of heads")
    axes[1].set_ylim(0, 1.05)
    axes[1].legend()
    axes[2].plot(x[:-1], [l["cos_next_layer"] for l in layers[:-1]], "o-", label="cos(x_l, x_l+1)")
    axes[2].plot(x, [l["norm_attn_delta"] / max(l["norm_x"], 1e-12) for l in layers], "s--",
                 label="||F_attn(X)|| / ||X||")
    axes[2].set_title("slowly changing embeddings")
    axes[2].set_ylabel("cosine / norm ratio")
    axes[2].legend()
    if has_pred:
        measured = [l for l in layers if "predictor" in l]
        # One distinct colour a layer: tab10 repeats after 10 layers, tab20 after 20, a colormap beyond.
        cmap = plt.get_cmap("tab10" if len(measured) <= 10 else "tab20" if len(measured) <= 20 else "viridis")
        for i, l in enumerate(measured):
            t = l["predictor"]["mlp"]["topk"]
            color = cmap(i) if len(measured) <= 20 else cmap(i / max(1, len(measured) - 1))
            axes[3].plot([p["fraction"] for p in t], [p["recall"] for p in t], "o-", color=color,
                         label=f"layer {l['layer']}")
        axes[3].set_title("MLP predictor recall vs neurons kept")
        axes[3].set_xlabel("kept fraction")
        axes[3].set_ylabel("recall of active neurons")
        axes[3].set_ylim(0, 1.02)
        axes[3].legend(fontsize=7, ncol=2 if len(measured) > 12 else 1)
    for ax in axes[:3]:
        ax.set_xlabel("layer")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"{model_name(doc.get('model'))} on {dataset_name(doc.get('corpus'))} ({doc.get('rows', '?')} rows)")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = os.path.join(out, "measure.png.tmp.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, os.path.join(out, "measure.png"))


if __name__ == "__main__":
    main()
