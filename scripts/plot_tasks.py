#!/usr/bin/env python3
"""plot_tasks.py: tasks.png (accuracy against density, one panel per task and target: dense line, oracle and
predicted points) from a `dejavu tasks` / eval.tasks result folder, and with --markdown a table of every point
(acc +- stderr per task; perplexity for last-word tasks) on stdout.

  python3 scripts/plot_tasks.py RUN/eval [--markdown]
"""
import argparse
import csv
import json
import os


def load(run_dir):
    with open(os.path.join(run_dir, "tasks.csv")) as f:
        return list(csv.DictReader(f))


def point_key(r):
    return (r["mode"], r["target"], float(r["mlp_density"]), float(r["head_density"]))


def markdown(rows):
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    points = list(dict.fromkeys(point_key(r) for r in rows))
    cell = {(point_key(r), r["task"], r["metric"]): r for r in rows}
    def has(t, metric):
        return any((p, t, metric) in cell for p in points)
    head = "| mode | target | mlp density | head density | " + " | ".join(
        f"{t} acc" + (f" | {t} acc_norm" if has(t, "acc_norm") else "") + (f" | {t} ppl" if has(t, "perplexity") else "")
        for t in tasks) + " |"
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for p in points:
        cols = [p[0], p[1], f"{p[2]:g}", f"{p[3]:g}"]
        for t in tasks:
            a = cell.get((p, t, "acc"))
            cols.append(f"{float(a['value']):.3f} ± {float(a['stderr']):.3f}" if a and a["stderr"] else
                        (f"{float(a['value']):.3f}" if a else ""))
            if has(t, "acc_norm"):
                n = cell.get((p, t, "acc_norm"))
                cols.append(f"{float(n['value']):.3f} ± {float(n['stderr']):.3f}" if n and n["stderr"] else "")
            if has(t, "perplexity"):
                ppl = cell.get((p, t, "perplexity"))
                cols.append(f"{float(ppl['value']):.2f}" if ppl else "")
        lines.append("| " + " | ".join(cols) + " |")
    return "\n".join(lines)


def plot(rows, run_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    targets = [t for t in ("mlp", "heads", "both") if any(r["target"] == t for r in rows)]
    if not targets:
        return
    fig, axes = plt.subplots(len(tasks), len(targets), figsize=(4 * len(targets), 3 * len(tasks)), squeeze=False)
    for i, task in enumerate(tasks):
        acc = [r for r in rows if r["task"] == task and r["metric"] == "acc"]
        dense = [float(r["value"]) for r in acc if r["mode"] == "dense"]
        for j, target in enumerate(targets):
            ax = axes[i][j]
            for mode, style in (("oracle", "o-"), ("predicted", "s--")):
                pts = sorted((float(r["head_density"] if target == "heads" else r["mlp_density"]), float(r["value"]))
                             for r in acc if r["mode"] == mode and r["target"] == target)
                if pts:
                    ax.plot([x for x, _ in pts], [y for _, y in pts], style, label=mode)
            if dense:
                ax.axhline(dense[0], color="gray", lw=1, label="dense")
            ax.set_xscale("log")
            ax.set_xlabel("head density" if target == "heads" else "MLP density (fc1 neurons kept)")
            ax.set_ylabel("acc")
            ax.set_title(f"{task}: {target}", fontsize=9)
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(run_dir, "tasks.png"), dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--markdown", action="store_true", help="print the table of every point")
    a = ap.parse_args()
    rows = load(a.run_dir)
    if a.markdown:
        print(markdown(rows))
        ctx = json.load(open(os.path.join(a.run_dir, "tasks.json")))["context"]
        print("\n" + ", ".join(f"{t['task']} ({t['docs']} docs, {t['format']})" for t in ctx["tasks"]))
    else:
        plot(rows, a.run_dir)


if __name__ == "__main__":
    main()
