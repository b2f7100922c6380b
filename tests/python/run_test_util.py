"""What the `dejavu run` end-to-end tests share: where the data is, the tiny checkpoint, the WikiText-2 files
(or the missing-dependency rule), and a store's datasets for comparing two runs.
"""
import os
import subprocess
import sys

from missing_dependency import missing_dependency

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.environ.get("DEJAVU_DATA_DIR", os.path.join(ROOT, "..", "shared", "data"))


def wikitext_or_skip():
    """(valid.txt, test.txt) of WikiText-2, or the missing-dependency exit (77, 1 under CI=true)."""
    valid, test = os.path.join(DATA, "wikitext-2", "valid.txt"), os.path.join(DATA, "wikitext-2", "test.txt")
    if not (os.path.exists(valid) and os.path.exists(test)):
        missing_dependency(f"{valid} or {test} missing")
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
