#!/usr/bin/env python3
"""The `dejavu` command's words for what a new user met (issue 21, item 11), through the binary on the tiny
checkpoint:
  - measure's progress bar covers the predictor pass too ("measure predictors [...]"), not only the oracle pass;
  - the report names a head's dimension as such ("4 heads of dimension 16");
  - perplexity over a 5-token text says "1 window of 5 tokens", not "1 windows of 64";
  - eval's dense point prints no "(+0.00% vs dense)" (it is the reference);
  - a threshold point that keeps nothing has no precision (an empty cell, not 1.000000);
  - `generate --help` shows --no-stop-at-eos without CLI11's "{false}";
  - an unclosed [ in an experiment is reported at its own line;
  - a whitespace-only text is refused (exit 2), not scored;
  - `eval --mode dense` names the unknown option and the ones meant (--modes), not CLI11's raw message;
  - the default --model, missing outside the checkout, names the working directory;
  - `bench --persistent-trace` without the persistent path is refused (exit 2), not silently ignored.
Usage: test_cli_words.py DEJAVU_BIN WORKDIR
"""
import csv
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))  # tests/python: shared helpers
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "run"))
from test_run_experiment import YAML, parse_args, prepare  # noqa: E402


def dejavu(binary, *args, rc=0, cwd=None):
    r = subprocess.run([binary, *args], capture_output=True, text=True, cwd=cwd)
    assert r.returncode == rc, f"dejavu {' '.join(args)}: rc {r.returncode}, want {rc}: {r.stderr[-2000:]}"
    return r


def main():
    a = parse_args()
    valid, test, model, out = prepare(a.workdir)
    y = os.path.join(a.workdir, "tiny.yaml")
    with open(y, "w") as f:
        f.write(YAML.format(model=model, out=out, valid=valid, test=test, density=0.5))
    r = dejavu(a.dejavu, "run", y)
    assert re.search(r"measure predictors \[", r.stderr), "no progress bar over measure's predictor pass"
    assert "predictors of layer" not in r.stderr, "per-layer lines instead of a bar"
    dense_line = r.stderr[r.stderr.index("eval point 1/"):].splitlines()[2]
    assert dense_line.startswith("  perplexity ") and "vs dense" not in dense_line, dense_line
    with open(os.path.join(out, "report.md")) as f:
        assert "4 heads of dimension 16" in f.read(), "report.md: heads without 'of dimension'"
    with open(os.path.join(out, "measure", "predictor_sweep.csv")) as f:
        sweep = list(csv.DictReader(f))
    empty = [x for x in sweep if x["selector"] == "threshold" and float(x["kept_fraction"]) == 0]
    assert empty, "no threshold point keeps nothing on the tiny model (expected at 0.9)"
    assert all(x["precision"] == "" for x in empty), f"precision of a point that keeps nothing: {empty[0]}"

    five = os.path.join(a.workdir, "five.txt")
    with open(five, "w") as f:
        f.write("hello there you\n")
    r = dejavu(a.dejavu, "perplexity", "--model", model, "--text", five, "--seq-len", "64")
    assert "(1 window of 5 tokens)" in r.stdout, r.stdout

    help_text = dejavu(a.dejavu, "generate", "--help").stdout
    assert "--no-stop-at-eos" in help_text and "{false}" not in help_text, help_text

    bad = os.path.join(a.workdir, "unclosed.yaml")
    with open(bad, "w") as f:
        f.write(f"name: x\nmodel: {model}\nstages: [collect\ncollect:\n  text: {valid}\n")
    r = dejavu(a.dejavu, "run", bad, rc=2)
    assert f"{bad}:3:" in r.stderr and "never closed" in r.stderr, r.stderr

    blank = os.path.join(a.workdir, "blank.txt")
    with open(blank, "w") as f:
        f.write(" \n\t\n")
    r = dejavu(a.dejavu, "perplexity", "--model", model, "--text", blank, rc=2)
    assert "only whitespace" in r.stderr and blank in r.stderr, r.stderr

    r = dejavu(a.dejavu, "eval", "--mode", "dense", "--model", model, "--text", five, "--out",
               os.path.join(a.workdir, "ev"), rc=2)
    assert "unknown option --mode" in r.stderr and "--modes" in r.stderr, r.stderr
    assert "The following arguments were not expected" not in r.stderr, r.stderr

    elsewhere = os.path.join(a.workdir, "elsewhere")
    os.makedirs(elsewhere, exist_ok=True)
    r = dejavu(a.dejavu, "perplexity", "--text", five, rc=2, cwd=elsewhere)
    assert "data/models/opt-mini" in r.stderr and elsewhere in r.stderr, r.stderr
    r = dejavu(a.dejavu, "bench", "--persistent-trace", "--out", os.path.join(a.workdir, "trace"), rc=2)
    assert "--decode-path persistent" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(a.workdir, "trace")), "refused before writing anything"
    print("ok: measure's predictor bar, 'heads of dimension', '1 window of 5 tokens', no vs-dense on dense, empty "
          "precision when nothing is kept, clean --help, YAML line, blank text refused, unknown option named, "
          "missing default model names the working directory, --persistent-trace needs the persistent path")


if __name__ == "__main__":
    main()
