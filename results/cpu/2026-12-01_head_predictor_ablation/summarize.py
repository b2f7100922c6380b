#!/usr/bin/env python3
"""One row per ablation run: the head predictor's recall and mass recall at 25/50/75% of heads kept (means over
the 12 layers, from `dejavu measure` on the held-out store), recall of the default 4-head oracle set for every run
(crosscheck.csv), the att predictors' epochs, and the predicted-heads perplexity where `dejavu eval` ran.
Usage: summarize.py RUNS_DIR CROSSCHECK.csv OUT.csv   (prints a markdown table)
"""
import csv
import json
import os
import re
import sys


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main():
    runs_dir, cross_path, out_path = sys.argv[1:4]
    cross = rows(cross_path)
    names = sorted({r["run"] for r in cross}, key=lambda n: (not n.startswith("default"), n))
    out = []
    for name in names:
        run = os.path.join(runs_dir, name)
        sweep = [r for r in rows(os.path.join(run, "measure", "predictor_sweep.csv"))
                 if r["kind"] == "att" and r["selector"] == "topk"]
        row = {"run": name}
        meta = json.load(open(os.path.join(run, "pred", "metrics.json")))
        att = [layer["att"] for layer in meta["layers"]]
        row["att_top_fraction"] = meta["options"]["att_top_fraction"]
        row["att_epochs_run_mean"] = f"{sum(a['epochs_run'] for a in att) / len(att):.1f}"
        row["att_best_epoch_mean"] = f"{sum(a['best_epoch'] for a in att) / len(att):.1f}"
        row["train_s"] = f"{meta['seconds']:.1f}"
        for frac in ("0.25", "0.5", "0.75"):
            sel = [r for r in sweep if r["param"] == frac]
            assert len(sel) == 12, (name, frac, len(sel))
            row[f"recall_own_label@{frac}"] = f"{sum(float(r['recall']) for r in sel) / 12:.4f}"
            row[f"mass_recall@{frac}"] = f"{sum(float(r['mass_recall']) for r in sel) / 12:.4f}"
            row[f"oracle_mass_recall@{frac}"] = f"{sum(float(r['oracle_mass_recall']) for r in sel) / 12:.4f}"
            cc = [r for r in cross if r["run"] == name and abs(float(r["kept_fraction"]) - float(frac)) < 1e-9]
            assert len(cc) == 12, (name, frac, len(cc))
            row[f"recall_top4@{frac}"] = f"{sum(float(r['recall_top4']) for r in cc) / 12:.4f}"
        ev = os.path.join(run, "eval", "eval.csv")
        for r in rows(ev) if os.path.exists(ev) else []:
            if r["mode"] == "predicted":
                row[f"ppl_predicted@{float(r['head_density']):g}"] = f"{float(r['perplexity']):.1f}"
        out.append(row)
    keys = []
    for r in out:
        keys += [k for k in r if k not in keys]
    with open(out_path + ".tmp", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, restval="")
        w.writeheader()
        w.writerows(out)
    os.replace(out_path + ".tmp", out_path)
    print("| run | recall (4-head oracle) 25/50/75% | mass recall 25/50/75% | ppl predicted 0.75/0.5/0.25 | att epochs run / best |")
    print("| --- | --- | --- | --- | --- |")
    for r in out:
        rec = " / ".join(r[f"recall_top4@{f}"] for f in ("0.25", "0.5", "0.75"))
        mass = " / ".join(r[f"mass_recall@{f}"] for f in ("0.25", "0.5", "0.75"))
        ppl = " / ".join(r.get(f"ppl_predicted@{f}", "") for f in ("0.75", "0.5", "0.25")) if "ppl_predicted@0.5" in r else ""
        print(f"| {r['run']} | {rec} | {mass} | {ppl} | {r['att_epochs_run_mean']} / {r['att_best_epoch_mean']} |")
    # Seed groups (NAME, NAME_s1, NAME_s2, ...; default_s0 is seed 0 of "default"): mean and range over seeds.
    groups = {}
    for r in out:
        base = re.sub(r"_s\d+$", "", r["run"])
        groups.setdefault(base, []).append(r)
    cols = [f"recall_top4@{f}" for f in ("0.25", "0.5", "0.75")] + [f"mass_recall@{f}" for f in ("0.25", "0.5", "0.75")]
    cols += [f"ppl_predicted@{f}" for f in ("0.75", "0.5", "0.25")]
    print("\n| setting (seeds) | " + " | ".join(cols) + " |")
    print("| --- " * (len(cols) + 1) + "|")
    for base, rs in groups.items():
        if len(rs) < 2:
            continue
        cells = []
        for c in cols:
            v = [float(r[c]) for r in rs if r.get(c)]
            fmt = "{:.1f}" if c.startswith("ppl") else "{:.4f}"
            cells.append(f"{fmt.format(sum(v) / len(v))} ({fmt.format(min(v))}-{fmt.format(max(v))}, n={len(v)})" if v else "")
        print(f"| {base} ({len(rs)}) | " + " | ".join(cells) + " |")
    o = out[0]
    print("oracle mass recall 25/50/75%:", " / ".join(o[f"oracle_mass_recall@{f}"] for f in ("0.25", "0.5", "0.75")))


if __name__ == "__main__":
    main()
