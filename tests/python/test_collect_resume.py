#!/usr/bin/env python3
"""`dejavu collect` killed with SIGKILL at random points and re-run resumes to exactly the store a clean
run writes (every dataset byte for byte, every identity attribute), and the store has the documented
layout when opened with h5py (pipeline/store/README.md).
Usage: test_collect_resume.py DEJAVU_BIN WORKDIR [--kills N] [--seed S]
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import time

from missing_dependency import missing_dependency

try:
    import h5py
    import numpy as np
except ImportError as e:
    missing_dependency(str(e))

from run_test_util import store_datasets  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(os.environ.get("DEJAVU_DATA_DIR", os.path.join(ROOT, "..", "shared", "data")), "wikitext-2", "valid.txt")


def collect_args(dejavu, model, text, out):
    return [dejavu, "collect", "--model", model, "--text", text, "--out", out, "--seq-len", "48",
            "--sample-every", "3", "--max-tokens", "12000", "--store-fc1-values"]


def check_layout(path, n_layers, d, ffn, heads):
    with h5py.File(path, "r") as f:
        assert f.attrs["format_version"] == 1
        assert f.attrs["complete"] == 1
        n = int(f.attrs["rows_committed"])
        assert n > 0
        for name in ("token_id", "position", "window"):
            assert f["tokens"][name].shape == (n,) and f["tokens"][name].dtype == np.int32, name
        for l in range(n_layers):
            g = f[f"layer_{l:03d}"]
            assert g["attn_input"].dtype == np.float16 and g["attn_input"].shape == (n, d)
            assert g["mlp_input"].dtype == np.float16 and g["mlp_input"].shape == (n, d)
            assert g["fc1_active"].dtype == np.uint8 and g["fc1_active"].shape == (n, (ffn + 7) // 8)
            assert g["head_norm"].dtype == np.float32 and g["head_norm"].shape == (n, heads)
            vals = g["fc1_value"][:200].astype(np.float32)
            bits = np.unpackbits(g["fc1_active"][:200], axis=1, bitorder="little")[:, :ffn]
            assert np.array_equal(bits.astype(bool), vals > 0), "fc1_active bits disagree with fc1_value > 0"
        pos = f["tokens"]["position"][:]
        assert (pos % 3 == 0).all(), "sample_every=3 keeps positions 0, 3, 6, ..."
        return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dejavu")
    ap.add_argument("workdir")
    ap.add_argument("--kills", type=int, default=4)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    a = ap.parse_args()
    if not os.path.exists(CORPUS):
        missing_dependency(f"{CORPUS} missing")
    os.makedirs(a.workdir, exist_ok=True)
    model = os.path.join(a.workdir, "model")
    if not os.path.exists(os.path.join(model, "config.json")):
        subprocess.run([sys.executable, os.path.join(HERE, "make_tiny_opt.py"), model, "pre"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    clean, killed = os.path.join(a.workdir, "clean.h5"), os.path.join(a.workdir, "killed.h5")
    for p in (clean, killed, killed + ".partial"):
        if os.path.exists(p):
            os.remove(p)
    t0 = time.time()
    subprocess.run(collect_args(a.dejavu, model, CORPUS, clean), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    clean_seconds = time.time() - t0
    rng = random.Random(a.seed)
    kills_landed = 0
    for i in range(a.kills):
        p = subprocess.Popen(collect_args(a.dejavu, model, CORPUS, killed), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.1, 0.6) * clean_seconds)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills_landed += 1
        p.wait()
    r = subprocess.run(collect_args(a.dejavu, model, CORPUS, killed), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    n = check_layout(clean, 3, 64, 256, 4)
    got, got_attrs = store_datasets(killed)
    want, want_attrs = store_datasets(clean)
    assert sorted(got) == sorted(want), (sorted(got), sorted(want))
    for name in want:
        assert np.array_equal(got[name], want[name]), f"dataset {name} differs after kill/resume"
    for k in want_attrs:
        assert np.array_equal(np.asarray(got_attrs[k]), np.asarray(want_attrs[k])), f"attribute {k} differs"
    print(f"ok: {n} rows; {kills_landed}/{a.kills} SIGKILLs landed (seed {a.seed}, clean run {clean_seconds:.1f} s); "
          f"resumed store equals the clean one in {len(want)} datasets")


if __name__ == "__main__":
    main()
