#!/usr/bin/env python3
"""`dejavu run` ends with a summary and writes RUN_DIR/report.md + report.html; `dejavu report RUN_DIR` writes
them again. On a tiny checkpoint (seconds): the summary's numbers are the run's (dense perplexity from
eval.csv, oracle sparsity from measure_layers.csv); both files hold every stage's config and numbers (collect's
row count, train's metrics, measure's and eval's tables); the HTML references nothing outside itself and embeds
each plot byte for byte; a result folder the report does not know (tasks/) is picked up as it is; no temporary
file is left; a missing, empty or non-folder RUN_DIR is exit 2 with one line naming it.
Usage: test_run_report.py DEJAVU_BIN WORKDIR
"""
import base64
import csv
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))  # tests/python: shared helpers
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "run"))  # the run test this one extends
from test_run_experiment import STAGES, YAML, parse_args, prepare  # noqa: E402  (the same tiny run, two densities, layer 0 dense)


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def escape(text):
    """HTML escaping as the report does it."""
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#39;")):
        text = text.replace(a, b)
    return text


def check_report(out, html, md):
    """Every stage's config and numbers are in both files; the HTML stands alone."""
    for s in STAGES:
        config = read(os.path.join(out, s, "config.yaml"))
        assert config in md, f"{s}/config.yaml missing from report.md"
        assert escape(config) in html, f"{s}/config.yaml missing from report.html"
        record = json.load(open(os.path.join(out, s, "stage_run.json")))
        assert record["started_utc"] and record["started_utc"] in md, f"{s}: stage record's start not reported"
    ev = rows(os.path.join(out, "eval", "eval.csv"))
    for r in ev:
        assert r["perplexity"] in md and r["perplexity"] in html, f"eval point {r} missing"
    layers = rows(os.path.join(out, "measure", "measure_layers.csv"))
    for r in layers:
        assert r["mlp_sparsity"] in md and r["mlp_sparsity"] in html, "measure_layers.csv missing"
    sweep = rows(os.path.join(out, "measure", "predictor_sweep.csv"))
    assert sweep[-1]["recall"] in md, "predictor_sweep.csv missing"
    metrics = rows(os.path.join(out, "train", "metrics.csv"))
    first_col = list(metrics[0].keys())[1]
    assert all(r[first_col] in md for r in metrics), "train/metrics.csv missing"
    n_rows = subprocess.run([sys.executable, "-c", "import h5py,sys;f=h5py.File(sys.argv[1]);"
                             "print(f['tokens/token_id'].shape[0])", os.path.join(out, "collect", "acts.h5")],
                            capture_output=True, text=True)
    if n_rows.returncode == 0:
        assert f"| rows | {n_rows.stdout.strip()} |" in md, "collect's row count missing"
    assert "| collect | finished |" in md, "stage table missing"
    assert not os.path.exists(os.path.join(out, "stage_times.json")), "a second, run-wide time record was written"
    # Self-contained: no reference to another file or the network.
    for pattern in (r"<link\b", r"<script\b", r"<iframe\b", r"\bhref=", r"url\(", r"@import"):
        assert not re.search(pattern, html, re.I), f"report.html has {pattern}"
    srcs = re.findall(r'\bsrc="([^"]*)"', html)
    assert all(s.startswith("data:image/png;base64,") for s in srcs), "an image is not embedded"
    for s in STAGES:
        for f in sorted(os.listdir(os.path.join(out, s))):
            if f.endswith(".png"):
                with open(os.path.join(out, s, f), "rb") as fh:
                    b64 = base64.b64encode(fh.read()).decode()
                assert f"data:image/png;base64,{b64}\"" in html, f"{s}/{f} not embedded as it is"
                assert f"]({s}/{f})" in md, f"{s}/{f} not linked from report.md"
    return len(srcs)


def expect_error(dejavu, path, what):
    r = subprocess.run([dejavu, "report", path], capture_output=True, text=True)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, f"report {what}: rc {r.returncode}"
    assert len(lines) == 1 and path in lines[0], f"report {what}: {r.stderr!r}"


def main():
    a = parse_args()
    valid, test, model, out = prepare(a.workdir)
    yaml_path = os.path.join(a.workdir, "tiny.yaml")
    with open(yaml_path, "w") as f:
        f.write(YAML.format(model=model, out=out, valid=valid, test=test, density="0.5, 0.25") +
                "  dense_layers: [0]\n")

    r = subprocess.run([a.dejavu, "run", yaml_path], capture_output=True, text=True)
    assert r.returncode == 0, f"dejavu run: rc {r.returncode}: {r.stderr[-2000:]}"
    html_path, md_path = os.path.join(out, "report.html"), os.path.join(out, "report.md")
    assert os.path.exists(html_path) and os.path.exists(md_path), "run wrote no report"
    # The summary on stdout carries the run's own numbers.
    dense = next(x for x in rows(os.path.join(out, "eval", "eval.csv")) if x["mode"] == "dense")
    assert f"dense {float(dense['perplexity']):.2f}" in r.stdout, r.stdout
    sparsity = [float(x["mlp_sparsity"]) for x in rows(os.path.join(out, "measure", "measure_layers.csv"))]
    mean = 100 * sum(sparsity) / len(sparsity)
    assert f"oracle MLP sparsity (fc1 neurons silent per token): {mean:.1f}% on average over 3 layers" in r.stdout
    assert re.search(r"^  MLP 25% kept: oracle [0-9.]+ \([-+x][0-9.]+%?\), predicted ", r.stdout, re.M), r.stdout
    assert "stage wall times: collect " in r.stdout and f"report: {html_path}" in r.stdout, r.stdout
    images = check_report(out, read(html_path), read(md_path))

    # A result folder the report knows nothing about (a new stage's) shows up as it is.
    os.makedirs(os.path.join(out, "tasks"), exist_ok=True)
    with open(os.path.join(out, "tasks", "tasks.csv"), "w") as f:
        f.write("task,mode,acc\nstand-in-4way,dense,0.41723\n")
    with open(os.path.join(out, "tasks", "tasks.json"), "w") as f:
        json.dump({"model": "tiny", "tasks": [{"name": "stand-in-4way", "acc": 0.41723}]}, f)
    r = subprocess.run([a.dejavu, "report", out], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    md, html = read(md_path), read(html_path)
    assert "## tasks" in md and "| stand-in-4way | dense | 0.41723 |" in md, "tasks.csv not in the report"
    assert "<td>stand-in-4way</td>" in html and "tasks/tasks.json" in md
    assert "results tasks/tasks.csv: 1 rows" in r.stdout, r.stdout
    check_report(out, html, md)
    leftovers = [f for d, _, fs in os.walk(out) for f in fs if ".tmp-" in f]
    assert not leftovers, f"temporary files left: {leftovers}"

    expect_error(a.dejavu, os.path.join(a.workdir, "no-such-run"), "missing folder")
    empty = os.path.join(a.workdir, "empty-run")
    os.makedirs(empty, exist_ok=True)
    expect_error(a.dejavu, empty, "empty folder")
    expect_error(a.dejavu, yaml_path, "a file")
    print(f"ok: run printed its summary and wrote report.md/html ({len(md)} / {len(html)} bytes, {images} plots "
          "embedded); every stage's config and numbers in both; tasks/ picked up; bad RUN_DIRs exit 2")


if __name__ == "__main__":
    main()
