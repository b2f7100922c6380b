#!/usr/bin/env python3
"""results_table.py: the README's latency table (markdown) from a result folder of one device call: per-token
decode latency at batch 1 for the dense engine, the sparse engine (fixed selections and random low-rank
predictors at the bench's MLP / head densities, fp16 and int8 predictor weights, MLP 50% where measured) and,
when bench_hf.json is beside it, Hugging Face eager and torch.compile; when bench_nopdl.json is there (the same
bench with DEJAVU_PDL=0) its sparse + predictor latency sits beside; when kernel_bench.csv is there, the sparse
MLP kernels' table (up+down vs dense cuBLAS). Every ratio is between rows of the same run. Last, each goal of
issue 12 with its measured ratio, met or not. Shapes built with fewer layers than the model has are marked '*'.

  python3 scripts/results_table.py results/h200/RUN [--density 0.1]
"""
import argparse
import csv
import json
import os

GOAL_SPEEDUP = {"opt-6.7b": 2.0, "opt-13b": 3.0, "opt-30b": 3.0, "opt-66b": 3.0}
GOAL_VS_HF = {"opt-13b": 8.0, "opt-30b": 8.0}


def load_rows(path):
    if not os.path.exists(path):
        return None, []
    doc = json.load(open(path))
    return doc, [r for r in doc["rows"] if r["batch"] == 1]


def pick(rows, shape, engine, density=None):
    return next((r for r in rows if r["shape"] == shape and r["engine"] == engine and
                 (density is None or abs(r["mlp_density"] - density) < 1e-9)), None)


def hf_rows(run_dir):
    hf = {}
    path = os.path.join(run_dir, "bench_hf.json")
    if os.path.exists(path):
        for r in json.load(open(path))["rows"]:
            if r.get("batch") == 1 and "ms_per_token" in r:
                hf[(r["shape"], r["mode"])] = r
    return hf


def per_layer_ratio(hf_row, row):
    """HF may have fitted a different number of layers: compare per layer."""
    return hf_row["ms_per_layer"] / (row["median_ms"] / row["layers"])


def latency_table(doc, rows, nopdl_rows, hf, density, heads):
    print(f"Per-token decode latency, batch 1, prompt {doc['options']['prompt_len']} tokens, fp16, {doc['device']} "
          f"(copy bandwidth {doc['copy_gbps']:.0f} GB/s measured in the same run); sparse = MLP density "
          f"{density:g}, heads {heads:g}; predictors of ranks {doc['options']['rank_mlp']} / "
          f"{doc['options']['rank_att']} (random weights).\n")
    cols = ["shape", "dense ms (% of floor)", "sparse fixed ms (x dense, % of copy bw)",
            "sparse + predictors ms (x dense, % of copy bw)"]
    has_int8 = any(r["engine"] == "sparse-predictor-int8" for r in rows)
    has_half = any(r["engine"] == "sparse-predictor" and abs(r["mlp_density"] - 0.5) < 1e-9 for r in rows)
    if has_int8:
        cols.append("sparse + int8 predictors ms (x dense, % of copy bw)")
    if has_half:
        cols.append("sparse + predictors, MLP 50% ms (x dense)")
    if nopdl_rows:
        cols.append("sparse + predictors ms, PDL off")
    cols += ["HF eager ms", "HF compile ms", "sparse+pred vs HF eager / compile"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for shape in dict.fromkeys(r["shape"] for r in rows):
        dense = pick(rows, shape, "dense")
        if dense is None:
            continue
        fixed, pred = pick(rows, shape, "sparse-fixed", density), pick(rows, shape, "sparse-predictor", density)

        def cell(r, pct=True):
            if r is None:
                return "-"
            extra = f", {r['pct_of_copy']:.0f}%" if pct else ""
            return f"{r['median_ms']:.3f} (x{dense['median_ms'] / r['median_ms']:.2f}{extra})"

        star = f" ({dense['layers']}/{dense['model_layers']} layers)*" if dense["per_layer"] else ""
        out = [f"{shape}{star}", f"{dense['median_ms']:.3f} ({100 * dense['floor_ms'] / dense['median_ms']:.0f}%)",
               cell(fixed), cell(pred)]
        if has_int8:
            out.append(cell(pick(rows, shape, "sparse-predictor-int8", density)))
        if has_half:
            out.append(cell(pick(rows, shape, "sparse-predictor", 0.5), pct=False))
        if nopdl_rows:
            off = pick(nopdl_rows, shape, "sparse-predictor", density)
            out.append("-" if off is None else f"{off['median_ms']:.3f}")
        ratios = []
        for mode in ("eager", "compile"):
            r = hf.get((shape, mode))
            out.append("-" if r is None else f"{r['ms_per_token']:.2f}" + (f" ({r['layers']} layers)" if r["per_layer"] else ""))
            ratios.append("-" if r is None or pred is None else f"x{per_layer_ratio(r, pred):.1f}")
        out.append(" / ".join(ratios))
        print("| " + " | ".join(out) + " |")
    if any(r["per_layer"] for r in rows):
        print("\n\\* built with the layers that fit in device memory; latency is for those layers (compare per layer).")


def kernel_table(run_dir):
    path = os.path.join(run_dir, "kernel_bench.csv")
    if not os.path.exists(path):
        return []
    rows = [r for r in csv.DictReader(open(path)) if r["batch"] == "1" and r["op"] == "up+down"]
    if not rows:
        return []
    densities = sorted({float(r["density"]) for r in rows})
    print("\nSparse MLP up+down at batch 1 vs dense cuBLAS fc1+fc2 (kernel_bench, L2 flushed): speed-up, % of copy bw.\n")
    print("| shape | " + " | ".join(f"{100 * p:g}%" for p in densities) + " |")
    print("|---|" + "---|" * len(densities))
    for shape in dict.fromkeys(r["shape"] for r in rows):
        cells = []
        for p in densities:
            r = next((r for r in rows if r["shape"] == shape and abs(float(r["density"]) - p) < 1e-9), None)
            cells.append("-" if r is None else f"{float(r['speedup_vs_dense']):.2f}x, {float(r['pct_copy']):.0f}%")
        print(f"| {shape} | " + " | ".join(cells) + " |")
    return rows


def goals(rows, hf, density, kernel_rows):
    print("\nGoals of issue 12 (measured in this run):\n")

    def line(text, value, met):
        print(f"- {text}: {value} -> {'met' if met else 'not met'}")

    for shape in dict.fromkeys(r["shape"] for r in rows):
        dense = pick(rows, shape, "dense")
        if dense is None:
            continue
        pct = 100 * dense["floor_ms"] / dense["median_ms"]
        line(f"dense {shape} at >= 90% of its floor", f"{pct:.0f}%", pct >= 90)
    for shape, want in GOAL_SPEEDUP.items():
        for engine in ("sparse-predictor", "sparse-predictor-int8"):
            r = pick(rows, shape, engine, density)
            if r is not None:
                line(f"{engine} {shape} >= {want:g}x over dense", f"x{r['speedup_vs_dense']:.2f}",
                     r["speedup_vs_dense"] >= want)
                line(f"{engine} {shape} at >= 80% of copy bw on its bytes", f"{r['pct_of_copy']:.0f}%",
                     r["pct_of_copy"] >= 80)
    for shape, want in GOAL_VS_HF.items():
        r, h = pick(rows, shape, "sparse-predictor", density), hf.get((shape, "compile"))
        if r is not None and h is not None:
            ratio = per_layer_ratio(h, r)
            line(f"sparse + predictors {shape} >= {want:g}x over HF torch.compile", f"x{ratio:.1f}", ratio >= want)
    if kernel_rows:
        worst = min(kernel_rows, key=lambda r: float(r["pct_copy"]))
        line("sparse MLP up+down at >= 80% of copy bw at every density and shape (worst)",
             f"{float(worst['pct_copy']):.0f}% ({worst['shape']}, {100 * float(worst['density']):g}%)",
             float(worst["pct_copy"]) >= 80)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--density", type=float, default=None, help="MLP density of the sparse rows (default: the bench's)")
    a = ap.parse_args()
    doc, rows = load_rows(os.path.join(a.run_dir, "bench.json"))
    if doc is None:
        raise SystemExit(f"{a.run_dir}: no bench.json")
    _, nopdl_rows = load_rows(os.path.join(a.run_dir, "bench_nopdl.json"))
    density = a.density if a.density is not None else doc["options"]["mlp_density"]
    hf = hf_rows(a.run_dir)
    latency_table(doc, rows, nopdl_rows, hf, density, doc["options"]["head_density"])
    kernel_rows = kernel_table(a.run_dir)
    goals(rows, hf, density, kernel_rows)


if __name__ == "__main__":
    main()
