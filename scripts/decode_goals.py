#!/usr/bin/env python3
"""decode_goals.py: issue 19's goals, computed from one device call's result folder (the layout that
scripts/device/step_decode.sh writes: bench/, bench/fused/, model/<shape>/, hf/, summary.txt), so a note quotes
figures computed from the rows rather than copied by hand. Every ratio is between rows of the same folder.

For each decode path (graph: rows "dense", "sparse-predictor", ...; persistent: the same names + "-persistent")
and flow (default: bench/ and model/; fused: bench/fused/, DEJAVU_FUSED_MLP=1, built-in shapes only):
  1. the goals, one row each (goal, shape, measured, target, met / not met / not measured):
     sparse + predictors at the goal point (MLP 10%, heads 50%, batch 1) over dense (the same path's dense and,
     on the persistent path, also the graph path's dense) and its % of copy bandwidth on the row's bytes (weights,
     K/V of the kept heads, predictors and, from commit 3e5b34e on, the K/V catch-up's ring reads and K/V
     writes: catchup_bytes, bench_bytes.h);
     real selections (model/) over dense per shape; dense at >= 90% of the byte floor (floor_ms / median_ms);
     batch 1..32 with real selections: the smallest dense/sparse ratio and its batch (of the
     "sparse-predictor-auto" rows, the measured sparse/dense choice, where the folder has them; the raw
     "sparse-predictor" ratios in the detail); K/V catch-up per step;
  2. the per-layer overhead (median_ms - floor_ms) / layers in microseconds, per shape and engine;
then 3. our dense and sparse + predictors against Hugging Face eager and torch.compile (hf/bench_hf.json), and
4. the A/B variants (every other bench/<variant>/ that step_decode.sh's DEJAVU_BENCH_VARIANTS wrote, and every
model/<shape>/<variant>/ of step_model_bench.sh's DEJAVU_MB_MLP_INPUTS): each graph-path batch-1 row of the goal
point (persistent rows where the variant ran that path) beside the same row of bench/ (model/<shape>/), and their
ratio (variant / default).
Rows built with fewer layers than the model has (per_layer true) are marked '*'. A part that is missing or
timed out reads as "not measured": rows come from bench.json, else bench.csv, else the row lines of bench.log
(bench writes json/csv only at its end; its log has one line per finished row, 3 decimals).

  python3 scripts/decode_goals.py RESULT_DIR [--json goals.json] [--mlp-density 0.1] [--head-density 0.5]
"""
import argparse
import csv
import json
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results_table import hf_rows, per_layer_ratio  # noqa: E402 - the sibling script's HF reader

BUILTIN_SHAPES = ["opt-1.3b", "opt-6.7b", "opt-13b", "opt-30b", "opt-66b"]
MODEL_SHAPES = ["opt-1.3b", "opt-6.7b", "opt-13b"]  # step_model_bench.sh's default DEJAVU_DECODE_MODELS
SPEEDUP_GOAL = {"opt-13b": 3.0, "opt-30b": 3.5, "opt-66b": 3.5}  # sparse + predictors over dense, batch 1
REAL_GOAL = {"opt-1.3b": 1.5, "opt-13b": 2.5}  # real selections over dense; every other shape: faster (> 1)
COPY_GOAL, FLOOR_GOAL, BATCH_GOAL = 80.0, 90.0, 0.98
PATHS = {"graph": "", "persistent": "-persistent"}
FLOWS = {"default": ("bench", "model"), "fused": (os.path.join("bench", "fused"), None)}
TEXT_FIELDS = {"shape", "engine"}
LOG_ROW = re.compile(  # pipeline/bench/bench_outputs.cpp print_bench_row
    r"^(?P<shape>\S+)\s+(?P<layers>\d+)/(?P<model_layers>\d+)\s*(?P<star>\*?)\s*B=(?P<batch>\d+)\s+(?P<engine>\S+)"
    r"\s+mlp (?P<mlp_density>\S+) heads (?P<head_density>\S+)\s+(?P<median_ms>\S+) ms \(p10 (?P<p10_ms>\S+) "
    r"p90 (?P<p90_ms>\S+)\)\s+floor\s+(?P<floor_ms>\S+) ms\s+(?P<achieved_gbps>\S+) GB/s\s+(?P<pct_of_copy>\S+)% "
    r"of copy\s+x(?P<speedup_vs_dense>\S+) vs dense\s+catch-up (?P<catchup_per_step>\S+)/step \(max "
    r"(?P<catchup_max>\d+)\)")


def typed(row):
    """A CSV or log row with its numbers as numbers (per_layer a bool)."""
    out = {}
    for k, v in row.items():
        if k in TEXT_FIELDS or v is None:
            out[k] = v
        elif k == "per_layer":
            out[k] = v if isinstance(v, bool) else str(v).lower() == "true"
        else:
            out[k] = float(v)
    for k in ("layers", "model_layers", "batch"):
        out[k] = int(out[k])
    return out


def load_part(folder):
    """(rows, meta, source) of one bench output folder; ([], {}, None) when it has none."""
    path = os.path.join(folder, "bench.json")
    if os.path.exists(path):
        try:
            doc = json.load(open(path))
            return [typed(r) for r in doc["rows"]], doc, "bench.json"
        except (ValueError, KeyError):
            pass  # a truncated file: fall through to the csv and the log
    path = os.path.join(folder, "bench.csv")
    if os.path.exists(path):
        with open(path, newline="") as f:
            rows = [typed(r) for r in csv.DictReader(f)]
        if rows:
            return rows, {}, "bench.csv"
    path = os.path.join(folder, "bench.log")
    if os.path.exists(path):
        rows = []
        for line in open(path, errors="replace"):
            m = LOG_ROW.match(line)
            if m:
                d = m.groupdict()
                d["per_layer"] = d.pop("star") == "*"
                rows.append(typed(d))
        if rows:
            return rows, {}, "bench.log (no json/csv: the part stopped early)"
    return [], {}, None


def near(a, b):
    return abs(a - b) < 1e-6


def find(rows, engine, shape=None, batch=1, point=None):
    """The first row of this engine (and shape, batch, and (mlp, heads) densities when given)."""
    for r in rows:
        if r["engine"] == engine and r["batch"] == batch and (shape is None or r["shape"] == shape) and (
                point is None or (near(r["mlp_density"], point[0]) and near(r["head_density"], point[1]))):
            return r
    return None


def goal(text, shape, value, target, shown, star=False, detail="", strict=False, unit="x"):
    """One goal row; value None is "not measured", target None an information row; strict: value > target."""
    if value is None or math.isnan(value):
        value, status, shown = None, "not measured", "not measured"
    elif target is None:
        status = "-"
    else:
        status = "met" if (value > target if strict else value >= target) else "not met"
    target_text = "-" if target is None else (">" if strict else ">=") + (
        f" x{target:g}" if unit == "x" else f" {target:g}%")
    return {"goal": text, "shape": shape + ("*" if star else ""), "value": value, "measured": shown, "detail": detail,
            "target": target, "target_text": target_text, "status": status}


def speedup_goals(rows, shape, engine, suffix, target, label, point, strict=False, name=None):
    """sparse over dense of one shape (None: the folder's only shape, shown as name): the same path's dense, and
    on the persistent path the graph path's dense too."""
    sparse = find(rows, engine + suffix, shape, point=point)
    denses = [("", "dense" + suffix)] + ([(" (graph dense)", "dense")] if suffix else [])
    out = []
    for tag, dense_name in denses:
        dense = find(rows, dense_name, shape)
        value = dense["median_ms"] / sparse["median_ms"] if sparse and dense else None
        detail = f"{dense['median_ms']:.3f} / {sparse['median_ms']:.3f} ms" if value else ""
        star = bool(sparse and sparse["per_layer"])
        shown = f"x{value:.2f}" if value else ""
        out.append(goal(label + tag, name or shape, value, target, shown, star, detail, strict))
    return out


def model_parts(result_dir):
    """{shape: (rows, source)} of model/<shape>/ folders (the default shapes first, then any others)."""
    base = os.path.join(result_dir, "model")
    names = MODEL_SHAPES + sorted(n for n in (os.listdir(base) if os.path.isdir(base) else [])
                                  if n not in MODEL_SHAPES and os.path.isdir(os.path.join(base, n)))
    return {n: load_part(os.path.join(base, n))[::2] for n in names}


def section_goals(bench, models, suffix, point):
    g = []
    label = f"sparse + predictors (MLP {point[0]:g}, heads {point[1]:g}, B=1) over dense"
    for shape in SPEEDUP_GOAL:
        g += speedup_goals(bench, shape, "sparse-predictor", suffix, SPEEDUP_GOAL[shape], label, point)
    for shape in SPEEDUP_GOAL:
        r = find(bench, "sparse-predictor" + suffix, shape, point=point)
        value = 100 * r["floor_ms"] / r["median_ms"] if r else None
        g.append(goal("sparse + predictors: % of copy bandwidth on its bytes (weights + K/V + predictors)", shape,
                      value, COPY_GOAL, f"{value:.1f}%" if r else "", bool(r and r["per_layer"]),
                      f"floor {r['floor_ms']:.3f} / {r['median_ms']:.3f} ms" if r else "", unit="%"))
    for shape in BUILTIN_SHAPES:
        r = find(bench, "dense" + suffix, shape)
        value = 100 * r["floor_ms"] / r["median_ms"] if r else None
        g.append(goal("dense: % of the byte floor (floor_ms / median_ms)", shape, value, FLOOR_GOAL,
                      f"{value:.1f}%" if r else "", bool(r and r["per_layer"]),
                      f"{r['floor_ms']:.3f} / {r['median_ms']:.3f} ms" if r else "", unit="%"))
    if models is None:
        return g
    for shape, (rows, _) in models.items():
        target = REAL_GOAL.get(shape, 1.0)
        text = "real selections: sparse + predictors over dense, B=1"
        g += speedup_goals(rows, None, "sparse-predictor", suffix, target, text, point, shape not in REAL_GOAL, shape)
    for shape, (rows, _) in models.items():
        # With sparse-predictor-auto rows (the measured sparse/dense choice, graph path) the goal reads them; the
        # raw sparse-predictor ratios are still printed in the detail.
        auto = any(r["engine"] == "sparse-predictor-auto" + suffix for r in rows)
        ratios, raw = {}, {}
        for b in sorted({r["batch"] for r in rows}):
            d = find(rows, "dense" + suffix, batch=b)
            s = find(rows, "sparse-predictor" + suffix, batch=b, point=point)
            a = find(rows, "sparse-predictor-auto" + suffix, batch=b, point=point) if auto else s
            if d and s:
                raw[b] = d["median_ms"] / s["median_ms"]
            if d and a:
                ratios[b] = d["median_ms"] / a["median_ms"]
        if len(ratios) < 2 and shape != MODEL_SHAPES[0]:
            continue  # one batch size: not a batch sweep (step_model_bench.sh sweeps its first shape only)
        worst = min(ratios, key=ratios.get) if len(ratios) >= 2 else None
        detail = ", ".join(f"B={b}: x{v:.2f}" for b, v in ratios.items())
        if auto:
            detail += "; raw sparse-predictor: " + ", ".join(f"B={b}: x{v:.2f}" for b, v in raw.items())
        g.append(goal("real selections, batch sweep: min over batches of dense / sparse" +
                      (" (auto: measured sparse/dense choice)" if auto else ""), shape,
                      ratios[worst] if worst else None, BATCH_GOAL, f"x{ratios[worst]:.2f} at B={worst}" if worst
                      else "", detail=detail))
    for shape, (rows, _) in models.items():
        for r in sorted((r for r in rows if r["engine"] == "sparse-predictor" + suffix), key=lambda r: r["batch"]):
            g.append(goal(f"real selections: K/V catch-up positions per step, B={r['batch']}", shape,
                          r["catchup_per_step"], None, f"mean {r['catchup_per_step']:.1f}, max {int(r['catchup_max'])}",
                          detail=", ".join(f"{k} {r[k]:g}" for k in ("forced_per_step", "catchup_lost") if k in r)))
        if not any(r["engine"] == "sparse-predictor" + suffix for r in rows):
            g.append(goal("real selections: K/V catch-up positions per step", shape, None, None, ""))
    return g


def overhead(rows, suffix, source):
    """(median_ms - floor_ms) / layers in us, batch 1, per shape and engine of this path."""
    out = []
    for r in rows:
        on_path = r["engine"].endswith("-persistent") == bool(suffix)
        if r["batch"] == 1 and on_path:
            out.append({"source": source, "shape": r["shape"] + ("*" if r["per_layer"] else ""),
                        "engine": r["engine"][:len(r["engine"]) - len(suffix)],
                        "us_per_layer": 1e3 * (r["median_ms"] - r["floor_ms"]) / r["layers"]})
    return out


def hf_compare(result_dir, bench, point):
    """Our dense and sparse + predictors (default flow, B=1) against HF eager and compile, per layer."""
    hf = hf_rows(os.path.join(result_dir, "hf"))
    if not hf:
        return None
    out = []
    for shape in dict.fromkeys(s for s, _ in hf):
        for suffix in PATHS.values():
            for engine in ("dense", "sparse-predictor"):
                ours = find(bench, engine + suffix, shape, point=None if engine == "dense" else point)
                for mode in ("eager", "compile"):
                    h = hf.get((shape, mode))
                    ratio = per_layer_ratio(h, ours) if h and ours else None
                    out.append({"shape": shape, "engine": engine + suffix, "hf_mode": mode,
                                "hf_ms_per_layer": h["ms_per_layer"] if h else None,
                                "ours_ms_per_layer": ours["median_ms"] / ours["layers"] if ours else None,
                                "speedup_vs_hf": ratio})
    return out


def subfolders(folder, skip=()):
    return sorted(n for n in (os.listdir(folder) if os.path.isdir(folder) else [])
                  if n not in skip and os.path.isdir(os.path.join(folder, n)))


def paired(name, folder, default_rows, point):
    """The batch-1 rows of `folder` (the goal point's densities for the sparse rows; the persistent rows too where
    the variant ran that path) beside the same rows of default_rows: variant_ms / default_ms (None where the
    default is missing)."""
    rows, _, source = load_part(folder)
    out = []
    for r in rows:
        if r["batch"] != 1:
            continue
        dense = r["engine"] in ("dense", "dense-persistent")
        if not dense and not (near(r["mlp_density"], point[0]) and near(r["head_density"], point[1])):
            continue
        base = find(default_rows, r["engine"], r["shape"], 1, None if dense else point)
        out.append({"variant": name, "source": source, "shape": r["shape"], "engine": r["engine"],
                    "variant_ms": r["median_ms"], "default_ms": base["median_ms"] if base else None,
                    "ratio": r["median_ms"] / base["median_ms"] if base else None})
    return out


def variants(result_dir, default_bench, point):
    """Every bench/<variant>/ beside bench/, then every model/<shape>/<variant>/ (step_model_bench.sh's
    DEJAVU_MB_MLP_INPUTS beyond the first) beside model/<shape>/: rows as paired() gives them."""
    bench_root = os.path.join(result_dir, "bench")
    out = []
    for name in subfolders(bench_root, skip=("fused",)):
        out += paired(name, os.path.join(bench_root, name), default_bench, point)
    model_root = os.path.join(result_dir, "model")
    for shape in subfolders(model_root):
        default_rows = load_part(os.path.join(model_root, shape))[0]
        for name in subfolders(os.path.join(model_root, shape)):
            out += paired(f"model/{shape}/{name}", os.path.join(model_root, shape, name), default_rows, point)
    return out


def summary_lines(result_dir):
    path = os.path.join(result_dir, "summary.txt")
    if not os.path.exists(path):
        return []
    return [ln.strip() for ln in open(path, errors="replace") if re.match(r"^\w+: rc=\d+ in \d+ s", ln)
            or ln.startswith(("build:", "step_decode at", "stopped by"))]


def report(result_dir, point):
    out = {"folder": result_dir, "point": {"mlp_density": point[0], "head_density": point[1]},
           "parts": summary_lines(result_dir), "sources": {}, "sections": []}
    models = model_parts(result_dir)
    out["sources"]["model"] = {s: src for s, (_, src) in models.items()}
    default_bench = []
    for flow, (bench_dir, model_dir) in FLOWS.items():
        bench, meta, source = load_part(os.path.join(result_dir, bench_dir))
        out["sources"][bench_dir] = source
        if flow == "default":
            default_bench = bench
            out["device"], out["copy_gbps"] = meta.get("device"), meta.get("copy_gbps")
        for path, suffix in PATHS.items():
            measured = [r for r in bench if r["engine"].endswith("-persistent") == bool(suffix)]
            sec_models = models if model_dir else None
            has_model = sec_models and any(rows for rows, _ in sec_models.values())
            if not measured and not has_model:
                out["sections"].append({"path": path, "flow": flow, "goals": [], "overhead": []})
                continue
            oh = overhead(bench, suffix, bench_dir)
            for shape, (rows, _) in (sec_models or {}).items():
                oh += overhead(rows, suffix, f"model/{shape}")
            goals = section_goals(bench, sec_models, suffix, point)
            out["sections"].append({"path": path, "flow": flow, "goals": goals, "overhead": oh})
    out["hf"] = hf_compare(result_dir, default_bench, point)
    out["variants"] = variants(result_dir, default_bench, point)
    return out


def markdown(rep):
    p = [f"# Issue 19 goals from {rep['folder']}", ""]
    if rep.get("device"):
        p.append(f"{rep['device']}, copy bandwidth {rep['copy_gbps']:.0f} GB/s (measured in the bench part).")
    p += ["Rows from: " + ", ".join(f"{k}: {v or 'missing'}" for k, v in rep["sources"].items() if k != "model") +
          "; model/: " + ", ".join(f"{k}: {v or 'missing'}" for k, v in rep["sources"]["model"].items()), ""]
    if rep["parts"]:
        p += ["Parts (summary.txt):", ""] + [f"- {ln}" for ln in rep["parts"]] + [""]
    for sec in rep["sections"]:
        p.append(f"## {sec['path']} path, {sec['flow']} flow")
        p.append("")
        if not sec["goals"]:
            p += ["not measured (no rows on this path in this flow)", ""]
            continue
        p += ["| goal | shape | measured | target | status | detail |", "|---|---|---|---|---|---|"]
        for g in sec["goals"]:
            p.append(f"| {g['goal']} | {g['shape']} | {g['measured']} | {g['target_text']} | {g['status']} | "
                     f"{g['detail']} |")
        p += ["", "Per-layer overhead, (median_ms - floor_ms) / layers in us, batch 1:", ""]
        engines = list(dict.fromkeys(o["engine"] for o in sec["overhead"]))
        if not engines:
            p += ["not measured", ""]
            continue
        p += ["| rows | shape | " + " | ".join(engines) + " |", "|---|---|" + "---|" * len(engines)]
        keys = list(dict.fromkeys((o["source"], o["shape"]) for o in sec["overhead"]))
        for src, shape in keys:
            cells = {o["engine"]: f"{o['us_per_layer']:.1f}" for o in sec["overhead"]
                     if (o["source"], o["shape"]) == (src, shape)}
            p.append(f"| {src} | {shape} | " + " | ".join(cells.get(e, "-") for e in engines) + " |")
        p.append("")
    p += ["## Against Hugging Face (hf/bench_hf.json), batch 1, per layer", ""]
    if rep["hf"] is None:
        p.append("not measured")
    else:
        p += ["| shape | ours | HF mode | HF ms/layer | ours ms/layer | ours x faster |", "|---|---|---|---|---|---|"]
        for h in rep["hf"]:
            f = [("-" if h[k] is None else f"{h[k]:.4f}") for k in ("hf_ms_per_layer", "ours_ms_per_layer")]
            ratio = "not measured" if h["speedup_vs_hf"] is None else f"x{h['speedup_vs_hf']:.2f}"
            p.append(f"| {h['shape']} | {h['engine']} | {h['hf_mode']} | {f[0]} | {f[1]} | {ratio} |")
    p += ["", "## A/B variants (bench/<variant>/ against bench/, model/<shape>/<variant>/ against model/<shape>/), batch 1, ms", ""]
    if not rep["variants"]:
        p.append("none in this folder")
    else:
        p += ["| variant | shape | row | default | variant | variant / default |", "|---|---|---|---|---|---|"]
        for v in rep["variants"]:
            base = "-" if v["default_ms"] is None else f"{v['default_ms']:.3f}"
            ratio = "-" if v["ratio"] is None else f"{v['ratio']:.3f}"
            p.append(f"| {v['variant']} | {v['shape']} | {v['engine']} | {base} | {v['variant_ms']:.3f} | {ratio} |")
    p += ["", "\\* built with fewer layers than the model has (per_layer rows): figures are for the layers built."]
    return "\n".join(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("result_dir", help="an extracted decode.tgz (scripts/device/decode_call.sh)")
    ap.add_argument("--json", help="also write the figures as JSON here")
    ap.add_argument("--mlp-density", type=float, default=0.1, help="the goal point's MLP density")
    ap.add_argument("--head-density", type=float, default=0.5, help="the goal point's head density")
    a = ap.parse_args()
    if not os.path.isdir(a.result_dir):
        raise SystemExit(f"decode_goals: {a.result_dir} is not a folder (extract decode.tgz into one)")
    rep = report(a.result_dir, (a.mlp_density, a.head_density))
    print(markdown(rep))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rep, f, indent=1)


if __name__ == "__main__":
    main()
