#!/usr/bin/env python3
"""test_recorded_commit.py: the commit a run records is the binary's (baked in at build time,
kernels/common/build_info.h), whatever the working directory:
- `dejavu --version` names the checkout's HEAD (with "-dirty" when the tree had uncommitted changes at build time),
- a `dejavu run` (collect on opt-mini, a few windows) started outside the checkout, and one started inside an
  unrelated git repository, write that commit into stage_run.json, and `dejavu report` into report.md, not the
  unrelated repository's commit nor "unknown",
- DEJAVU_COMMIT (meant for binaries built without .git, the GPU machine) does not override a known commit.
Usage: test_recorded_commit.py DEJAVU_BIN WORKDIR
"""
import json
import os
import re
import shutil
import subprocess
import sys

from missing_dependency import missing_dependency

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODEL = os.path.join(ROOT, "data", "models", "opt-mini")

YAML = """name: commit
model: {model}
output_dir: {out}
device: cpu
stages: [collect]
collect:
  text: {text}
  max_tokens: 128
  seq_len: 32
  sample_every: 4
"""


def git(cwd, *args):
    return subprocess.run(["git", "-C", cwd, *args], capture_output=True, text=True, check=True).stdout.strip()


def clean_env():
    """The environment without the variables that used to steer the recorded commit."""
    return {k: v for k, v in os.environ.items() if k not in ("DEJAVU_COMMIT", "DEJAVU_SOURCE_DIR", "GIT_DIR")}


def run(args, cwd, env):
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{' '.join(args)} in {cwd}: exit {r.returncode}\n{r.stderr[-2000:]}"
    return r


def run_collect(dejavu, cwd, out, env):
    text = os.path.join(cwd, "text.txt")
    with open(text, "w") as f:
        f.write("The commit a run records is the commit of the binary that ran it. " * 20)
    yaml_path = os.path.join(cwd, "commit.yaml")
    with open(yaml_path, "w") as f:
        f.write(YAML.format(model=MODEL, out=out, text=text))
    run([dejavu, "run", yaml_path], cwd, env)
    with open(os.path.join(out, "collect", "stage_run.json")) as f:
        recorded = json.load(f)["commit"]
    run([dejavu, "report", out], cwd, env)
    with open(os.path.join(out, "report.md")) as f:
        report = f.read()
    return recorded, report


def main():
    dejavu, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if shutil.which("git") is None or subprocess.run(["git", "-C", ROOT, "rev-parse"], capture_output=True).returncode:
        missing_dependency(f"git, or a git checkout at {ROOT}")
    head = git(ROOT, "describe", "--always", "--tags")
    shutil.rmtree(work, ignore_errors=True)
    outside, other_repo = os.path.join(work, "outside"), os.path.join(work, "other_repo")
    os.makedirs(outside)
    os.makedirs(other_repo)
    env = clean_env()

    version = run([dejavu, "--version"], outside, env).stdout.strip()
    m = re.search(r"built from commit (\S+)$", version)
    assert m, f"dejavu --version names no commit: {version!r}"
    baked = m.group(1)
    assert baked in (head, head + "-dirty"), f"the binary says {baked!r}, the checkout is at {head!r}"

    recorded, report = run_collect(dejavu, outside, os.path.join(outside, "run"), env)
    assert recorded == baked, f"run outside the checkout recorded {recorded!r}, the binary is {baked!r}"
    assert f"commit the stages ran at: {baked}" in report and f"report written at commit {baked}," in report, \
        report[:2000]

    git(other_repo, "init", "-q")
    with open(os.path.join(other_repo, "README"), "w") as f:
        f.write("an unrelated repository\n")
    git(other_repo, "add", "README")
    git(other_repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "unrelated")
    unrelated = git(other_repo, "describe", "--always", "--dirty", "--tags")
    recorded, report = run_collect(dejavu, other_repo, os.path.join(other_repo, "run"), env)
    assert recorded == baked, f"run inside an unrelated repository recorded {recorded!r}, the binary is {baked!r}"
    assert unrelated not in report, f"report.md names the unrelated repository's commit {unrelated}"

    env_override = dict(env, DEJAVU_COMMIT="not-this-commit")
    out = os.path.join(outside, "run_env")
    recorded, _ = run_collect(dejavu, outside, out, env_override)
    assert recorded == baked, f"DEJAVU_COMMIT overrode the binary's known commit: {recorded!r}"
    print(f"ok: the binary's commit {baked} is recorded outside the checkout, inside an unrelated repository "
          f"({unrelated}) and with DEJAVU_COMMIT set")


if __name__ == "__main__":
    main()
