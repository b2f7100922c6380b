#!/usr/bin/env python3
"""What `dejavu run` does to its output folders, run from a working directory outside the repository:
- a collect that failed on a bad corpus does not block the fixed config: --dry-run says the stale partial work
  will be discarded and the run discards it (the plain `dejavu collect` keeps refusing without --force);
- plots are made (the binary finds its scripts from its own location, DEJAVU_SOURCE_DIR unset), from the build
  tree and from a `cmake --install` prefix;
- a stage that re-runs replaces its whole folder: no file of the earlier run survives beside the new results;
- a second writer of the same run exits 2 naming the first one's pid and command; after the first is killed
  (SIGKILL: its lock files stay) the next run takes its locks over and finishes.
Usage: test_run_outputs.py DEJAVU_BIN WORKDIR
"""
import argparse
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))  # tests/python: shared helpers
from missing_dependency import missing_dependency, under_ci
from run_test_util import tiny_model, wikitext_or_skip

YAML = """name: outputs
model: {model}
output_dir: {out}
device: cpu
stages: {stages}
collect:
  text: {text}
  max_tokens: {collect_tokens}
  seq_len: 64
  sample_every: 2
train:
  epochs: 2
measure:
  mlp_topk_fractions: [0.1, 0.5]
eval:
  text: {test}
  max_tokens: 256
  seq_len: 64
  modes: {modes}
  targets: [mlp]
  mlp_densities: [{density}]
"""


def have_matplotlib():
    """Whether plots can be checked; without matplotlib the plot checks are left out, except under CI=true
    (tests/python/missing_dependency.py), where a missing dependency fails the test."""
    if subprocess.run([sys.executable, "-c", "import matplotlib"], capture_output=True).returncode == 0:
        return True
    if under_ci():
        missing_dependency("matplotlib missing: the plots cannot be checked")
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dejavu")
    ap.add_argument("workdir")
    a = ap.parse_args()
    dejavu = os.path.abspath(a.dejavu)
    valid, test = wikitext_or_skip()
    work = os.path.abspath(a.workdir)
    elsewhere = os.path.join(work, "elsewhere")  # the working directory: not the repository, no scripts/
    shutil.rmtree(elsewhere, ignore_errors=True)
    os.makedirs(elsewhere)
    model, out = tiny_model(work), os.path.join(work, "runs")
    shutil.rmtree(out, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k != "DEJAVU_SOURCE_DIR"}
    bad = os.path.join(work, "bad.txt")
    with open(bad, "wb") as f:
        f.write(b"Some text that tokenizes well enough.\n" * 50 + b"then a byte that is not UTF-8: \xff\n")
    yaml_path = os.path.join(work, "outputs.yaml")

    def write_yaml(text, density=0.5, stages="[collect, train, measure, eval]", path=yaml_path, output=out,
                   modes="[dense, oracle, predicted]", collect_tokens=1024):
        with open(path, "w") as f:
            f.write(YAML.format(model=model, out=output, text=text, test=test, density=density, stages=stages,
                                modes=modes, collect_tokens=collect_tokens))

    def run(*args, binary=dejavu, path=yaml_path):
        return subprocess.run([binary, "run", path, *args], capture_output=True, text=True, cwd=elsewhere, env=env)

    # A failed collect, then the fixed config.
    write_yaml(bad)
    r = run()
    assert r.returncode == 2 and "not valid UTF-8" in r.stderr, f"rc {r.returncode}: {r.stderr[-2000:]}"
    assert os.path.isdir(os.path.join(out, "collect.partial")), "the failed collect left no partial work"
    write_yaml(valid)
    r = run("--dry-run")
    assert r.returncode == 0, r.stderr
    line = [l for l in r.stdout.splitlines() if l.strip().startswith("collect")][0]
    assert "run" in line and "discards" in line and "collect.partial" in line, line
    r = run()
    assert r.returncode == 0, f"the fixed config failed: rc {r.returncode}: {r.stderr[-2000:]}"
    assert "discarding" in r.stderr and "collect.partial" in r.stderr, r.stderr[-2000:]
    assert not os.path.exists(os.path.join(out, "collect.partial"))
    # collect's progress bar ends at 100% of the rows it wrote (its total was an estimate before tokenizing).
    final = re.findall(r"^collect \[#+\] +100\.0% (\d+)/(\d+) rows .* took", r.stderr, re.M)
    assert final and final[-1][0] == final[-1][1], f"collect's bar did not end at 100%: {r.stderr[-2000:]}"
    # The tiny test model's weights are random: measure says there is no contextual sparsity to find.
    assert "about 50% active in every layer" in r.stderr, r.stderr[-2000:]
    # The plain stage command still refuses a store of another corpus without --force (a bad corpus now fails
    # while collect plans its windows, before anything is written, so the other store is made from good text).
    plain = os.path.join(work, "plain", "acts.h5")
    shutil.rmtree(os.path.dirname(plain), ignore_errors=True)
    c = [dejavu, "collect", "--model", model, "--out", plain, "--max-tokens", "512", "--seq-len", "64"]
    assert subprocess.run(c + ["--text", bad], capture_output=True).returncode == 2
    assert not os.path.exists(plain + ".partial"), "a corpus that fails to tokenize left a partial store"
    assert subprocess.run(c + ["--text", test], capture_output=True).returncode == 0
    r = subprocess.run(c + ["--text", valid], capture_output=True, text=True)
    assert r.returncode == 2 and "--force" in r.stderr, f"rc {r.returncode}: {r.stderr}"
    assert subprocess.run(c + ["--text", valid, "--force"], capture_output=True).returncode == 0

    plots = have_matplotlib()
    if plots:
        for p in ("measure/measure.png", "eval/eval.png"):
            assert os.path.exists(os.path.join(out, p)), f"{p} missing (run from {elsewhere})"
    with open(os.path.join(out, "eval", "eval.json")) as f:
        assert json.load(f)["context"]["device"] == "cpu", "eval.json does not record the device used"

    # A re-run with a changed config leaves no file of the earlier run.
    stale = os.path.join(out, "eval", "from_an_earlier_run.txt")
    with open(stale, "w") as f:
        f.write("old\n")
    write_yaml(valid, density=0.25)
    r = run()
    assert r.returncode == 0, r.stderr[-2000:]
    assert not os.path.exists(stale), "a file of the earlier eval run survived its re-run"
    with open(os.path.join(out, "eval", "eval.csv")) as f:
        assert any(float(r["mlp_density"]) == 0.25 for r in csv.DictReader(f)), "eval did not use the new density"
    if plots:
        assert os.path.exists(os.path.join(out, "eval", "eval.png"))

    # A run folder copied elsewhere (new absolute paths, new mtimes) keeps every finished stage.
    copy = os.path.join(work, "runs_copy")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(out, copy, copy_function=shutil.copy)
    copy_yaml = os.path.join(work, "copy.yaml")
    write_yaml(valid, density=0.25, path=copy_yaml, output=copy)
    r = run("--dry-run", path=copy_yaml)
    skipped = re.findall(r"^  (\w+)\s+skip\s", r.stdout, re.M)
    assert r.returncode == 0 and skipped == ["collect", "train", "measure", "eval"], r.stdout + r.stderr

    # Eval on the predictors' training text is warned about (before anything runs).
    same_yaml = os.path.join(work, "same_text.yaml")
    with open(same_yaml, "w") as f:
        f.write(YAML.format(model=model, out=out, text=valid, test=valid, density=0.25,
                            stages="[collect, train, measure, eval]", modes="[dense]", collect_tokens=1024))
    r = run("--dry-run", path=same_yaml)
    assert r.returncode == 0 and "the text the predictors were trained on" in r.stderr, r.stderr
    # device: cuda without a GPU fails before any stage (on a GPU machine the dry run just passes).
    with open(same_yaml) as f:
        cuda_yaml = f.read().replace("device: cpu", "device: cuda")
    with open(same_yaml, "w") as f:
        f.write(cuda_yaml)
    r = run("--dry-run", path=same_yaml)
    assert r.returncode == 0 or (r.returncode == 2 and "device: cuda: no CUDA GPU" in r.stderr
                                 and same_yaml in r.stderr), f"rc {r.returncode}: {r.stderr}"

    # Two writers of one run: the second exits 2 naming the first; a killed first's locks are taken over.
    first = subprocess.Popen([dejavu, "run", yaml_path, "--force"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, cwd=elsewhere, env=env)
    lock = out + ".lock"
    deadline = time.time() + 60
    while not os.path.exists(os.path.join(out, "collect.lock")) and first.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert first.poll() is None, "the first run ended before the second could start"
    second = run()
    assert second.returncode == 2, f"second writer: rc {second.returncode}: {second.stderr[-2000:]}"
    message = second.stderr.strip().splitlines()[-1]
    assert f"pid {first.pid}" in message and "dejavu run" in message and lock in message, message
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert os.path.exists(lock), "SIGKILL cannot remove a lock file; the test expects it left behind"
    r = run()
    assert r.returncode == 0, f"after the holder was killed: rc {r.returncode}: {r.stderr[-2000:]}"
    assert "taking over the lock" in r.stderr and f"pid {first.pid}" in r.stderr, r.stderr[-2000:]
    assert not os.path.exists(lock), "a finished run left its lock file"

    # An installed prefix: bin/dejavu finds share/dejavu/scripts beside it.
    build = os.path.dirname(dejavu)
    prefix = os.path.join(work, "prefix")
    shutil.rmtree(prefix, ignore_errors=True)
    r = subprocess.run(["cmake", "--install", build, "--prefix", prefix], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    installed = os.path.join(prefix, "bin", "dejavu")
    for script in ("plot_measure.py", "plot_eval.py"):
        assert os.path.exists(os.path.join(prefix, "share", "dejavu", "scripts", script)), script
    installed_yaml, installed_out = os.path.join(work, "installed.yaml"), os.path.join(work, "runs_installed")
    shutil.rmtree(installed_out, ignore_errors=True)
    write_yaml(valid, stages="[collect, measure, eval]", path=installed_yaml, output=installed_out,
               modes="[dense, oracle]", collect_tokens=512)
    r = run(binary=installed, path=installed_yaml)
    assert r.returncode == 0, f"installed dejavu: rc {r.returncode}: {r.stderr[-2000:]}"
    if plots:
        for p in ("measure/measure.png", "eval/eval.png"):
            assert os.path.exists(os.path.join(installed_out, p)), f"{p} missing (installed binary)"
    print("ok: a fixed collect config discards the failed run's partial work (dry run predicts it), plain collect "
          "still refuses, a re-run leaves no stale file, a second writer exits 2 naming the first, a killed "
          f"holder's locks are taken over, plots {'made' if plots else 'skipped (no matplotlib)'} from outside the "
          "repository, build tree and installed prefix")


if __name__ == "__main__":
    main()
