#!/usr/bin/env python3
"""`dejavu run` on a tiny checkpoint: the first run runs every stage; an unchanged re-run skips them all;
changing one section re-runs that stage only; a documentation file added to the checkpoint changes nothing;
--only picks one stage and --force re-runs it; --dry-run predicts each of these and writes nothing.
Usage: test_run_experiment.py DEJAVU_BIN WORKDIR
"""
import argparse
import csv
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))  # tests/python: shared helpers
from run_test_util import tiny_model, wikitext_or_skip

STAGES = ["collect", "train", "measure", "eval"]

YAML = """name: tiny
model: {model}
output_dir: {out}
device: cpu
stages: [collect, train, measure, eval]
collect:
  text: {valid}
  max_tokens: 1024
  seq_len: 64
  sample_every: 2
train:
  epochs: 2
measure:
  mlp_topk_fractions: [0.1, 0.5]
  head_keep_fractions: [0.25, 0.75]
eval:
  text: {test}
  max_tokens: 256
  seq_len: 64
  modes: [dense, oracle, predicted]
  targets: [mlp]
  mlp_densities: [{density}]
"""


def run(dejavu, yaml_path, *extra):
    r = subprocess.run([dejavu, "run", yaml_path, *extra], capture_output=True, text=True)
    assert r.returncode == 0, f"dejavu run {' '.join(extra)}: rc {r.returncode}: {r.stderr[-2000:]}"
    return r


def ran(r):
    """The stages a real run ran and the ones it skipped, from its '== stage' lines."""
    done = re.findall(r"^== (\w+) -> ", r.stderr, re.M)
    skipped = re.findall(r"^== (\w+): unchanged since its last run, skipped", r.stderr, re.M)
    return done, skipped


def plan(r):
    """{stage: 'run' | 'skip'} from a dry run's lines."""
    return dict(re.findall(r"^  (\w+)\s+(run|skip)\s", r.stdout, re.M))


def tree(path):
    """Every file under path with its size and mtime: what a dry run must leave as it is."""
    out = {}
    for d, _, files in os.walk(path):
        for f in files:
            p = os.path.join(d, f)
            st = os.stat(p)
            out[p] = (st.st_size, st.st_mtime_ns)
    return out


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("dejavu")
    ap.add_argument("workdir")
    return ap.parse_args()


def prepare(workdir):
    """WikiText-2's valid and test files (exit 77 when missing), a tiny checkpoint under workdir, an empty
    output folder: (valid, test, model, out)."""
    valid, test = wikitext_or_skip()
    os.makedirs(workdir, exist_ok=True)
    out = os.path.join(workdir, "runs")
    shutil.rmtree(out, ignore_errors=True)
    return valid, test, tiny_model(workdir), out


def main():
    a = parse_args()
    valid, test, model, out = prepare(a.workdir)
    for extra in ("MODEL_CARD.md", "notes.md"):  # left from an earlier run of this test
        if os.path.exists(os.path.join(model, extra)):
            os.remove(os.path.join(model, extra))
    yaml_path = os.path.join(a.workdir, "tiny.yaml")

    def write_yaml(density):
        with open(yaml_path, "w") as f:
            f.write(YAML.format(model=model, out=out, valid=valid, test=test, density=density))

    write_yaml(0.5)
    assert plan(run(a.dejavu, yaml_path, "--dry-run")) == {s: "run" for s in STAGES}
    assert not os.path.exists(out), "a dry run wrote the output directory"
    assert ran(run(a.dejavu, yaml_path)) == (STAGES, [])
    for s in STAGES:
        assert os.path.exists(os.path.join(out, s, "stage.hash")), s
    # measure sweeps the MLP predictors at mlp_topk_fractions and the head predictors at head_keep_fractions.
    with open(os.path.join(out, "measure", "predictor_sweep.csv"), newline="") as f:
        topk = [r for r in csv.DictReader(f) if r["selector"] == "topk"]
    for kind, want in (("mlp", {"0.1", "0.5"}), ("att", {"0.25", "0.75"})):
        got = {r["param"] for r in topk if r["kind"] == kind}
        assert got == want, f"measure swept {kind} predictors at {sorted(got)}, not {sorted(want)}"

    before = tree(out)
    assert plan(run(a.dejavu, yaml_path, "--dry-run")) == {s: "skip" for s in STAGES}
    assert tree(out) == before, "a dry run changed the outputs"
    assert ran(run(a.dejavu, yaml_path)) == ([], STAGES)

    # A checkpoint's documentation is not an input that changes results.
    with open(os.path.join(model, "MODEL_CARD.md"), "w") as f:
        f.write("# edited after the run\n")
    assert plan(run(a.dejavu, yaml_path, "--dry-run")) == {s: "skip" for s in STAGES}

    # One section changed: that stage alone.
    write_yaml(0.25)
    assert plan(run(a.dejavu, yaml_path, "--dry-run")) == {"collect": "skip", "train": "skip", "measure": "skip",
                                                            "eval": "run"}
    assert ran(run(a.dejavu, yaml_path)) == (["eval"], ["collect", "train", "measure"])
    with open(os.path.join(out, "eval", "eval.csv")) as f:
        assert any(float(r["mlp_density"]) == 0.25 for r in csv.DictReader(f)), "eval did not use the new density"

    # --only picks one stage; with --force it runs although unchanged.
    assert plan(run(a.dejavu, yaml_path, "--dry-run", "--only", "measure")) == {"measure": "skip"}
    assert plan(run(a.dejavu, yaml_path, "--dry-run", "--only", "measure", "--force")) == {"measure": "run"}
    assert ran(run(a.dejavu, yaml_path, "--only", "measure", "--force")) == (["measure"], [])
    assert ran(run(a.dejavu, yaml_path)) == ([], STAGES)
    print("ok: first run ran all 4 stages, re-runs skipped them, a docs edit changed nothing, an eval change "
          "re-ran eval only, --only/--force ran measure alone; every dry run predicted it and wrote nothing")


if __name__ == "__main__":
    main()
