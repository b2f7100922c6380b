#!/usr/bin/env python3
"""scripts/decode_goals.py on the H100 call of 2026-12-07 (results/h100/2026-12-07_cfdafdf_first_gpu_run, read in
place and laid out as step_decode.sh writes a folder: its bench/ as bench/, its bench/block_out_flow/ as
bench/fused/, only for the layout), plus a hand-written model/opt-1.3b/ batch sweep (with sparse-predictor-auto
rows on the graph path), hf/bench_hf.json and an A/B variant folder:
every figure equals the one derived by hand from the CSV rows, missing parts read "not measured", bench.csv and
bench.log stand in for a missing bench.json, and goals flip between met and not met when the rows change.
Usage: test_decode_goals.py DEJAVU_BIN WORKDIR (the binary is not used)
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RUN = os.path.join(ROOT, "results", "h100", "2026-12-07_cfdafdf_first_gpu_run")
SCRIPT = os.path.join(ROOT, "scripts", "decode_goals.py")
SWEEP = {1: (1.0, 0.6), 2: (1.1, 0.8), 4: (1.2, 1.0), 8: (1.4, 1.3), 16: (2.0, 2.1), 32: (3.0, 2.9)}  # B: dense, sparse
AUTO = {1: 0.6, 2: 0.8, 4: 1.0, 8: 1.3, 16: 2.03, 32: 2.9}  # B: sparse-predictor-auto (graph path; dense at B=16)


def csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def pick(rows, shape, engine):
    return next(r for r in rows if r["shape"] == shape and r["engine"] == engine and r["batch"] == "1")


def run(folder):
    out = os.path.join(folder, "goals.json")
    r = subprocess.run([sys.executable, SCRIPT, folder, "--json", out], capture_output=True, text=True)
    assert r.returncode == 0, f"decode_goals {folder}: rc {r.returncode}: {r.stderr[-2000:]}"
    return json.load(open(out)), r.stdout


def section(rep, path, flow):
    return next(s for s in rep["sections"] if (s["path"], s["flow"]) == (path, flow))


def goal(sec, text, shape):
    return next(g for g in sec["goals"] if g["goal"].startswith(text) and g["shape"] == shape)


def close(a, b, rel=1e-9):
    assert a is not None and abs(a - b) <= rel * abs(b), (a, b)


def write_model_sweep(folder, template):
    """model/opt-1.3b/bench.csv: dense and sparse-predictor rows at SWEEP's medians (persistent: B <= 8), and
    graph-path sparse-predictor-auto rows at AUTO's."""
    os.makedirs(os.path.join(folder, "model", "opt-1.3b"))
    rows = []
    for b, (dense_ms, sparse_ms) in SWEEP.items():
        for suffix in ("", "-persistent") if b <= 8 else ("",):
            auto = (("sparse-predictor-auto", AUTO[b]),) if not suffix else ()
            for engine, ms in (("dense", dense_ms), ("sparse-predictor", sparse_ms)) + auto:
                r = dict(pick(template, "opt-1.3b", engine.removesuffix("-auto")), shape="opt-1.3b-random", batch=b,
                         median_ms=ms, engine=engine + suffix)
                r["catchup_per_step"], r["catchup_max"] = (10.0 * b, 20 * b) if engine != "dense" else (0, 0)
                rows.append(r)
    with open(os.path.join(folder, "model", "opt-1.3b", "bench.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(template[0].keys()))
        w.writeheader()
        w.writerows(rows)


def make_folder(folder):
    os.makedirs(os.path.join(folder, "bench", "fused"))
    for name in ("bench.csv", "bench.json", "bench.log"):
        shutil.copy(os.path.join(RUN, "bench", name), os.path.join(folder, "bench", name))
        shutil.copy(os.path.join(RUN, "bench", "block_out_flow", name), os.path.join(folder, "bench", "fused", name))
    shutil.copy(os.path.join(RUN, "summary.txt"), os.path.join(folder, "summary.txt"))
    write_model_sweep(folder, csv_rows(os.path.join(RUN, "bench", "bench.csv")))
    os.makedirs(os.path.join(folder, "hf"))
    hf = [dict(shape="opt-13b", layers=40, model_layers=40, per_layer=False, batch=1, mode="eager", ms_per_token=20.0,
               ms_per_layer=0.5), dict(shape="opt-13b", layers=40, model_layers=40, per_layer=False, batch=1,
                                       mode="compile", note="failed: RuntimeError")]
    json.dump({"rows": hf}, open(os.path.join(folder, "hf", "bench_hf.json"), "w"))


def check_full(rep, text):
    bench = csv_rows(os.path.join(RUN, "bench", "bench.csv"))
    fused = csv_rows(os.path.join(RUN, "bench", "block_out_flow", "bench.csv"))
    ms = lambda rows, shape, engine: float(pick(rows, shape, engine)["median_ms"])  # noqa: E731
    graph, pers = section(rep, "graph", "default"), section(rep, "persistent", "default")
    g = goal(graph, "sparse + predictors (MLP", "opt-13b")
    close(g["value"], ms(bench, "opt-13b", "dense") / ms(bench, "opt-13b", "sparse-predictor"))
    assert (g["target"], g["status"]) == (3.0, "not met"), g
    p = [x for x in pers["goals"] if x["goal"].startswith("sparse + predictors (MLP") and x["shape"] == "opt-13b"]
    close(p[0]["value"], ms(bench, "opt-13b", "dense-persistent") / ms(bench, "opt-13b", "sparse-predictor-persistent"))
    assert p[1]["goal"].endswith("(graph dense)"), p
    close(p[1]["value"], ms(bench, "opt-13b", "dense") / ms(bench, "opt-13b", "sparse-predictor-persistent"))
    r = pick(bench, "opt-13b", "sparse-predictor")
    close(goal(graph, "sparse + predictors: % of copy", "opt-13b")["value"], float(r["pct_of_copy"]), 1e-6)
    r = pick(bench, "opt-1.3b", "dense")
    close(goal(graph, "dense: % of the byte floor", "opt-1.3b")["value"],
          100 * float(r["floor_ms"]) / float(r["median_ms"]))
    for text_, shape in (("sparse + predictors (MLP", "opt-30b"), ("sparse + predictors (MLP", "opt-66b"),
                         ("dense: % of the byte floor", "opt-6.7b"), ("real selections: sparse", "opt-13b")):
        g = goal(graph, text_, shape)
        assert (g["value"], g["status"], g["measured"]) == (None, "not measured", "not measured"), g
    close(goal(section(rep, "graph", "fused"), "sparse + predictors (MLP", "opt-13b")["value"],
          ms(fused, "opt-13b", "dense") / ms(fused, "opt-13b", "sparse-predictor"))
    assert section(rep, "persistent", "fused")["goals"] == [], "the fused bench runs the graph path only"
    r = pick(bench, "opt-13b", "dense")
    oh = next(o for o in graph["overhead"] if (o["source"], o["shape"], o["engine"]) == ("bench", "opt-13b", "dense"))
    close(oh["us_per_layer"], 1e3 * (float(r["median_ms"]) - float(r["floor_ms"])) / 40)
    # The hand-written sweep: B=1 x1.667 (>= 1.5: met); the graph path reads the auto rows, whose minimum is B=16
    # (2.0 / 2.03, met), and prints the raw rows' (B=16: 2.0 / 2.1); persistent (no auto rows): B <= 8, raw.
    g = goal(graph, "real selections: sparse", "opt-1.3b")
    close(g["value"], 1.0 / 0.6)
    assert g["status"] == "met", g
    g = goal(graph, "real selections, batch sweep", "opt-1.3b")
    close(g["value"], 2.0 / 2.03)
    assert g["goal"].endswith("(auto: measured sparse/dense choice)"), g
    assert (g["status"], g["measured"]) == ("met", "x0.99 at B=16"), g
    assert "; raw sparse-predictor: " in g["detail"] and g["detail"].endswith("B=16: x0.95, B=32: x1.03"), g
    g = goal(pers, "real selections, batch sweep", "opt-1.3b")
    close(g["value"], 1.4 / 1.3)
    assert g["measured"].endswith("at B=8") and g["status"] == "met", g
    g = goal(pers, "real selections: sparse", "opt-1.3b")
    assert g["goal"].endswith("B=1") and g["status"] == "met", g
    g = goal(graph, "real selections: K/V catch-up positions per step, B=4", "opt-1.3b")
    assert (g["value"], g["measured"]) == (40.0, "mean 40.0, max 80"), g
    eager = [h for h in rep["hf"] if (h["shape"], h["engine"], h["hf_mode"]) == ("opt-13b", "dense", "eager")][0]
    close(eager["speedup_vs_hf"], 0.5 / (ms(bench, "opt-13b", "dense") / 40))
    assert all(h["speedup_vs_hf"] is None for h in rep["hf"] if h["hf_mode"] == "compile"), rep["hf"]
    assert "| opt-13b | x2.35 | >= x3 | not met |" in text.replace("(MLP 0.1, heads 0.5, B=1) over dense ", ""), text
    assert rep["device"] == "NVIDIA H100 80GB HBM3" and any(p.startswith("kernel_tests: rc=1") for p in rep["parts"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dejavu")
    ap.add_argument("workdir")
    a = ap.parse_args()
    shutil.rmtree(a.workdir, ignore_errors=True)
    full = os.path.join(a.workdir, "full")
    make_folder(full)
    rep, text = run(full)
    check_full(rep, text)
    assert rep["variants"] == [] and "none in this folder" in text, rep["variants"]  # bench/fused is a flow

    # A/B variants: a bench/<variant>/ whose rows are bench/'s at 1.25x: every batch-1 row of the goal point, on
    # both paths, beside its default at ratio 1.25.
    var = os.path.join(a.workdir, "variant")
    make_folder(var)
    os.makedirs(os.path.join(var, "bench", "slow"))
    doc = json.load(open(os.path.join(var, "bench", "bench.json")))
    for r in doc["rows"]:
        r["median_ms"] *= 1.25
    json.dump(doc, open(os.path.join(var, "bench", "slow", "bench.json"), "w"))
    vrep, vtext = run(var)
    assert vrep["variants"] and {v["variant"] for v in vrep["variants"]} == {"slow"}, vrep["variants"]
    assert any(v["engine"].endswith("-persistent") for v in vrep["variants"]), vrep["variants"]  # both paths ran
    for v in vrep["variants"]:
        close(v["ratio"], 1.25)
    assert "| slow | opt-13b | sparse-predictor |" in vtext, vtext
    # A model/<shape>/<variant>/ (step_model_bench.sh's second MLP input) pairs with model/<shape>/ alone: its batch-1
    # rows at 0.8x (the batch sweep left out).
    msrc = os.path.join(var, "model", "opt-1.3b", "bench.csv")
    mrows = list(csv.DictReader(open(msrc)))
    os.makedirs(os.path.join(var, "model", "opt-1.3b", "mlp-prev_mlp_input"))
    with open(os.path.join(var, "model", "opt-1.3b", "mlp-prev_mlp_input", "bench.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(mrows[0].keys()))
        w.writeheader()
        w.writerows(dict(r, median_ms=float(r["median_ms"]) * 0.8) for r in mrows)
    mrep, mtext = run(var)
    model_pairs = [v for v in mrep["variants"] if v["variant"] == "model/opt-1.3b/mlp-prev_mlp_input"]
    assert {v["engine"] for v in model_pairs} == {"dense", "sparse-predictor", "sparse-predictor-auto",
                                                  "dense-persistent", "sparse-predictor-persistent"}, model_pairs
    for v in model_pairs:
        close(v["ratio"], 0.8)
    assert {v["variant"] for v in mrep["variants"]} == {"slow", "model/opt-1.3b/mlp-prev_mlp_input"}, mrep["variants"]
    assert "| model/opt-1.3b/mlp-prev_mlp_input | opt-1.3b-random | sparse-predictor |" in mtext, mtext

    # bench.csv, then bench.log (3 decimals), stand in for a missing or truncated bench.json.
    g13 = lambda rep: goal(section(rep, "graph", "default"), "sparse + predictors (MLP", "opt-13b")  # noqa: E731
    with open(os.path.join(full, "bench", "bench.json"), "w") as f:
        f.write('{"rows": [')
    close(g13(run(full)[0])["value"], g13(rep)["value"])
    os.remove(os.path.join(full, "bench", "bench.json"))
    os.remove(os.path.join(full, "bench", "bench.csv"))
    from_log, _ = run(full)
    assert from_log["sources"]["bench"].startswith("bench.log"), from_log["sources"]
    close(g13(from_log)["value"], g13(rep)["value"], 2e-3)
    close(goal(section(from_log, "persistent", "default"), "dense: % of the byte floor", "opt-13b")["value"],
          goal(section(rep, "persistent", "default"), "dense: % of the byte floor", "opt-13b")["value"], 2e-3)

    # Goals flip: opt-13b sparse + predictors at dense / 3.1 is met; the sweep's auto B=16 at 2.0 / 2.5 is not,
    # though its raw row at 2.0 / 2.02 would be (the goal reads the auto row, the detail shows the raw one).
    flip = os.path.join(a.workdir, "flip")
    make_folder(flip)
    path = os.path.join(flip, "bench", "bench.json")
    doc = json.load(open(path))
    dense = next(r for r in doc["rows"] if (r["shape"], r["engine"]) == ("opt-13b", "dense"))
    next(r for r in doc["rows"] if (r["shape"], r["engine"]) == ("opt-13b", "sparse-predictor"))["median_ms"] = \
        dense["median_ms"] / 3.1
    json.dump(doc, open(path, "w"))
    path = os.path.join(flip, "model", "opt-1.3b", "bench.csv")
    rows = csv_rows(path)
    for r in rows:
        if (r["engine"], r["batch"]) == ("sparse-predictor", "16"):
            r["median_ms"] = "2.02"
        if (r["engine"], r["batch"]) == ("sparse-predictor-auto", "16"):
            r["median_ms"] = "2.5"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    flipped, _ = run(flip)
    g = g13(flipped)
    close(g["value"], 3.1)
    assert g["status"] == "met", g
    g = goal(section(flipped, "graph", "default"), "real selections, batch sweep", "opt-1.3b")
    assert g["status"] == "not met" and g["measured"] == "x0.80 at B=16" and "B=16: x0.99" in g["detail"], g

    # An empty folder (every part timed out): every goal "not measured", no HF table, rc 0.
    empty = os.path.join(a.workdir, "empty")
    os.makedirs(empty)
    rep, text = run(empty)
    assert all(not s["goals"] for s in rep["sections"]) and rep["hf"] is None, rep
    assert text.count("not measured") >= 5, text
    print("decode_goals: computed figures match the CSV, missing parts read not measured, goals flip, variants pair")


if __name__ == "__main__":
    main()
