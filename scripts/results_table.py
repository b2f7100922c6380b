#!/usr/bin/env python3
"""results_table.py: the README's latency table (markdown) from a `dejavu bench` result folder: per-token decode
latency at batch 1 for the dense engine, the sparse engine (fixed selections and random low-rank predictors at
the bench's MLP / head densities) and, when bench_hf.json is beside it, Hugging Face eager; every ratio is
between rows of the same run. Shapes built with fewer layers than the model has are marked with '*'.

  python3 scripts/results_table.py results/h100/RUN [--density 0.1]
"""
import argparse
import json
import os


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--density", type=float, default=None, help="MLP density of the sparse rows (default: the bench's)")
    a = ap.parse_args()
    doc = json.load(open(os.path.join(a.run_dir, "bench.json")))
    density = a.density if a.density is not None else doc["options"]["mlp_density"]
    heads = doc["options"]["head_density"]
    hf = {}
    hf_path = os.path.join(a.run_dir, "bench_hf.json")
    if os.path.exists(hf_path):
        for r in json.load(open(hf_path))["rows"]:
            if r.get("batch") == 1 and "ms_per_token" in r:
                hf[(r["shape"], r["mode"])] = r
    rows = [r for r in doc["rows"] if r["batch"] == 1]
    print(f"Per-token decode latency, batch 1, prompt {doc['options']['prompt_len']} tokens, fp16, {doc['device']} "
          f"(copy bandwidth {doc['copy_gbps']:.0f} GB/s measured in the same run); sparse = MLP density "
          f"{density:g}, heads {heads:g}.\n")
    print("| shape | dense ms (% of floor) | sparse fixed ms (x dense, % of copy bw) | sparse + predictors ms "
          "(x dense, % of copy bw) | HF eager ms | sparse+pred vs HF |")
    print("|---|---|---|---|---|---|")
    for shape in dict.fromkeys(r["shape"] for r in rows):
        pick = lambda eng: next((r for r in rows if r["shape"] == shape and r["engine"] == eng and
                                 (eng == "dense" or abs(r["mlp_density"] - density) < 1e-9)), None)
        dense, fixed, pred = pick("dense"), pick("sparse-fixed"), pick("sparse-predictor")
        if dense is None:
            continue
        star = f" ({dense['layers']}/{dense['model_layers']} layers)*" if dense["per_layer"] else ""
        cell = lambda r: "-" if r is None else f"{r['median_ms']:.3f} (x{dense['median_ms'] / r['median_ms']:.2f}, {r['pct_of_copy']:.0f}%)"
        eager = hf.get((shape, "eager"))
        hf_ms = "-"
        vs_hf = "-"
        if eager:
            # HF may have fitted a different number of layers: compare per layer.
            hf_ms = f"{eager['ms_per_token']:.2f}" + (f" ({eager['layers']} layers)" if eager["per_layer"] else "")
            if pred:
                vs_hf = f"x{eager['ms_per_layer'] / (pred['median_ms'] / pred['layers']):.1f}"
        print(f"| {shape}{star} | {dense['median_ms']:.3f} ({100 * dense['floor_ms'] / dense['median_ms']:.0f}%) | "
              f"{cell(fixed)} | {cell(pred)} | {hf_ms} | {vs_hf} |")
    if any(r["per_layer"] for r in rows):
        print("\n\\* built with the layers that fit in 80 GB; latency is for those layers (compare per layer).")


if __name__ == "__main__":
    main()
