#!/usr/bin/env python3
"""Builds small random OPT checkpoints with Hugging Face transformers (CPU) for parity tests.

Each kind mirrors a checkpoint layout users bring:
  pre      pre-LN (opt-125m..66b style), fp32, one model.safetensors
  post     post-LN with word_embed_proj_dim != hidden_size (opt-350m style), fp32
  bf16     pre-LN stored in bfloat16
  fp16     pre-LN stored in float16, sharded (model.safetensors.index.json)
  decoder  OPTModel (tensor names "decoder.*", no lm_head), fp32, sharded
Usage: make_tiny_opt.py OUT_DIR KIND [--seed N]
"""
import argparse
import os
import subprocess
import sys

import torch
from transformers import OPTConfig, OPTForCausalLM, OPTModel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def make(out_dir, kind, seed):
    torch.manual_seed(seed)
    cfg = dict(vocab_size=50272, hidden_size=64, ffn_dim=256, num_hidden_layers=3, num_attention_heads=4,
               max_position_embeddings=96, word_embed_proj_dim=64, do_layer_norm_before=True,
               bos_token_id=50256, eos_token_id=50256, pad_token_id=50257, init_std=0.1,
               dropout=0.0, attention_dropout=0.0)
    if kind == "post":
        cfg.update(do_layer_norm_before=False, word_embed_proj_dim=32)
    config = OPTConfig(**cfg)
    model = (OPTModel if kind == "decoder" else OPTForCausalLM)(config).eval()
    # Random LayerNorm parameters too, so a missing or swapped LN shows in the logits.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p) if name.endswith("weight") else 0.1 * torch.randn_like(p))
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(kind, torch.float32)
    model = model.to(dtype)
    shard = "200KB" if kind in ("fp16", "decoder") else "1GB"
    model.save_pretrained(out_dir, max_shard_size=shard)
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_tokenizer_files.py"), out_dir], check=True,
                   stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("kind", choices=["pre", "post", "bf16", "fp16", "decoder"])
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    make(a.out_dir, a.kind, a.seed)


if __name__ == "__main__":
    main()
