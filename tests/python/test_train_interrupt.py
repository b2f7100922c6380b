#!/usr/bin/env python3
"""`dejavu train` stopped by SIGINT mid-run exits with 130 and a message saying what is kept, leaves no
predictors.safetensors (only the finished layers under OUT/partial/), and the same command run again
resumes those layers and writes predictors byte for byte equal to an uninterrupted run's.
Layers are trained one at a time (--threads 1 --parallel-layers 1) so that the signal lands between a
finished layer and an unfinished one, and so that both runs sum in the same order.
Usage: test_train_interrupt.py DEJAVU_BIN WORKDIR
"""
import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

from missing_dependency import missing_dependency

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(os.environ.get("DEJAVU_DATA_DIR", os.path.join(ROOT, "..", "shared", "data")), "wikitext-2", "valid.txt")


def train_args(dejavu, acts, out):
    # Early stopping off so every layer runs all its epochs: long enough for the signal to land mid-run.
    return [dejavu, "train", "--acts", acts, "--out", out, "--threads", "1", "--parallel-layers", "1",
            "--epochs", "40", "--patience", "1000", "--stop-recall", "2", "--no-progress"]


def tensors(path):
    """{name: (dtype, shape, bytes)} of a safetensors file, read without a safetensors package."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in header.items() if k != "__metadata__"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dejavu")
    ap.add_argument("workdir")
    a = ap.parse_args()
    if not os.path.exists(CORPUS):
        missing_dependency(f"{CORPUS} missing")
    os.makedirs(a.workdir, exist_ok=True)
    model, acts = os.path.join(a.workdir, "model"), os.path.join(a.workdir, "acts.h5")
    clean, stopped = os.path.join(a.workdir, "clean"), os.path.join(a.workdir, "stopped")
    for d in (clean, stopped):
        shutil.rmtree(d, ignore_errors=True)
    if not os.path.exists(os.path.join(model, "config.json")):
        subprocess.run([sys.executable, os.path.join(HERE, "make_tiny_opt.py"), model, "pre"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not os.path.exists(acts):
        subprocess.run([a.dejavu, "collect", "--model", model, "--text", CORPUS, "--out", acts, "--seq-len", "48",
                        "--sample-every", "3", "--max-tokens", "6000"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    t0 = time.time()
    subprocess.run(train_args(a.dejavu, acts, clean), check=True, stdout=subprocess.DEVNULL)
    clean_seconds = time.time() - t0

    # SIGINT as soon as the first layer is kept, while the next one trains.
    p = subprocess.Popen(train_args(a.dejavu, acts, stopped), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    first = os.path.join(stopped, "partial", "layer_000.safetensors")
    deadline = time.time() + 10 * clean_seconds + 60
    while not os.path.exists(first) and p.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert p.poll() is None, f"train ended (rc {p.returncode}) before the signal could be sent: {p.stderr.read()}"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=10 * clean_seconds + 60)
    assert p.returncode == 130, f"rc {p.returncode}, want 130: {err}"
    message = err.strip().splitlines()[-1]
    for part in ("interrupted by SIGINT", "layers are finished and kept", "resume", stopped):
        assert part in message, f"'{part}' not in the message: {message}"
    assert not os.path.exists(os.path.join(stopped, "predictors.safetensors")), "predictors written by a stopped run"
    kept = sorted(os.listdir(os.path.join(stopped, "partial")))
    assert "layer_000.safetensors" in kept, kept
    assert not any(k.startswith("layer_002") for k in kept), f"the last layer finished before the signal: {kept}"

    r = subprocess.run(train_args(a.dejavu, acts, stopped), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    resumed = f"{len([k for k in kept if k.endswith('.safetensors')])} resumed"
    assert resumed in r.stdout, f"'{resumed}' not in: {r.stdout.strip().splitlines()[-1]}"
    assert not os.path.exists(os.path.join(stopped, "partial")), "partial/ left after a completed run"
    got = tensors(os.path.join(stopped, "predictors.safetensors"))
    want = tensors(os.path.join(clean, "predictors.safetensors"))
    assert sorted(got) == sorted(want), (sorted(got), sorted(want))
    for name in want:
        assert got[name] == want[name], f"tensor {name} differs between the resumed and the clean run"
    print(f"ok: SIGINT after layer 0 -> exit 130, {kept} kept; resumed run equals the clean one in "
          f"{len(want)} tensors (clean run {clean_seconds:.1f} s)")


if __name__ == "__main__":
    main()
