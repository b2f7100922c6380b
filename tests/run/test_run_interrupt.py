#!/usr/bin/env python3
"""`dejavu run` stopped by a signal during each stage (collect, train, measure, eval) exits with 130 and a
message naming the stage, what is kept and the command that resumes; re-running the same command resumes,
and the finished run's outputs equal an uninterrupted run's (acts.h5 dataset for dataset, predictors byte for
byte, measure's and eval's results but eval's timings). Two chains of runs, one stopped by SIGINT at each
stage in turn and one by SIGTERM with SIGINT ignored from the start (a background job: its SIGINT, sent too,
must change nothing). The second chain writes where `--out` says (the YAML's output_dir stays unmade), so the
printed resume command must carry `--out DIR`; each chain is finished by running the command its last message
printed, word for word.
Usage: test_run_interrupt.py DEJAVU_BIN WORKDIR
"""
import argparse
import csv
import filecmp
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))  # tests/python: shared helpers
from missing_dependency import missing_dependency  # noqa: E402

try:
    import h5py  # noqa: F401 (store_datasets)
    import numpy as np
except ImportError as e:
    missing_dependency(str(e))

from run_test_util import store_datasets, tiny_model, wikitext_or_skip

STAGES = ["collect", "train", "measure", "eval"]

# Sized so that each stage lasts long enough on 2 cores for a signal to land inside it, and no longer.
YAML = """name: interrupt
model: {model}
output_dir: {out}
device: cpu
stages: [collect, train, measure, eval]
collect:
  text: {valid}
  max_tokens: 12000
  seq_len: 64
  sample_every: 2
train:
  epochs: 6
  patience: 1000
  stop_recall: 1
measure:
  mlp_topk_fractions: [0.05, 0.1, 0.2, 0.3, 0.5]
  mlp_thresholds: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
eval:
  text: {test}
  max_tokens: 1024
  seq_len: 64
  modes: [dense, oracle, predicted]
  targets: [mlp, heads]
  mlp_densities: [0.5, 0.1]
  head_densities: [0.5]
"""


def started(stage, out, line):
    """True once `line` (the run's stderr so far, line by line) shows `stage` doing its work."""
    if stage == "collect":
        return os.path.exists(os.path.join(out, "collect.partial", "acts.h5.partial"))
    if stage == "train":
        return os.path.exists(os.path.join(out, "train.partial", "partial", "layer_000.safetensors"))
    if stage == "measure":
        return line.startswith("measure: predictor sweeps")
    return line.startswith("eval point 2/")


def run_stopped(dejavu, run_args, out, stage, sig, ignore_sigint):
    """Runs `dejavu run RUN_ARGS` until `stage` works, sends `sig`; returns (returncode, stderr)."""
    pre = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None
    p = subprocess.Popen([dejavu, "run", *run_args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         preexec_fn=pre)
    lines = []
    sent = threading.Event()

    def poll_files():  # collect and train are seen by their files, not by a line
        while not sent.is_set() and p.poll() is None:
            if started(stage, out, ""):
                send()
            time.sleep(0.005)

    def send():
        if sent.is_set():
            return
        sent.set()
        p.send_signal(sig)

    if ignore_sigint:
        # Ignored (SIG_IGN before exec): the job must go on. Sent before the stage works, not just before the
        # stopping signal: a pause there let a tiny train stage finish before the signal landed.
        time.sleep(0.2)
        p.send_signal(signal.SIGINT)
    watcher = threading.Thread(target=poll_files, daemon=True)
    watcher.start()
    for line in p.stderr:
        lines.append(line)
        if stage in ("measure", "eval") and started(stage, out, line):
            send()
    p.wait(timeout=600)
    return p.returncode, "".join(lines), sent.is_set()


def eval_rows(path):
    with open(path) as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def assert_same_results(clean, resumed):
    a = store_datasets(os.path.join(clean, "collect", "acts.h5"))
    b = store_datasets(os.path.join(resumed, "collect", "acts.h5"))
    assert a[1] == b[1], f"store attributes differ: {a[1]} vs {b[1]}"
    assert a[0].keys() == b[0].keys()
    for k in a[0]:
        assert np.array_equal(a[0][k], b[0][k]), f"acts.h5 dataset {k} differs"
    for rel in ("train/predictors.safetensors", "measure/measure_layers.csv", "measure/predictor_sweep.csv"):
        assert filecmp.cmp(os.path.join(clean, rel), os.path.join(resumed, rel), shallow=False), f"{rel} differs"
    with open(os.path.join(clean, "measure", "measure.json")) as f, \
            open(os.path.join(resumed, "measure", "measure.json")) as g:
        want, got = json.load(f), json.load(g)
    for doc in (want, got):  # the runs' own paths and timings
        for key in ("acts", "predictors", "seconds", "layer_rows_per_second"):
            doc.pop(key, None)
    assert want == got, "measure.json differs"
    assert eval_rows(os.path.join(clean, "eval", "eval.csv")) == eval_rows(os.path.join(resumed, "eval", "eval.csv"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dejavu")
    ap.add_argument("workdir")
    a = ap.parse_args()
    valid, test = wikitext_or_skip()
    os.makedirs(a.workdir, exist_ok=True)
    model = tiny_model(a.workdir)

    def experiment(name, via_out=False):
        """The YAML and the run's arguments; via_out: its output_dir is a folder never made, --out the real one."""
        out = os.path.join(a.workdir, name)
        unused = out + "_unused"
        for d in (out, unused):
            shutil.rmtree(d, ignore_errors=True)
        path = os.path.join(a.workdir, name + ".yaml")
        with open(path, "w") as f:
            f.write(YAML.format(model=model, out=unused if via_out else out, valid=valid, test=test))
        return path, out, [path, "--out", out] if via_out else [path]

    clean_yaml, clean, _ = experiment("clean")
    t0 = time.time()
    r = subprocess.run([a.dejavu, "run", clean_yaml], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    clean_seconds = time.time() - t0

    for sig, ignore_sigint, via_out in ((signal.SIGINT, False, False), (signal.SIGTERM, True, True)):
        name = signal.Signals(sig).name
        yaml_path, out, run_args = experiment("stopped_" + name, via_out)
        resume = " ".join(["dejavu", "run", *run_args])
        for stage in STAGES:
            # A signal that lands after the stage's last clean point stops the run before the next stage
            # instead (a busy machine); then the finished stage is removed and tried again (three times at most).
            for attempt in range(3):
                rc, err, sent = run_stopped(a.dejavu, run_args, out, stage, sig, ignore_sigint)
                assert sent, f"{name}: the run ended (rc {rc}) before {stage} could be stopped: {err[-2000:]}"
                assert rc == 130, f"{name} during {stage}: rc {rc}, want 130: {err[-2000:]}"
                message = err.strip().splitlines()[-1]
                for part in (f"interrupted by {name}", "kept", f"run `{resume}` again to resume"):
                    assert part in message, f"'{part}' not in the message: {message}"
                if message.startswith(f"dejavu: {stage}: "):
                    break
                print(f"note: {name} meant for {stage} landed later: {message}; {stage} is made again")
                shutil.rmtree(os.path.join(out, stage))
            else:
                raise AssertionError(f"{name} never landed inside {stage}")
            assert not os.path.exists(os.path.join(out, stage, "stage.hash")), f"{stage} marked done when stopped"
            print(f"{name} during {stage}: exit 130, {message}")
        printed = shlex.split(re.search(r"run `([^`]+)` again to resume", message).group(1))
        assert printed[:2] == ["dejavu", "run"], message
        r = subprocess.run([a.dejavu, *printed[1:]], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        assert not os.path.exists(out + "_unused"), f"{name}: the run wrote to the YAML's output_dir, not --out"
        assert_same_results(clean, out)
    print(f"ok: SIGINT and SIGTERM (SIGINT ignored, --out) during collect, train, measure and eval each exit 130 "
          f"with a resume message, and the printed commands resumed runs equal to the clean run "
          f"({clean_seconds:.1f} s)")


if __name__ == "__main__":
    main()
