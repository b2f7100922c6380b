#!/usr/bin/env python3
"""What a new user hit with `dejavu run` (issue 21), through the command on the tiny checkpoint:
  3. bad inputs fail before the first stage, in --dry-run too: a truncated checkpoint, a malformed line of an
     eval.tasks file, a whitespace-only eval.text (exit 2, one line naming the file; no stage starts);
  4. warnings reach the summary and report: the random-weights check at collect (and measure) is printed again
     under the summary, kept in <stage>/warnings.json, listed under the report's Warnings; no "within 1% of
     dense" claim on random weights;
  5. no "nan" for what was not stored (store_fc1_values off): "not stored" in the summary, empty CSV cells;
  7. --only of a stage the experiment lacks is exit 2; a --force run stopped in eval resumes with the printed
     command: eval runs again (its partial work is not left behind, the stage is not "unchanged");
  8. the report says when a stage's config.yaml differs from the run's experiment.yaml;
  9. --dry-run names the changed keys; eval reuses its unchanged points and measure its oracle statistics and
     unchanged predictor sweeps, with results equal to a --force run's.
Usage: test_run_new_user.py DEJAVU_BIN WORKDIR
"""
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))  # tests/python: shared helpers
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "report"))
from test_run_experiment import YAML, parse_args, plan, prepare  # noqa: E402
from test_run_report import read, rows  # noqa: E402


def run(dejavu, *args, rc=0):
    r = subprocess.run([dejavu, "run", *args], capture_output=True, text=True)
    assert r.returncode == rc, f"dejavu run {' '.join(args)}: rc {r.returncode}, want {rc}: {r.stderr[-2000:]}"
    return r


def one_error_line(r, *parts):
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, f"want one error line, got: {r.stderr}"
    for p in parts:
        assert p in lines[0], f"'{p}' not in: {lines[0]}"


def check_inputs_first(dejavu, workdir, model, valid, test):
    """Item 3: each bad input stops the run (and the dry run) before any stage."""
    bad_model = os.path.join(workdir, "truncated_model")
    shutil.rmtree(bad_model, ignore_errors=True)
    shutil.copytree(model, bad_model)
    weights = os.path.join(bad_model, "model.safetensors")
    os.truncate(weights, os.path.getsize(weights) // 2)
    tasks = os.path.join(workdir, "piqa_bad.jsonl")
    with open(tasks, "w") as f:
        f.write('{"goal": "To dry hair,", "sol1": "use a towel.", "sol2": "use a rock.", "label": 0}\n{"goal": \n')
    blank = os.path.join(workdir, "blank.txt")
    with open(blank, "w") as f:
        f.write("  \n\n\t \n")
    out = os.path.join(workdir, "bad_runs")
    cases = [(dict(model=bad_model), "", ["model", "model.safetensors", "truncated"]),
             (dict(), f"  tasks:\n    - {{name: piqa, format: piqa, file: {tasks}}}\n", ["eval.tasks", tasks + ":2"]),
             (dict(test=blank), "", ["eval.text", blank, "only whitespace"])]
    for i, (change, extra, parts) in enumerate(cases):
        shutil.rmtree(out, ignore_errors=True)
        y = os.path.join(workdir, f"bad{i}.yaml")
        fields = dict(model=model, out=out, valid=valid, test=test, density=0.5)
        fields.update(change)
        with open(y, "w") as f:
            f.write(YAML.format(**fields) + extra)
        for dry in (["--dry-run"], []):
            r = run(dejavu, y, *dry, rc=2)
            one_error_line(r, *parts)
            assert not os.path.exists(out), f"case {i}: {dry} made {out} before failing"


def check_warnings(r, out):
    """Items 4 and 5 on the first run of a random checkpoint without fc1 values."""
    for stage in ("collect", "measure"):
        assert re.search(rf"^warning: {stage}: .*about 50% active in every layer", r.stdout, re.M), \
            f"the {stage} warning is not under the summary: {r.stdout}"
        assert '"random_weights"' in read(os.path.join(out, stage, "warnings.json")), f"{stage}/warnings.json"
    assert "within 1% of dense" not in r.stdout and "no claim about the sparsest point" in r.stdout, r.stdout
    assert "nan" not in r.stdout and "not stored (collect.store_fc1_values is off)" in r.stdout, r.stdout
    assert "nan" not in read(os.path.join(out, "measure", "predictor_sweep.csv")), "nan cells in predictor_sweep.csv"
    md = read(os.path.join(out, "report.md"))
    assert "## Warnings" in md and re.search(r"^- collect: .*about 50% active", md, re.M), "warnings not in report.md"
    assert "## Warnings" in md and "about 50% active" in read(os.path.join(out, "report.html"))


def check_reuse(dejavu, y, write_yaml, out):
    """Item 9: changed keys named; unchanged eval points and measure parts reused, equal to a fresh run's."""
    before = {(x["mode"], x["mlp_density"]): x["perplexity"] for x in rows(os.path.join(out, "eval", "eval.csv"))}
    write_yaml(density="0.5, 0.25")
    assert "its config changed since its last run: eval.mlp_densities" in run(dejavu, y, "--dry-run").stdout
    r = run(dejavu, y)
    assert "eval: 3 of 5 points reused" in r.stderr, r.stderr[-2000:]
    after = {(x["mode"], x["mlp_density"]): x["perplexity"] for x in rows(os.path.join(out, "eval", "eval.csv"))}
    assert all(after[k] == v for k, v in before.items()), "a reused eval point changed"
    write_yaml(density="0.5, 0.25", thresholds="[0.1, 0.3, 0.5, 0.8]")
    assert "its config changed since its last run: measure.mlp_thresholds" in run(dejavu, y, "--dry-run").stdout
    r = run(dejavu, y, "--only", "measure")
    assert "measure: oracle statistics reused" in r.stderr, r.stderr[-2000:]
    reused = read(os.path.join(out, "measure", "predictor_sweep.csv"))
    run(dejavu, y, "--only", "measure", "--force")
    assert read(os.path.join(out, "measure", "predictor_sweep.csv")) == reused, "reused sweep differs from a fresh one"
    write_yaml(density="0.5, 0.25", thresholds="[0.1, 0.3, 0.5, 0.8]", head_fractions="[0.25, 0.5]")
    r = run(dejavu, y, "--only", "measure")
    assert "3 of 6 predictor sweeps (layer x kind) reused whole" in r.stderr, r.stderr[-2000:]


def check_config_mismatch(dejavu, y, write_yaml, out):
    """Item 8: a run that changed eval's settings but did not run eval: the report says eval's results are older."""
    write_yaml(density="0.1", thresholds="[0.1, 0.3, 0.5, 0.8]", head_fractions="[0.25, 0.5]")
    r = run(dejavu, y, "--only", "train")
    assert re.search(r"^warning: eval: eval/config.yaml differs from experiment.yaml \(eval.mlp_densities\)",
                     r.stdout, re.M), r.stdout
    assert "eval/config.yaml differs from experiment.yaml" in read(os.path.join(out, "report.md"))


def check_force_resume(dejavu, y, out):
    """Item 7: --only of an unlisted stage; a --force run stopped in eval, resumed by the printed command."""
    one_error_line(run(dejavu, y, "--only", "bench", rc=2), "--only bench", "does not list a bench stage")
    p = subprocess.Popen([dejavu, "run", y, "--force"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = []
    for line in p.stderr:
        err.append(line)
        if line.startswith("eval point 1/"):
            p.send_signal(signal.SIGINT)
    p.wait(timeout=600)
    assert p.returncode == 130, f"rc {p.returncode}: {''.join(err)[-2000:]}"
    assert os.path.exists(os.path.join(out, "force.pending")), "the forced run left no force.pending"
    printed = shlex.split(re.search(r"run `([^`]+)` again to resume", err[-1]).group(1))
    assert "--force" not in printed, printed
    r = subprocess.run([dejavu, *printed[1:]], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert re.search(r"^== eval -> .*\((an interrupted --force run had not redone it|unchanged, but an interrupted)",
                     r.stderr, re.M), f"eval did not run again on resume: {r.stderr[-2000:]}"
    assert not os.path.exists(os.path.join(out, "eval.partial")), "eval.partial left behind"
    assert not os.path.exists(os.path.join(out, "force.pending")), "force.pending left behind"
    assert "eval.partial" not in read(os.path.join(out, "report.md"))


def main():
    a = parse_args()
    valid, test, model, out = prepare(a.workdir)
    check_inputs_first(a.dejavu, a.workdir, model, valid, test)
    y = os.path.join(a.workdir, "tiny.yaml")

    def write_yaml(density="0.5", thresholds=None, head_fractions=None, eval_tokens=None):
        text = YAML.format(model=model, out=out, valid=valid, test=test, density=density)
        if thresholds:
            text = text.replace("measure:\n", f"measure:\n  mlp_thresholds: {thresholds}\n")
        if head_fractions:
            text = text.replace("head_keep_fractions: [0.25, 0.75]", f"head_keep_fractions: {head_fractions}")
        if eval_tokens:
            text = text.replace("  max_tokens: 256\n", f"  max_tokens: {eval_tokens}\n")
        with open(y, "w") as f:
            f.write(text)

    write_yaml()
    assert plan(run(a.dejavu, y, "--dry-run")) == {s: "run" for s in ("collect", "train", "measure", "eval")}
    check_warnings(run(a.dejavu, y), out)
    check_reuse(a.dejavu, y, write_yaml, out)
    check_config_mismatch(a.dejavu, y, write_yaml, out)
    write_yaml(density="0.5, 0.25, 0.1", eval_tokens=4096)  # eval points long enough for a signal to land in one
    check_force_resume(a.dejavu, y, out)
    print("ok: bad checkpoint / task file / text fail before any stage (dry run too); warnings in the summary, "
          "warnings.json and the report, no 1% claim on random weights, no nan; changed keys named, eval points and "
          "measure parts reused as a fresh run would make them; a stale stage config reported; --only of an "
          "unlisted stage refused; a stopped --force run resumed by the printed command")


if __name__ == "__main__":
    main()
