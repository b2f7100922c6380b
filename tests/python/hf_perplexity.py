#!/usr/bin/env python3
"""Perplexity with Hugging Face transformers, the recipe `dejavu perplexity` implements (fixed-length
windows, stride = L): tokenize the file once with OPT's </s> first, keep the first N tokens, cut into
consecutive windows of L (the shorter last one too), score each window alone, perplexity = exp(mean NLL
over every token after a window's first). Prints one JSON object like `dejavu perplexity --json`.
Usage: hf_perplexity.py MODEL_DIR TEXT_FILE [--seq-len L] [--max-tokens N] [--dtype float32] [--device cpu]
"""
import argparse
import json
import math
import time

import torch
from transformers import AutoTokenizer, OPTForCausalLM


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("text")
    ap.add_argument("--seq-len", type=int, default=0)
    ap.add_argument("--max-tokens", type=int, default=0)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    tok = AutoTokenizer.from_pretrained(a.model)
    model = OPTForCausalLM.from_pretrained(a.model, dtype=getattr(torch, a.dtype)).to(a.device).eval()
    text = open(a.text, encoding="utf-8").read()
    ids = tok(text, return_tensors="pt").input_ids[0]
    assert ids[0].item() == tok.bos_token_id, "tokenizer did not prepend </s>"
    if a.max_tokens > 0:
        ids = ids[: a.max_tokens]
    L = a.seq_len or min(model.config.max_position_embeddings, 2048)
    nll, count, t0 = 0.0, 0, time.time()
    with torch.no_grad():
        for start in range(0, len(ids), L):
            w = ids[start : start + L].unsqueeze(0).to(a.device)
            if w.shape[1] < 2:
                continue
            logits = model(w).logits.float()
            logp = torch.log_softmax(logits[0, :-1], -1)
            nll += -logp.gather(-1, w[0, 1:].unsqueeze(-1)).double().sum().item()
            count += w.shape[1] - 1
    print(json.dumps({"perplexity": math.exp(nll / count), "tokens": count, "input_tokens": len(ids), "seq_len": L,
                      "seconds": time.time() - t0}))


if __name__ == "__main__":
    main()
