"""What the `dejavu run` end-to-end tests share: where the data is, the tiny checkpoint, the WikiText-2 files
(or SKIP), and a store's datasets for comparing two runs.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.environ.get("DEJAVU_DATA_DIR", os.path.join(ROOT, "..", "shared", "data"))


def wikitext_or_skip():
    """(valid.txt, test.txt) of WikiText-2, or exit 77 (ctest's skip) when they are missing."""
    valid, test = os.path.join(DATA, "wikitext-2", "valid.txt"), os.path.join(DATA, "wikitext-2", "test.txt")
    if not (os.path.exists(valid) and os.path.exists(test)):
        print(f"SKIP: {valid} or {test} missing")
        sys.exit(77)
    return valid, test


def tiny_model(workdir):
    """The tiny pre-LN random OPT of make_tiny_opt.py under workdir/model, made once."""
    model = os.path.join(workdir, "model")
    if not os.path.exists(os.path.join(model, "config.json")):
        subprocess.run([sys.executable, os.path.join(HERE, "make_tiny_opt.py"), model, "pre"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return model


def store_datasets(path, attrs=("rows_committed", "model_config", "corpus", "sample_settings", "complete")):
    """({dataset: array}, {attribute: value} for the given root attributes) of an activation store."""
    import h5py
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        attrs = {k: f.attrs[k] for k in attrs}
    return out, attrs
