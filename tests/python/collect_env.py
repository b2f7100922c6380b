"""collect_env.py: what the collect tests share: repository and corpus paths, the missing-corpus rule
(tests/python/missing_dependency.py: skip, or fail under CI=true), and running a `dejavu` command with its
output captured."""
import os
import subprocess

from missing_dependency import missing_dependency

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.environ.get("DEJAVU_DATA_DIR", os.path.join(ROOT, "..", "shared", "data"))
CORPUS = os.path.join(DATA, "wikitext-2", "valid.txt")


def require_corpus():
    if not os.path.exists(CORPUS):
        missing_dependency(f"{CORPUS} missing")


def run(args, ok=True):
    r = subprocess.run(args, capture_output=True, text=True)
    if ok and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return r
