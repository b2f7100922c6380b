#!/usr/bin/env python3
"""scripts/make_random_opt.py on CPU: a tiny shape (and a 2-layer opt-125m, sharded) is a checkpoint that
`dejavu perplexity` loads and scores, whose config has the asked dims, and whose perplexity is that of
transformers on the same weights (the weights are real, not left uninitialised: a random model is close to
uniform over the vocabulary, perplexity in the tens of thousands, never NaN).
Usage: test_make_random_opt.py DEJAVU_BIN WORKDIR
"""
import argparse
import json
import math
import os
import subprocess
import sys

from missing_dependency import missing_dependency

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.environ.get("DEJAVU_DATA_DIR", os.path.join(ROOT, "..", "shared", "data"))


def make(out, *args):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_random_opt.py"), out, "--force", *args],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"make_random_opt {args}: rc {r.returncode}: {r.stderr[-2000:]}"


def perplexity(dejavu, model, text):
    r = subprocess.run([dejavu, "perplexity", "--model", model, "--text", text, "--max-tokens", "200", "--seq-len",
                        "64", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, f"dejavu perplexity {model}: rc {r.returncode}: {r.stderr[-2000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def hf_perplexity(model, text):
    import torch
    from transformers import OPTForCausalLM
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(model)
    with open(text, encoding="utf-8") as f:
        x = tok(f.read()[:20000], return_tensors="pt").input_ids[:, :200]
    m = OPTForCausalLM.from_pretrained(model, dtype=torch.float32).eval()
    nll, n = 0.0, 0
    with torch.no_grad():
        for s in range(0, x.shape[1], 64):
            w = x[:, s:s + 64]
            if w.shape[1] < 2:
                continue
            logp = torch.log_softmax(m(w).logits.double(), -1)
            nll -= logp[0, :-1].gather(-1, w[0, 1:, None]).sum().item()
            n += w.shape[1] - 1
    return math.exp(nll / n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dejavu")
    ap.add_argument("workdir")
    a = ap.parse_args()
    text = os.path.join(DATA, "wikitext-2", "test.txt")
    if not (os.path.exists(text) and os.path.isdir(os.path.join(DATA, "gpt2-bpe"))):
        missing_dependency(f"{text} or the GPT-2 BPE files missing")
    os.makedirs(a.workdir, exist_ok=True)
    tiny = os.path.join(a.workdir, "tiny")
    make(tiny, "--shape", "tiny", "--dtype", "float32", "--seed", "3")
    cfg = json.load(open(os.path.join(tiny, "config.json")))
    assert (cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["ffn_dim"]) == (64, 2, 4, 256), cfg
    for f in ("vocab.json", "merges.txt", "model.safetensors"):
        assert os.path.exists(os.path.join(tiny, f)), f
    ours = perplexity(a.dejavu, tiny, text)
    ref = hf_perplexity(tiny, text)
    assert math.isfinite(ours["perplexity"]) and ours["perplexity"] > 1000, ours
    assert abs(ours["perplexity"] - ref) / ref < 1e-3, (ours["perplexity"], ref)

    # A real shape cut to 2 layers, fp16 and sharded: the index.json path of the loader.
    small = os.path.join(a.workdir, "opt-125m-2l")
    make(small, "--shape", "opt-125m", "--layers", "2", "--max-shard-size", "40MB")
    assert os.path.exists(os.path.join(small, "model.safetensors.index.json")), os.listdir(small)
    cfg = json.load(open(os.path.join(small, "config.json")))
    assert (cfg["hidden_size"], cfg["num_hidden_layers"], cfg["ffn_dim"]) == (768, 2, 3072), cfg
    p = perplexity(a.dejavu, small, text)
    assert math.isfinite(p["perplexity"]) and p["perplexity"] > 1000, p
    print(f"ok: tiny perplexity {ours['perplexity']:.1f} (transformers {ref:.1f}); opt-125m (2 layers, fp16, "
          f"sharded) {p['perplexity']:.1f}")


if __name__ == "__main__":
    main()
