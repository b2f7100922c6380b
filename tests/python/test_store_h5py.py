#!/usr/bin/env python3
"""test_store_h5py.py: the activation store, opened with h5py, has the layout that
pipeline/store/README.md documents: names, dtypes (float16 as numpy float16), shapes,
attributes, and fc1 masks that numpy.unpackbits(..., bitorder='little') recovers.

Usage: test_store_h5py.py STORE_WRITE_SAMPLE_EXE   (run by ctest as store_h5py_layout)
Exit 0 on success, 1 on a failed check, 77 (ctest's skip) when h5py/numpy are missing
(1 under CI=true: tests/python/missing_dependency.py).
"""
import json
import os
import subprocess
import sys
import tempfile

from missing_dependency import missing_dependency

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover - depends on the machine
    missing_dependency(str(e))


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def main():
    exe = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="dv_h5py_") as tmp:
        subprocess.run([exe, tmp], check=True)
        exp = os.path.join(tmp, "expected")
        with open(os.path.join(exp, "manifest.json")) as f:
            m = json.load(f)
        n, L, d, ffn, H = m["rows"], m["n_layers"], m["hidden_size"], m["ffn_dim"], m["num_heads"]

        def raw(name, dtype, shape):
            return np.fromfile(os.path.join(exp, name), dtype=dtype).reshape(shape)

        with h5py.File(os.path.join(tmp, "sample.h5"), "r") as f:
            a = f.attrs
            # Root attributes: types as a Python user gets them.
            check(int(a["format_version"]) == 1, "format_version")
            check(int(a["rows_committed"]) == n, "rows_committed")
            check(int(a["complete"]) == 1, "complete")
            check(a["dtype"] == "float16", f"dtype attr {a['dtype']!r}")
            for key in ["model_config", "model_dir", "corpus", "corpus_identity", "sample_settings", "created_by"]:
                check(isinstance(a[key], str), f"{key} should read as str, got {type(a[key])}")
                check(a[key] == m[key], f"{key}: {a[key]!r} != {m[key]!r}")
            check(json.loads(a["model_config"])["hidden_size"] == d, "model_config is JSON")
            check(json.loads(a["sample_settings"])["seq_len"] == 61, "sample_settings is JSON")
            for key in ["n_layers", "hidden_size", "ffn_dim", "num_heads", "head_dim"]:
                check(int(a[key]) == m[key], f"attr {key}")
            check(int(a["has_fc1_value"]) == 1, "has_fc1_value")

            # Groups: /tokens and exactly L layer groups.
            check(sorted(f.keys()) == ["layer_%03d" % i for i in range(L)] + ["tokens"], f"groups {list(f.keys())}")
            for name in ["token_id", "position", "window"]:
                ds = f["tokens"][name]
                check(ds.dtype == np.int32 and ds.shape == (n,), f"tokens/{name}: {ds.dtype} {ds.shape}")
                check(ds.maxshape == (None,), f"tokens/{name} should be unlimited")
                check(np.array_equal(ds[:], raw(f"{name}.bin", np.int32, (n,))), f"tokens/{name} values")

            for layer in range(L):
                g = f["layer_%03d" % layer]
                p = "layer_%03d_" % layer
                check(sorted(g.keys()) == ["attn_input", "fc1_active", "fc1_value", "head_norm", "mlp_input"],
                      f"{g.name}: {list(g.keys())}")
                for name in ["attn_input", "mlp_input"]:
                    ds = g[name]
                    check(ds.dtype == np.float16, f"{ds.name} dtype {ds.dtype} is not float16")
                    check(ds.shape == (n, d) and ds.maxshape == (None, d), f"{ds.name} shape {ds.shape}")
                    check(ds.chunks == (m["chunk_rows"], d), f"{ds.name} chunks {ds.chunks}")
                    check(ds.compression == "gzip", f"{ds.name} compression {ds.compression}")
                    want = raw(p + name + ".bin", np.uint16, (n, d)).view(np.float16)
                    check(np.array_equal(ds[:].view(np.uint16), want.view(np.uint16)), f"{ds.name} bits")
                    check(np.all(np.isfinite(ds[:])) and float(np.abs(ds[:]).max()) > 1.0, f"{ds.name} values")
                ds = g["fc1_active"]
                check(ds.dtype == np.uint8 and ds.shape == (n, (ffn + 7) // 8), f"fc1_active {ds.dtype} {ds.shape}")
                bits = np.unpackbits(ds[:], axis=1, bitorder="little")
                mask = raw(p + "fc1_mask.bin", np.uint8, (n, ffn))
                check(np.array_equal(bits[:, :ffn], mask), "unpackbits(bitorder='little') != written mask")
                check(not bits[:, ffn:].any(), "padding bits must be zero")
                ds = g["head_norm"]
                check(ds.dtype == np.float32 and ds.shape == (n, H), f"head_norm {ds.dtype} {ds.shape}")
                check(np.array_equal(ds[:], raw(p + "head_norm.bin", np.float32, (n, H))), "head_norm values")
                ds = g["fc1_value"]
                check(ds.dtype == np.float16 and ds.shape == (n, ffn), f"fc1_value {ds.dtype} {ds.shape}")
                values = ds[:]
                check(np.array_equal(values.view(np.uint16), raw(p + "fc1_value.bin", np.uint16, (n, ffn))),
                      "fc1_value bits")
                check(np.array_equal(values > 0, mask.astype(bool)), "fc1_active is fc1_value > 0")
                # Row-range reads, as a user streaming the file would do.
                check(np.array_equal(g["attn_input"][17:40].view(np.uint16),
                                     raw(p + "attn_input.bin", np.uint16, (n, d))[17:40]), "row slice")
    print(f"store layout OK with h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version})")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL: {e}")
        sys.exit(1)
