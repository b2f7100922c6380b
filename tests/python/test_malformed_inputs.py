#!/usr/bin/env python3
"""Malformed inputs through the real `dejavu` command: every case must exit with status 2 (not a signal,
not 1), within 60 s, with one stderr line that starts with "dejavu:" and names the offending file (or,
for a bad option, the offending value).

A tiny valid OPT checkpoint is made with tests/python/make_tiny_opt.py (pre-LN single file, and an fp16
sharded one for the index cases); each case corrupts a copy of it (truncated shard, header length past the
end, overlapping offsets, unknown dtype, missing tensor, bad config.json, broken index, bad tokenizer files,
bad text files, bad options...). Cases for subcommands this build lacks are reported as skipped.
Usage: test_malformed_inputs.py DEJAVU_BIN [--workdir DIR] [--keep] [-k SUBSTRING]
Exit status: 0 all cases pass, 1 a case failed, 77 transformers (needed for the checkpoint) is missing
(1 under CI=true: tests/python/missing_dependency.py).
"""
import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

from malformed_cases import CASES, ppl, write
from missing_dependency import missing_dependency

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT_S = 60
GOOD_TEXT = ("The tower is 324 metres tall, about the same height as an 81-storey building. "
             "Its base is square, measuring 125 metres on each side.\n\n"
             "During its construction, the Eiffel Tower surpassed the Washington Monument.\n") * 4
# stderr lines a command may print before failing that are not error reports (progress bars, timings).
PROGRESS = re.compile(r"\d+/\d+|\d+(\.\d+)?%|/s\b|\bETA\b|^\s*$")


# ---- running ----------------------------------------------------------------------------------------------

def check(name, proc, names):
    """None when the case behaved; otherwise what went wrong."""
    if proc.returncode < 0:
        return f"killed by signal {-proc.returncode}"
    lines = [l for l in proc.stderr.replace("\r", "\n").splitlines() if l.strip()]
    if proc.returncode != 2:
        return f"exit code {proc.returncode}, expected 2; stderr tail: {lines[-3:]}"
    if not lines:
        return "nothing on stderr"
    last = lines[-1]
    if not last.startswith("dejavu:"):
        return f"last stderr line does not start with 'dejavu:': {last!r}"
    extra = [l for l in lines[:-1] if not PROGRESS.search(l)]
    if extra:
        return f"{len(extra) + 1} lines on stderr, expected one: {lines[:4]}"
    if names not in last:
        return f"message does not name {names!r}: {last!r}"
    return None


def run_case(case, dejavu, workdir, env):
    name, sub, make = case
    d = os.path.join(workdir, "cases", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    try:
        argv, names = make(d, env)
    except Exception as e:  # a valid artifact could not be made, or h5py is missing
        return name, f"could not set the case up: {e}", [dejavu, sub], ""
    cmd = [dejavu, sub] + argv
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=TIMEOUT_S,
                              cwd=d, env=dict(os.environ, OMP_NUM_THREADS="1"))
    except subprocess.TimeoutExpired:
        return name, f"no exit within {TIMEOUT_S} s (hang)", cmd, ""
    problem = check(name, proc, names)
    last = [l for l in proc.stderr.splitlines() if l.strip()][-1:] or [""]
    return name, problem, cmd, last[0]


def subcommands(dejavu):
    out = subprocess.run([dejavu, "--help"], capture_output=True, text=True, timeout=TIMEOUT_S).stdout
    return set(re.findall(r"^\s{2}([a-z][a-z0-9-]*)\s", out, re.M))


class Artifacts:
    """The valid activation store and predictors some cases damage, made by dejavu itself on first use."""

    def __init__(self, dejavu, workdir, env):
        self.dejavu, self.workdir, self.env = dejavu, workdir, env
        self.lock = threading.RLock()  # making the predictors makes the store first
        self.made = {}

    def __call__(self, kind):
        with self.lock:
            if kind not in self.made:
                self.made[kind] = self.make(kind)
            return self.made[kind]

    def make(self, kind):
        if kind == "store":
            out = os.path.join(self.workdir, "valid_acts.h5")
            argv = ["collect", "--model", self.env["pre"], "--text", self.env["text"], "--out", out,
                    "--max-tokens", "96", "--seq-len", "32", "--device", "cpu", "--force"]
        else:
            out = os.path.join(self.workdir, "valid_predictors")
            argv = ["train", "--acts", self("store"), "--out", out, "--device", "cpu", "--epochs", "1",
                    "--no-progress"]
        proc = subprocess.run([self.dejavu] + argv, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"making the valid {kind} failed: {' '.join(argv)}: {proc.stderr.strip()[-300:]}")
        return out


def make_env(workdir):
    env = {"pre": os.path.join(workdir, "valid_pre"), "sharded": os.path.join(workdir, "valid_sharded"),
           "text": os.path.join(workdir, "good.txt")}
    for kind, path in (("pre", env["pre"]), ("fp16", env["sharded"])):
        if not os.path.isfile(os.path.join(path, "vocab.json")):
            shutil.rmtree(path, ignore_errors=True)
            subprocess.run([sys.executable, os.path.join(HERE, "make_tiny_opt.py"), path, kind], check=True,
                           stdout=subprocess.DEVNULL)
    write(env["text"], GOOD_TEXT)
    return env


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dejavu")
    ap.add_argument("--workdir", help="scratch directory (default: a temporary one, removed afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary workdir")
    ap.add_argument("-k", dest="only", help="run only cases whose name contains this")
    ap.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    a = ap.parse_args()
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as e:
        missing_dependency(f"{e} (make_tiny_opt.py needs torch and transformers)")
    dejavu = os.path.abspath(a.dejavu)
    if not os.access(dejavu, os.X_OK):
        print(f"FAIL: {dejavu} is not an executable (build the dejavu target first)")
        return 1
    workdir = a.workdir or tempfile.mkdtemp(prefix="dv_malformed_")
    os.makedirs(workdir, exist_ok=True)
    try:
        env = make_env(workdir)
        # The harness itself: the untouched checkpoints must work, or every case below proves nothing.
        for key in ("pre", "sharded"):
            proc = subprocess.run([dejavu, "perplexity"] + ppl(env[key], env["text"]), capture_output=True,
                                  text=True, timeout=TIMEOUT_S)
            if proc.returncode != 0:
                print(f"FAIL: the valid {key} checkpoint does not load: {proc.stderr.strip()[-500:]}")
                return 1
        env["artifact"] = Artifacts(dejavu, workdir, env)
        available = subcommands(dejavu)
        cases = [c for c in CASES if not a.only or a.only in c[0]]
        runnable = [c for c in cases if c[1] in available]
        skipped = [c for c in cases if c[1] not in available]
        failed = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
            for name, problem, cmd, last in pool.map(lambda c: run_case(c, dejavu, workdir, env), runnable):
                if problem:
                    failed.append(name)
                    print(f"FAIL {name}: {problem}\n     command: {' '.join(cmd)}")
                else:
                    print(f"ok   {name}: {last}")
        for name, sub, _ in skipped:
            print(f"skip {name}: this dejavu has no '{sub}' subcommand")
        print(f"{len(runnable) - len(failed)} passed, {len(failed)} failed, {len(skipped)} skipped "
              f"(of {len(cases)} malformed-input cases)")
        return 1 if failed else 0
    finally:
        if not a.workdir and not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
