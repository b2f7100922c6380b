#!/usr/bin/env python3
"""Converts a Hugging Face OPT checkpoint stored as pytorch_model.bin (single or sharded with
pytorch_model.bin.index.json) into safetensors shards + model.safetensors.index.json in the same
directory, which is what dejavu loads. Tied lm_head.weight is dropped (dejavu ties it back).
Usage: convert_bin_to_safetensors.py MODEL_DIR [--shard-mb 2000]
"""
import argparse
import json
import os
import sys

import torch
from safetensors.torch import save_file


def load_state(model_dir):
    index = os.path.join(model_dir, "pytorch_model.bin.index.json")
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))["weight_map"].values()))
    elif os.path.exists(os.path.join(model_dir, "pytorch_model.bin")):
        files = ["pytorch_model.bin"]
    else:
        sys.exit(f"{model_dir}: no pytorch_model.bin or pytorch_model.bin.index.json")
    state = {}
    for f in files:
        state.update(torch.load(os.path.join(model_dir, f), map_location="cpu", weights_only=True))
    return state


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--shard-mb", type=int, default=2000)
    a = ap.parse_args()
    state = load_state(a.model_dir)
    cfg = json.load(open(os.path.join(a.model_dir, "config.json")))
    if cfg.get("tie_word_embeddings", True):
        state.pop("lm_head.weight", None)
    shards, cur, size = [], {}, 0
    for name in sorted(state):
        t = state[name].contiguous()
        nbytes = t.numel() * t.element_size()
        if cur and size + nbytes > a.shard_mb << 20:
            shards.append(cur)
            cur, size = {}, 0
        cur[name] = t
        size += nbytes
    shards.append(cur)
    weight_map = {}
    for i, shard in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        tmp = os.path.join(a.model_dir, fname + ".tmp")
        save_file(shard, tmp, metadata={"format": "pt"})
        os.replace(tmp, os.path.join(a.model_dir, fname))
        weight_map.update({n: fname for n in shard})
    total = sum(t.numel() * t.element_size() for t in state.values())
    tmp = os.path.join(a.model_dir, "model.safetensors.index.json.tmp")
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, open(tmp, "w"), indent=1)
    os.replace(tmp, os.path.join(a.model_dir, "model.safetensors.index.json"))
    print(f"wrote {len(shards)} shard(s), {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
