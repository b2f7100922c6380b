#!/usr/bin/env python3
"""test_missing_dependency_rule.py: the suite's rule for a missing dependency (tests/python/missing_dependency.py,
tests/common/missing_dependency.h), through real tests with their dependency hidden:
- Python: test_store_h5py.py with h5py hidden (a module on PYTHONPATH whose import fails),
- C++: tokenizer_tests' Gpt2Model.KnownIds with DEJAVU_DATA_DIR an empty folder (no GPT-2 BPE files).
Each must skip without CI (exit 77 / gtest's SKIPPED) and fail under CI=true (exit 1 / gtest's FAILED).
Usage: test_missing_dependency_rule.py STORE_WRITE_SAMPLE TOKENIZER_TESTS
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(args, ci, extra_env):
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(extra_env)
    if ci:
        env["CI"] = "true"
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    return r.returncode, r.stdout + r.stderr


def expect(cond, what, out):
    if not cond:
        print(f"FAIL: {what}\n--- output ---\n{out[-3000:]}")
        sys.exit(1)


def main():
    store_write_sample, tokenizer_tests = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="dv_missing_dep_") as tmp:
        hide = os.path.join(tmp, "hide")
        os.makedirs(hide)
        with open(os.path.join(hide, "h5py.py"), "w") as f:
            f.write('raise ImportError("No module named \'h5py\' (hidden by test_missing_dependency_rule.py)")\n')
        py = [sys.executable, os.path.join(HERE, "test_store_h5py.py"), store_write_sample]
        env = {"PYTHONPATH": hide}
        rc, out = run(py, False, env)
        expect(rc == 77 and "SKIP: " in out, f"test_store_h5py.py without h5py, CI unset: exit {rc}, not 77", out)
        rc, out = run(py, True, env)
        expect(rc == 1 and "FAIL: " in out and "CI=true" in out,
               f"test_store_h5py.py without h5py, CI=true: exit {rc}, not 1", out)

        empty = os.path.join(tmp, "no_data")
        os.makedirs(empty)
        cc = [tokenizer_tests, "--gtest_filter=Gpt2Model.KnownIds"]
        env = {"DEJAVU_DATA_DIR": empty}
        rc, out = run(cc, False, env)
        expect(rc == 0 and "[  SKIPPED ] 1 test" in out, f"Gpt2Model.KnownIds without data, CI unset: exit {rc}", out)
        rc, out = run(cc, True, env)
        expect(rc != 0 and "[  FAILED  ] 1 test" in out and "CI=true" in out,
               f"Gpt2Model.KnownIds without data, CI=true: exit {rc}, not a failure", out)
    print("ok: a hidden dependency skips (Python exit 77, gtest SKIPPED) and fails under CI=true (exit 1, FAILED)")


if __name__ == "__main__":
    main()
