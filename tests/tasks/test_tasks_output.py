#!/usr/bin/env python3
"""`dejavu tasks` output explains itself, through the command on the tiny checkpoint (two sample tasks):
  - `tasks --help` names every file it writes, tasks.png included, and says what value_vs_dense is;
  - tasks.csv has a chance column (1 / choices for a multiple-choice task) and value_vs_dense = value - dense's,
    as tasks.json's context documents;
  - tasks.png is drawn (scripts/plot_tasks.py, its figure inspected before saving) on a linear density axis
    with a title, error bars, a panel for acc and one for acc_norm, and oracle drawn in another colour and
    marker than dense;
  - `dejavu report` on the tasks folder summarizes the tasks (dense acc +- stderr, chance, the sparse points)
    instead of saying no stage has results it knows.
Usage: test_tasks_output.py DEJAVU_BIN WORKDIR
"""
import csv
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))  # tests/python: shared helpers
from missing_dependency import missing_dependency  # noqa: E402
from run_test_util import tiny_model  # noqa: E402
from task_samples import HF  # noqa: E402

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError as e:
    missing_dependency(str(e))


def write_jsonl(path, records):
    with open(path, "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


def check_plot(out):
    """plot_tasks.plot's figure, caught at savefig."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import plot_tasks
    caught = []
    real = plt.Figure.savefig
    plt.Figure.savefig = lambda fig, *a, **k: (caught.append(fig), real(fig, *a, **k))
    try:
        plot_tasks.plot(plot_tasks.load(out), out)
    finally:
        plt.Figure.savefig = real
    assert caught, "plot_tasks drew nothing"
    fig = caught[0]
    assert fig._suptitle is not None and fig._suptitle.get_text(), "tasks.png has no title"
    axes = fig.axes
    assert all(ax.get_xscale() == "linear" for ax in axes), "tasks.png's density axis is not linear"
    ylabels = [ax.get_ylabel() for ax in axes]
    assert "acc" in ylabels and "acc_norm" in ylabels, f"tasks.png panels: {ylabels}"
    for ax in axes:
        assert ax.get_title(), "a panel without a title"
        assert ax.containers, f"{ax.get_title()}: no error bars"
        handles, labels = ax.get_legend_handles_labels()
        assert "dense" in labels and "oracle" in labels, labels
        style = {lab: h for h, lab in zip(handles, labels)}
        dense_line, oracle = style["dense"], style["oracle"]
        oracle_line = oracle.lines[0] if hasattr(oracle, "lines") else oracle
        assert dense_line.get_color() != oracle_line.get_color() and oracle_line.get_marker() not in ("", "None"), \
            "oracle is drawn like dense"
    return len(axes)


def main():
    dejavu, workdir = sys.argv[1], sys.argv[2]
    os.makedirs(workdir, exist_ok=True)
    model = tiny_model(workdir)
    help_text = subprocess.run([dejavu, "tasks", "--help"], capture_output=True, text=True).stdout
    for word in ("tasks.csv", "tasks.json", "tasks.png", "value_vs_dense"):
        assert word in help_text, f"`tasks --help` does not mention {word}"
    piqa, copa = os.path.join(workdir, "piqa.jsonl"), os.path.join(workdir, "copa.jsonl")
    write_jsonl(piqa, HF["piqa"] * 3)
    write_jsonl(copa, HF["copa"] * 3)
    out = os.path.join(workdir, "tasks")
    r = subprocess.run([dejavu, "tasks", "--model", model, "--task", f"piqa={piqa}", "--task", f"copa={copa}",
                        "--out", out, "--modes", "dense,oracle", "--targets", "mlp", "--mlp-densities", "0.5,0.25"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    with open(os.path.join(out, "tasks.csv")) as f:
        rows = list(csv.DictReader(f))
    assert "chance" in rows[0], f"tasks.csv columns: {list(rows[0])}"
    for row in rows:
        if row["metric"] in ("acc", "acc_norm"):
            assert abs(float(row["chance"]) - 0.5) < 1e-9, f"two choices: chance 0.5, not {row['chance']}"
        dense = next(x for x in rows if x["mode"] == "dense" and x["task"] == row["task"] and
                     x["metric"] == row["metric"])
        assert abs(float(row["value_vs_dense"]) - (float(row["value"]) - float(dense["value"]))) < 1e-5, row
    ctx = json.load(open(os.path.join(out, "tasks.json")))["context"]
    assert "difference" in ctx["value_vs_dense"] and all("chance_acc" in t for t in ctx["tasks"]), ctx
    assert os.path.exists(os.path.join(out, "tasks.png")), "no tasks.png"
    panels = check_plot(out)

    r = subprocess.run([dejavu, "report", out], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "No stage has results" not in r.stdout, r.stdout
    assert "task piqa (6 docs; chance acc 0.500): acc dense " in r.stdout, r.stdout
    assert "  MLP 25% kept, oracle: acc " in r.stdout, r.stdout
    md = open(os.path.join(out, "report.md")).read()
    assert "task copa (6 docs; chance acc 0.500)" in md and "  - MLP 50% kept, oracle" in md, "tasks not in report.md"
    print(f"ok: tasks --help names tasks.png; tasks.csv has chance and value_vs_dense = value - dense; tasks.png has "
          f"{panels} linear panels with error bars, acc and acc_norm, oracle unlike dense; `dejavu report` on the "
          "folder summarizes the tasks with chance")


if __name__ == "__main__":
    main()
