#!/usr/bin/env python3
"""`dejavu collect --shard I/N` x 3 merged with `--merge-shards` reads as one store that equals a one-process
collection in every dataset (h5py) and in what `dejavu measure` computes from it; a missing shard is one clear
error (HDF5 alone would read zeros); `--fields` stores only the named fields and train names a missing one;
`--compression none` shards mix with gzip ones; `train --layers` in two processes joined by
`train --merge-predictors` equals one process's predictors, and measure uses them.
Usage: test_collect_shards.py DEJAVU_BIN WORKDIR
"""
import csv
import os
import shutil
import sys

from collect_env import CORPUS, ROOT, require_corpus, run
from missing_dependency import missing_dependency
from run_test_util import store_datasets

try:
    import h5py
    import numpy as np
except ImportError as e:
    missing_dependency(str(e))

MODEL = os.path.join(ROOT, "data", "models", "opt-mini")


def collect(dejavu, out, *extra):
    return run([dejavu, "collect", "--model", MODEL, "--text", CORPUS, "--out", out, "--seq-len", "100",
                "--sample-every", "3", "--max-tokens", "1234", "--batch-windows", "2", *extra])


def datasets(path):
    return store_datasets(path, ("rows_committed", "model_config", "sample_settings", "complete", "fields"))


def main():
    dejavu, work = sys.argv[1], sys.argv[2]
    require_corpus()
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "shards"))
    one = os.path.join(work, "one.h5")
    collect(dejavu, one)
    shards = [os.path.join(work, "shards", f"acts.{i}-of-3.h5") for i in range(3)]
    for i, s in enumerate(shards):
        collect(dejavu, s, "--shard", f"{i}/3", *(["--compression", "none"] if i == 1 else []))
    merged = os.path.join(work, "merged.h5")
    run([dejavu, "collect", "--out", merged, "--merge-shards", shards[2], shards[0], shards[1]])

    want, want_attrs = datasets(one)
    got, got_attrs = datasets(merged)
    assert sorted(got) == sorted(want), (sorted(got), sorted(want))
    for name in want:
        assert got[name].dtype == want[name].dtype and got[name].shape == want[name].shape, name
        assert np.array_equal(got[name].view(np.uint8), want[name].view(np.uint8)), f"dataset {name} differs"
    for k in want_attrs:
        assert np.array_equal(np.asarray(got_attrs[k]), np.asarray(want_attrs[k])), f"attribute {k} differs"
    with h5py.File(merged, "r") as f:
        assert f["layer_000/attn_input"].is_virtual, "the merged store should be virtual datasets, not a copy"
    windows = [set(np.unique(datasets(s)[0]["tokens/window"])) for s in shards]
    assert all(w for w in windows) and not (windows[0] & windows[1]) and not (windows[1] & windows[2]), windows

    # The C++ reader sees the same store: measure's statistics agree.
    for name, acts in (("one", one), ("merged", merged)):
        run([dejavu, "measure", "--acts", acts, "--out", os.path.join(work, "m_" + name)])
    rows = [list(csv.reader(open(os.path.join(work, f"m_{n}", "measure_layers.csv")))) for n in ("one", "merged")]
    assert rows[0] == rows[1], "measure differs between the one-process store and the merged one"

    # A merged store without one of its shards is an error, not zeros.
    os.rename(shards[1], shards[1] + ".away")
    r = run([dejavu, "measure", "--acts", merged, "--out", os.path.join(work, "m_missing")], ok=False)
    assert r.returncode == 2 and "missing" in r.stderr and "acts.1-of-3.h5" in r.stderr, r.stderr
    os.rename(shards[1] + ".away", shards[1])
    r = run([dejavu, "collect", "--out", os.path.join(work, "bad.h5"), "--merge-shards", shards[0], shards[2]], ok=False)
    assert r.returncode == 2 and "shard 1/3 is missing" in r.stderr, r.stderr

    # Only the fields asked for; train names what it lacks.
    lean = os.path.join(work, "lean.h5")
    collect(dejavu, lean, "--fields", "attn_input,fc1_active,head_norm", "--compression", "none")
    with h5py.File(lean, "r") as f:
        assert sorted(f["layer_003"].keys()) == ["attn_input", "fc1_active", "head_norm"], list(f["layer_003"].keys())
        assert f.attrs["fields"] == "attn_input,fc1_active,head_norm"
        assert f["layer_003/attn_input"].compression is None
        assert np.array_equal(f["layer_003/attn_input"][()], want["layer_003/attn_input"])
    r = run([dejavu, "train", "--acts", lean, "--out", os.path.join(work, "pred"), "--no-progress"], ok=False)
    assert r.returncode == 2 and "mlp_input" in r.stderr and "--fields" in r.stderr, r.stderr
    # train split by layers over two processes, merged, equals one process (one thread each: same sums).
    common = ["--epochs", "1", "--max-rows", "300", "--threads", "1", "--no-progress"]
    parts = [os.path.join(work, p) for p in ("pred_a", "pred_b", "pred_all", "pred_merged")]
    run([dejavu, "train", "--acts", merged, "--out", parts[0], "--layers", "0,1", *common])
    run([dejavu, "train", "--acts", merged, "--out", parts[1], "--layers", "2", *common])
    run([dejavu, "train", "--acts", one, "--out", parts[2], "--layers", "0,1,2", *common])
    run([dejavu, "train", "--out", parts[3], "--merge-predictors", parts[1], parts[0]])
    from safetensors.numpy import load_file
    a, b = (load_file(os.path.join(p, "predictors.safetensors")) for p in (parts[2], parts[3]))
    assert sorted(a) == sorted(b), (sorted(a), sorted(b))
    assert all(np.array_equal(a[k], b[k]) for k in a), "merged per-layer predictors differ from one process's"
    r = run([dejavu, "train", "--out", os.path.join(work, "pred_bad"), "--merge-predictors", parts[0], parts[2]], ok=False)
    assert r.returncode == 2 and "layer 0 is also in" in r.stderr, r.stderr
    run([dejavu, "measure", "--acts", merged, "--predictors", parts[3], "--out", os.path.join(work, "m_pred")])
    print(f"ok: 3 shards ({', '.join(str(len(w)) for w in windows)} windows) merged = one-process store in "
          f"{len(want)} datasets; measure agrees; missing shard and missing field are clear errors")


if __name__ == "__main__":
    main()
