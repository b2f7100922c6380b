#!/usr/bin/env python3
"""plot_tasks.py: tasks.png (accuracy against the kept density on a linear axis, one panel per task, metric and
target: dense line and band, oracle and predicted points with stderr bars, chance level) from a `dejavu tasks` / eval.tasks result folder, and with --markdown a table of every point
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
    """One panel per task, metric (acc, acc_norm) and target, on a linear density axis: oracle and predicted with
    their stderr as error bars (offset a little apart so neither hides the other), dense as a dashed line with
    its +-stderr band, chance dotted; the title names the model and each panel its task's documents."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from plot_labels import model_name
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    targets = [t for t in ("mlp", "heads", "both") if any(r["target"] == t for r in rows)]
    if not targets:
        return
    panels = [(t, m) for t in tasks for m in ("acc", "acc_norm") if any(r["task"] == t and r["metric"] == m for r in rows)]
    fig, axes = plt.subplots(len(panels), len(targets), figsize=(max(8, 5 * len(targets)), 3.4 * len(panels) + 0.6),
                             squeeze=False)
    num = lambda v: float(v) if v not in ("", None) else 0.0  # noqa: E731
    for i, (task, metric) in enumerate(panels):
        mine = [r for r in rows if r["task"] == task and r["metric"] == metric]
        dense = [r for r in mine if r["mode"] == "dense"]
        chance = next((num(r.get("chance")) for r in mine if r.get("chance")), None)
        docs = mine[0]["docs"] if mine else "?"
        for j, target in enumerate(targets):
            ax = axes[i][j]
            for mode, style, color, dx in (("oracle", "o-", "tab:blue", -0.004), ("predicted", "s--", "tab:orange", 0.004)):
                pts = sorted((float(r["head_density"] if target == "heads" else r["mlp_density"]), float(r["value"]),
                              num(r["stderr"])) for r in mine if r["mode"] == mode and r["target"] == target)
                if pts:
                    ax.errorbar([x + dx for x, _, _ in pts], [y for _, y, _ in pts], yerr=[e for _, _, e in pts],
                                fmt=style, color=color, capsize=3, label=mode, zorder=3)
            if dense:
                d, e = float(dense[0]["value"]), num(dense[0]["stderr"])
                ax.axhline(d, color="black", ls=(0, (6, 3)), lw=1.2, label="dense", zorder=2)
                ax.axhspan(d - e, d + e, color="gray", alpha=0.15, zorder=1)
            if chance:
                ax.axhline(chance, color="tab:red", ls=":", lw=1, label=f"chance {chance:.2f}", zorder=1)
            ax.set_xlim(0, 1.02)  # the whole range of densities, linear: dense is 1
            ax.set_ylim(-0.04, 1.04)  # an accuracy of 0 or 1 stays off the frame
            ax.set_xlabel("fraction of heads kept" if target == "heads" else "fraction of fc1 neurons kept")
            ax.set_ylabel(metric)
            ax.set_title(f"{task} ({docs} docs): {metric}, sparse {target}", fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="lower right")
    ctx = {}
    path = os.path.join(run_dir, "tasks.json")
    if os.path.exists(path):
        ctx = json.load(open(path)).get("context", {})
    fig.suptitle(f"zero-shot tasks, {model_name(ctx.get('model'))}: dense vs oracle vs predicted\n"
                 "(error bars and band: standard error)", fontsize=11)
    fig.tight_layout()
    tmp = os.path.join(run_dir, "tasks.png.tmp.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, os.path.join(run_dir, "tasks.png"))


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
