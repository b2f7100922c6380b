#!/usr/bin/env python3
"""NaN/Inf activations are never stored: a checkpoint with one token's embedding planted at 1e6 (beyond
float16's range, so that token's residual stream overflows when stored) drops exactly that token's rows,
counts them per layer (stderr and the store's collect_stats attribute) and keeps every other row (the
planted row is constant, so its LayerNorm output, all other tokens see, stays finite); above
--max-nonfinite the run fails with exit 2 and leaves no complete store.
Usage: test_collect_nonfinite.py DEJAVU_BIN WORKDIR
"""
import json
import os
import shutil
import subprocess
import sys

from collect_env import CORPUS, HERE, require_corpus, run
from missing_dependency import missing_dependency

try:
    import h5py
    import numpy as np
    from safetensors.torch import load_file, save_file
except ImportError as e:
    missing_dependency(str(e))


def collect(dejavu, model, out, *extra):
    return run([dejavu, "collect", "--model", model, "--text", CORPUS, "--out", out, "--seq-len", "64",
                "--sample-every", "1", "--max-tokens", "3000", "--batch-windows", "3", *extra], ok=False)


def plant(src, dst, token):
    shutil.copytree(src, dst)
    path = os.path.join(dst, "model.safetensors")
    w = load_file(path)
    name = next(k for k in w if k.endswith("embed_tokens.weight"))
    w[name] = w[name].clone()
    w[name][token] = 1e6  # fp32 model: finite inside, +inf once stored as float16
    for k in list(w):
        if k != name and w[k].data_ptr() == w[name].data_ptr():
            del w[k]
    save_file(w, path, metadata={"format": "pt"})


def main():
    dejavu, work = sys.argv[1], sys.argv[2]
    require_corpus()
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    model = os.path.join(work, "model")
    subprocess.run([sys.executable, os.path.join(HERE, "make_tiny_opt.py"), model, "pre"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    clean = os.path.join(work, "clean.h5")
    r = collect(dejavu, model, clean)
    assert r.returncode == 0, r.stderr
    with h5py.File(clean, "r") as f:
        ids = f["tokens/token_id"][()]
        pos = f["tokens/position"][()]
        n_layers = int(f.attrs["n_layers"])
        assert "collect_stats" not in f.attrs or json.loads(f.attrs["collect_stats"])["nonfinite_rows_dropped"] == 0
    values, counts = np.unique(ids[pos > 0], return_counts=True)
    rare = int(values[counts == 1][0])         # 1 row of ~3000: under the default 0.1%
    common = int(values[np.argmax(counts)])    # the most frequent token: far over it

    rare_model = os.path.join(work, "rare")
    plant(model, rare_model, rare)
    out = os.path.join(work, "rare.h5")
    r = collect(dejavu, rare_model, out)
    assert r.returncode == 0, r.stderr
    assert "NaN/Inf" in r.stderr and "dropped" in r.stderr, r.stderr
    keep = ids != rare
    with h5py.File(out, "r") as f:
        stats = json.loads(f.attrs["collect_stats"])
        assert stats["nonfinite_rows_dropped"] == int((~keep).sum()), stats
        assert stats["nonfinite_rows_per_layer"][0] == int((~keep).sum()), stats
        assert len(stats["nonfinite_rows_per_layer"]) == n_layers
        assert np.array_equal(f["tokens/token_id"][()], ids[keep]), "the planted token's rows must be gone, no others"
        assert np.array_equal(f["tokens/position"][()], pos[keep])
        for l in range(n_layers):
            for name in ("attn_input", "mlp_input", "head_norm"):
                assert np.isfinite(f[f"layer_{l:03d}/{name}"][()]).all(), f"non-finite value stored in layer {l} {name}"

    common_model = os.path.join(work, "common")
    plant(model, common_model, common)
    out = os.path.join(work, "common.h5")
    r = collect(dejavu, common_model, out)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "--max-nonfinite" in r.stderr and "NaN/Inf" in r.stderr, r.stderr
    assert not os.path.exists(out), "a failed collection must not leave a complete store"
    r = collect(dejavu, common_model, out, "--max-nonfinite", "0.5")
    assert r.returncode == 0, r.stderr
    print(f"ok: token {rare} planted: {int((~keep).sum())} row dropped and counted; token {common} "
          f"({int(counts.max())} rows) fails under the default --max-nonfinite and passes with 0.5")


if __name__ == "__main__":
    main()
