"""collect_env.py: what the collect tests share: repository and corpus paths, skipping (exit 77, ctest's skip)
when h5py/numpy or the corpus are missing, and running a `dejavu` command with its output captured."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.environ.get("DEJAVU_DATA_DIR", os.path.join(ROOT, "..", "shared", "data"))
CORPUS = os.path.join(DATA, "wikitext-2", "valid.txt")
PY_HELPERS = os.path.join(ROOT, "tests", "python")  # make_tiny_opt.py, run_test_util.py
sys.path.insert(0, PY_HELPERS)


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def require_corpus():
    if not os.path.exists(CORPUS):
        skip(f"{CORPUS} missing")


def run(args, ok=True):
    r = subprocess.run(args, capture_output=True, text=True)
    if ok and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return r
