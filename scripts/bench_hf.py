#!/usr/bin/env python3
"""bench_hf.py: the Hugging Face baseline for `dejavu bench`, on the GPU machine: per-token decode latency of
transformers' OPTForCausalLM with random fp16 weights built from the same OPT shapes, after a prompt of
--prompt-len tokens, in eager mode (one forward per token with the dynamic KV cache, wall clock with a
synchronize per step: what a user of model() sees) and, where it works, torch.compile(mode="reduce-overhead")
through generate() with a static cache (per-token cost = difference of two generate() lengths).
A shape that does not fit is built with as many layers as fit and marked per_layer, as `dejavu bench` does.
Writes OUT/bench_hf.json and OUT/bench_hf.csv; scripts/plot_bench.py overlays the eager rows.

  python3 scripts/bench_hf.py --out results/bench [--shapes opt-1.3b,...] [--batch-sizes 1] [--compile-shapes opt-1.3b]
"""
import argparse
import csv
import json
import os
import statistics
import time

import torch

# name: (hidden, layers, heads, word_embed_proj_dim, pre-LN) -- the table of engine/io/opt_config.cpp
SHAPES = {
    "opt-125m": (768, 12, 12, 768, True), "opt-350m": (1024, 24, 16, 512, False),
    "opt-1.3b": (2048, 24, 32, 2048, True), "opt-2.7b": (2560, 32, 32, 2560, True),
    "opt-6.7b": (4096, 32, 32, 4096, True), "opt-13b": (5120, 40, 40, 5120, True),
    "opt-30b": (7168, 48, 56, 7168, True), "opt-66b": (9216, 64, 72, 9216, True),
}
VOCAB = 50272


def layers_that_fit(hidden, layers, embed, prompt, steps, batch, reserve_gib):
    free, _ = torch.cuda.mem_get_info()
    per_layer = 2 * 12 * hidden * hidden + 2 * 2 * batch * (prompt + steps) * hidden  # weights + K/V cache
    shared = 2 * (VOCAB * embed + 2050 * hidden)
    return max(0, min(layers, int((free - reserve_gib * 2**30 - shared) // per_layer)))


def build(shape, n_layers):
    from transformers import OPTConfig, OPTForCausalLM

    hidden, _, heads, embed, pre_ln = SHAPES[shape]
    cfg = OPTConfig(vocab_size=VOCAB, hidden_size=hidden, ffn_dim=4 * hidden, num_hidden_layers=n_layers,
                    num_attention_heads=heads, word_embed_proj_dim=embed, do_layer_norm_before=pre_ln,
                    max_position_embeddings=2048, activation_function="relu", enable_bias=True,
                    dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, init_std=0.02)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float16)  # parameters born fp16 on the GPU: opt-30b is 60 GB, not 120
    try:
        with torch.device("cuda"):
            model = OPTForCausalLM(cfg)
    finally:
        torch.set_default_dtype(default)
    return model.eval()


@torch.inference_mode()
def eager_ms(model, batch, prompt, warmup, iters):
    ids = torch.randint(0, VOCAB, (batch, prompt), device="cuda")
    out = model(input_ids=ids, use_cache=True)
    past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
    times = []
    for i in range(warmup + iters):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model(input_ids=tok, past_key_values=past, use_cache=True)
        torch.cuda.synchronize()
        if i >= warmup:
            times.append(1e3 * (time.perf_counter() - t0))
        past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
    return times


@torch.inference_mode()
def compiled_ms(model, batch, prompt, iters):
    model.generation_config.cache_implementation = "static"
    model.forward = torch.compile(model.forward, mode="reduce-overhead", fullgraph=True)
    ids = torch.randint(0, VOCAB, (batch, prompt), device="cuda")
    kw = dict(do_sample=False, min_new_tokens=None, eos_token_id=None, pad_token_id=0)

    def run(n):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        model.generate(ids, max_new_tokens=n, min_length=prompt + n, **kw)
        torch.cuda.synchronize()
        return 1e3 * (time.perf_counter() - t0)

    run(iters + 8)  # compiles; the second call of each length replays graphs
    run(8)
    diffs = [(run(iters + 8) - run(8)) / iters for _ in range(3)]
    return diffs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--shapes", default="opt-1.3b,opt-6.7b,opt-13b,opt-30b,opt-66b")
    ap.add_argument("--batch-sizes", default="1")
    ap.add_argument("--compile-shapes", default="opt-1.3b,opt-13b", help="shapes also timed with torch.compile")
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--reserve-gib", type=float, default=6.0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rows = []
    compile_shapes = set(s for s in a.compile_shapes.split(",") if s)
    for shape in a.shapes.split(","):
        hidden, layers, _, embed, _ = SHAPES[shape]
        for batch in [int(b) for b in a.batch_sizes.split(",")]:
            n = layers_that_fit(hidden, layers, embed, a.prompt_len, a.warmup + a.iters + 64, batch, a.reserve_gib)
            base = dict(shape=shape, layers=n, model_layers=layers, per_layer=n < layers, batch=batch)
            if n < 1:
                rows.append(dict(base, mode="eager", note="does not fit"))
                continue
            model = build(shape, n)
            t = eager_ms(model, batch, a.prompt_len, a.warmup, a.iters)
            q = statistics.quantiles(t, n=10)
            rows.append(dict(base, mode="eager", ms_per_token=statistics.median(t), p10=q[0], p90=q[-1],
                             ms_per_layer=statistics.median(t) / n))
            print(json.dumps(rows[-1]), flush=True)
            if shape in compile_shapes:
                try:
                    d = compiled_ms(model, batch, a.prompt_len, a.iters)
                    rows.append(dict(base, mode="compile", ms_per_token=statistics.median(d),
                                     ms_per_layer=statistics.median(d) / n))
                except Exception as e:  # noqa: BLE001 - any failure of the compiled path is reported, not fatal
                    rows.append(dict(base, mode="compile", note=f"failed: {type(e).__name__}: {str(e)[:300]}"))
                print(json.dumps(rows[-1]), flush=True)
            del model
            torch.cuda.empty_cache()
    doc = dict(device=torch.cuda.get_device_name(0), torch=torch.__version__,
               transformers=__import__("transformers").__version__, prompt_len=a.prompt_len, rows=rows)
    tmp = os.path.join(a.out, "bench_hf.json.tmp")
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, os.path.join(a.out, "bench_hf.json"))
    keys = ["shape", "layers", "model_layers", "per_layer", "batch", "mode", "ms_per_token", "p10", "p90",
            "ms_per_layer", "note"]
    tmp = os.path.join(a.out, "bench_hf.csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, os.path.join(a.out, "bench_hf.csv"))


if __name__ == "__main__":
    main()
