#!/usr/bin/env python3
"""The bench stage of `dejavu run` on a tiny checkpoint, and `dejavu run --out`: collect -> train -> bench with
`bench.shapes: [model]`. Without a GPU (or a CUDA engine) the bench stage is skipped with a one-line reason and
the run exits 0, the dry run says skip, and nothing is recorded for it; with a GPU it times the checkpoint with
the trained predictors (bench.json rows dense, sparse-fixed and sparse-predictor at each density) and a re-run
skips it as unchanged, keeping its record. Each stage that ran has <stage>/stage_run.json, the one record of
its start, end, wall time and commit (no run-wide stage_times.json). --out puts everything under the given
directory, not output_dir.
Usage: test_run_bench_stage.py DEJAVU_BIN WORKDIR
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

from missing_dependency import missing_dependency

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.environ.get("DEJAVU_DATA_DIR", os.path.join(ROOT, "..", "shared", "data"))

YAML = """name: tiny-bench
model: {model}
output_dir: {unused}
device: cpu
collect:
  text: {valid}
  max_tokens: 768
  seq_len: 64
  sample_every: 2
train:
  epochs: 1
bench:
  shapes: [model]
  text: {test}
  densities: [0.25, 1.0]
  head_density: 0.5
  prompt_len: 24
  gen_tokens: 12
"""


def run(dejavu, *args):
    r = subprocess.run([dejavu, "run", *args], capture_output=True, text=True)
    assert r.returncode == 0, f"dejavu run {' '.join(args)}: rc {r.returncode}: {r.stderr[-2000:]}"
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dejavu")
    ap.add_argument("workdir")
    a = ap.parse_args()
    texts = [os.path.join(DATA, "wikitext-2", f) for f in ("valid.txt", "test.txt")]
    if not all(map(os.path.exists, texts)):
        missing_dependency(f"WikiText-2 missing under {DATA}")
    valid, test = texts
    os.makedirs(a.workdir, exist_ok=True)
    model, out, unused = (os.path.join(a.workdir, n) for n in ("model", "out", "unused"))
    for d in (out, unused):
        shutil.rmtree(d, ignore_errors=True)
    if not os.path.exists(os.path.join(model, "config.json")):
        sys.path.insert(0, HERE)
        import make_tiny_opt
        make_tiny_opt.make(model, "pre", 0)
    yaml_path = os.path.join(a.workdir, "tiny-bench.yaml")
    with open(yaml_path, "w") as f:
        f.write(YAML.format(model=model, unused=unused, valid=valid, test=test))

    dry = run(a.dejavu, yaml_path, "--out", out, "--dry-run").stdout
    bench_plan = re.search(r"^  bench\s+(run|skip)\s+(.*)$", dry, re.M)
    assert bench_plan, dry
    r = run(a.dejavu, yaml_path, "--out", out)
    assert not os.path.exists(unused), "--out did not replace output_dir"
    assert not os.path.exists(os.path.join(out, "stage_times.json")), "a second, run-wide time record was written"
    for s in ("collect", "train"):
        rec = json.load(open(os.path.join(out, s, "stage_run.json")))
        assert rec["stage"] == s and rec["seconds"] > 0 and rec["commit"], rec
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rec["started_utc"]), rec
        assert rec["started_utc"] <= rec["finished_utc"], rec
    assert re.search(r"^== collect done in [\d.]+ s$", r.stderr, re.M), r.stderr[-2000:]
    skipped = re.search(r"^== bench: skipped: (.+)$", r.stderr, re.M)
    if skipped:
        # No GPU here: one line with the reason, nothing written for the stage, exit 0.
        assert bench_plan.group(1) == "skip" and skipped.group(1) in bench_plan.group(2), (dry, skipped.group(0))
        assert "GPU" in skipped.group(1) or "CUDA" in skipped.group(1), skipped.group(0)
        assert not os.path.exists(os.path.join(out, "bench", "stage.hash"))
        assert not os.path.exists(os.path.join(out, "bench", "stage_run.json"))
        report = open(os.path.join(out, "report.md")).read()
        assert "Listed in experiment.yaml but without results in this folder: bench" in report, report[-3000:]
        print(f"ok (no GPU): the bench stage was skipped ({skipped.group(1)}); collect and train ran under --out")
        return
    assert bench_plan.group(1) == "run", dry
    doc = json.load(open(os.path.join(out, "bench", "bench.json")))
    got = [(row["engine"], row["mlp_density"]) for row in doc["rows"]]
    want = [("dense", 1.0), ("sparse-fixed", 0.25), ("sparse-fixed", 1.0), ("sparse-predictor", 0.25),
            ("sparse-predictor", 1.0)]
    assert got == want, got
    assert all(row["median_ms"] > 0 and row["floor_ms"] > 0 for row in doc["rows"]), doc["rows"]
    assert all(row["predictor_bytes"] > 0 for row in doc["rows"] if row["engine"] == "sparse-predictor")
    assert doc["options"]["model"]["predictors"].endswith("train"), doc["options"]
    record = open(os.path.join(out, "bench", "stage_run.json")).read()
    again = run(a.dejavu, yaml_path, "--out", out)
    assert open(os.path.join(out, "bench", "stage_run.json")).read() == record, "an unchanged stage lost its record"
    assert re.search(r"^== bench: unchanged since its last run, skipped", again.stderr, re.M), again.stderr[-2000:]
    print(f"ok (GPU): bench timed the checkpoint with its trained predictors ({len(got)} rows), a re-run skipped it")


if __name__ == "__main__":
    main()
