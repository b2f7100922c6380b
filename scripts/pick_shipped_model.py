#!/usr/bin/env python3
"""pick_shipped_model.py: choose which of several trained opt-mini candidates ships (issue 11, item 4).

The shipped model exists to make attention-head sparsity studiable, so the rule favours heads that can be
left out: for each candidate, from `train_reference_opt.py eval`'s head_norm_top_k_share (per layer, the mean
over tokens of the share of the summed head-output norms held by the top-k heads), the fraction of heads a
layer needs to hold 90% of that norm, averaged over layers. The candidate needing the smallest fraction wins,
unless its WikiText-2 perplexity is more than 10% worse than the best candidate's (then it is out): a model
that is sparser only because it learned less is not wanted. Ties go to the lower perplexity.

  pick_shipped_model.py --out choice.json DIR [DIR ...]   (each DIR holds eval_gpu_fp16.json)
Prints the table and writes the choice (with every candidate's figures) to --out.
"""
import argparse
import json
import os
import sys

SHARES = (0.9, 0.95, 0.99)


def heads_needed(top_share, share):
    """Fraction of heads needed per layer for `share` of the norm (the first k whose top-k share reaches it)."""
    out = []
    for row in top_share:
        k = next((i + 1 for i, v in enumerate(row) if v >= share - 1e-9), len(row))
        out.append(k / len(row))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("dirs", nargs="+")
    args = ap.parse_args()
    cands = []
    for d in args.dirs:
        path = os.path.join(d, "eval_gpu_fp16.json")
        if not os.path.isfile(path):
            print(f"pick_shipped_model: {path}: missing (did training finish?)", file=sys.stderr)
            continue
        with open(path) as f:
            ev = json.load(f)
        per_share = {str(s): heads_needed(ev["head_norm_top_k_share"], s) for s in SHARES}
        cands.append({"dir": d, "heads": len(ev["head_norm_top_k_share"][0]), "perplexity": ev["perplexity"],
                      "head_fraction_per_layer": per_share,
                      "mean_head_fraction": {s: sum(v) / len(v) for s, v in per_share.items()}})
    if not cands:
        sys.exit("pick_shipped_model: no candidate has an eval_gpu_fp16.json")
    best_ppl = min(c["perplexity"] for c in cands)
    eligible = [c for c in cands if c["perplexity"] <= 1.10 * best_ppl]
    choice = min(eligible, key=lambda c: (round(c["mean_head_fraction"]["0.9"], 6), c["perplexity"]))
    for c in cands:
        mark = "<- ships" if c is choice else ("(ppl > 1.1 x best)" if c not in eligible else "")
        fr = " ".join(f"{s}:{c['mean_head_fraction'][str(s)]:.3f}" for s in SHARES)
        print(f"{c['dir']}: {c['heads']} heads, ppl {c['perplexity']:.2f}, mean head fraction {fr} {mark}")
    with open(args.out + ".tmp", "w") as f:
        json.dump({"rule": __doc__.split("\n\n")[1].replace("\n", " "), "choice": choice["dir"],
                   "candidates": cands}, f, indent=2)
    os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()
