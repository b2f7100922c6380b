#!/usr/bin/env python3
"""Independent check of `dejavu measure`'s head-predictor numbers, and recall against ONE oracle set for every
run: the top floor(0.3 * 16) = 4 heads by output norm (the default label), whatever label a run was trained on.
For each run directory RUN/pred (from `dejavu train`) and the held-out store: per layer the predictor's logits
(w2 @ w1 @ x, x = the input the run's metadata names), its top-k heads for k = 4, 8, 12 (25/50/75% kept), the
share of the 4 oracle heads they hold (recall) and the share of the summed head-output norm (mass recall).
Usage: crosscheck_recall.py STORE.h5 OUT.csv RUN_DIR...
"""
import csv
import json
import os
import struct
import sys

import h5py
import numpy as np
import torch
from safetensors.torch import load_file


def metadata(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))["__metadata__"]


def layer_input(store, name, layer):
    if name.startswith("prev_"):
        src, field = (layer - 1, name[5:]) if layer > 0 else (0, "attn_input")
    else:
        src, field = layer, name
    return torch.from_numpy(store[f"layer_{src:03d}/{field}"][:].astype(np.float32))


def main():
    store_path, out_path, runs = sys.argv[1], sys.argv[2], sys.argv[3:]
    store = h5py.File(store_path, "r")
    rows = []
    for run in runs:
        pred = os.path.join(run, "pred", "predictors.safetensors")
        meta, w = metadata(pred), load_file(pred)
        for layer in [int(x) for x in meta["layers"].split(",")]:
            x = layer_input(store, meta["att_input"], layer)
            logits = x @ w[f"att.{layer}.w1"].float().t() @ w[f"att.{layer}.w2"].float().t()
            norm = torch.from_numpy(store[f"layer_{layer:03d}/head_norm"][:])
            oracle4 = torch.zeros_like(norm).scatter_(1, norm.topk(4, dim=1).indices, 1.0)
            for k in (4, 8, 12):
                kept = torch.zeros_like(norm).scatter_(1, logits.topk(k, dim=1).indices, 1.0)
                best = torch.zeros_like(norm).scatter_(1, norm.topk(k, dim=1).indices, 1.0)
                rows.append({"run": os.path.basename(run.rstrip("/")), "layer": layer, "kept_fraction": k / 16,
                             "recall_top4": f"{((kept * oracle4).sum() / oracle4.sum()).item():.6f}",
                             "mass_recall": f"{((kept * norm).sum() / norm.sum()).item():.6f}",
                             "oracle_mass_recall": f"{((best * norm).sum() / norm.sum()).item():.6f}"})
    with open(out_path + ".tmp", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        wr.writeheader()
        wr.writerows(rows)
    os.replace(out_path + ".tmp", out_path)


if __name__ == "__main__":
    main()
