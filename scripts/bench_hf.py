#!/usr/bin/env python3
"""bench_hf.py: the Hugging Face baseline for `dejavu bench`, on the GPU machine: per-token decode latency of
transformers' OPTForCausalLM with random fp16 weights built from the same OPT shapes, after a prompt of
--prompt-len tokens, in eager mode (one forward per token with the dynamic KV cache, wall clock with a
synchronize per step: what a user of model() sees) and with torch.compile(mode="reduce-overhead") of the
one-token step alone over a StaticCache in a hand-written decode loop (generate() + compile fails on
transformers 5.17: "accessing tensor output of CUDAGraphs that has been overwritten", and int32 positions
hit Inductor's "indices must be int64"); CUDA-event time of consecutive steps.
`--cpu-check` runs the compiled loop on a tiny CPU OPT and checks its greedy tokens against eager decoding.
A shape that does not fit is built with as many layers as fit and marked per_layer, as `dejavu bench` does.
Writes OUT/bench_hf.json and OUT/bench_hf.csv; scripts/plot_bench.py overlays the eager rows.

  python3 scripts/bench_hf.py --out results/bench [--shapes opt-1.3b,...] [--batch-sizes 1] [--compile-shapes opt-1.3b]
  python3 scripts/bench_hf.py --cpu-check
"""
import argparse
import csv
import inspect
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
    cache_name, _ = cache_kwargs(model)
    ids = torch.randint(0, VOCAB, (batch, prompt), device="cuda")
    out = model(input_ids=ids, use_cache=True)
    tok = out.logits[:, -1:].argmax(-1)
    times = []
    for i in range(warmup + iters):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model(input_ids=tok, use_cache=True, **{cache_name: returned_cache(out)})
        torch.cuda.synchronize()
        if i >= warmup:
            times.append(1e3 * (time.perf_counter() - t0))
        tok = out.logits[:, -1:].argmax(-1)
    return times


def returned_cache(out):
    """The cache a forward returned (`cache` from transformers 5.2x, `past_key_values` before)."""
    return out.cache if hasattr(out, "cache") else out.past_key_values


def cache_kwargs(model):
    """The names this transformers version gives the cache argument and, where it has one, the cache position
    (transformers 5.17 takes past_key_values + cache_position; later 5.x take cache and track positions inside
    the StaticCache)."""
    params = inspect.signature(model.forward).parameters
    return ("cache" if "cache" in params else "past_key_values"), ("cache_position" in params)


def step_inputs(batch, pos, device, has_cache_position):
    """int64 positions (Inductor's index lowering rejects int32 indices) for one decode step at position pos."""
    kw = dict(position_ids=torch.full((batch, 1), pos, dtype=torch.long, device=device))
    if has_cache_position:
        kw["cache_position"] = torch.tensor([pos], dtype=torch.long, device=device)
    return kw


@torch.inference_mode()
def compiled_ms(model, ids, warmup, iters, repeats=3, mode="reduce-overhead"):
    """torch.compile of the one-token decode step alone over a StaticCache, driven by a hand-written loop (the
    recipe that works on transformers 5.17, where generate() + compile fails). The prompt runs eagerly and fills
    the cache; each compiled step returns the next token id, cloned before the next replay overwrites the CUDA
    graph's output buffer. Per-token time = CUDA-event (or wall-clock on CPU) time of `iters` consecutive steps
    without a host sync between them, divided by iters, one figure per repeat. Returns (times, tokens): tokens
    [batch, prompt + steps] are the greedy continuation, checked against eager decoding by --cpu-check."""
    from transformers import StaticCache

    (batch, prompt), device = ids.shape, ids.device.type
    cache_name, has_cache_position = cache_kwargs(model)
    total = prompt + warmup + repeats * iters + 1
    cache = StaticCache(config=model.config, max_cache_len=total)
    # An explicit all-ones mask over the whole static cache: without one, transformers builds ones(B, seen + 1)
    # from the cache's length tensor, a data-dependent shape that fullgraph compilation rejects (5.17).
    mask = torch.ones(batch, total, dtype=torch.long, device=device)
    pre = dict(position_ids=torch.arange(prompt, dtype=torch.long, device=device).expand(batch, prompt))
    if has_cache_position:
        pre["cache_position"] = torch.arange(prompt, dtype=torch.long, device=device)
    out = model(input_ids=ids, attention_mask=mask, use_cache=True, **{cache_name: cache}, **pre)
    tok = out.logits[:, -1:].argmax(-1)

    def one_step(tok, **kw):
        out = model(input_ids=tok, attention_mask=mask, use_cache=True, **{cache_name: cache}, **kw)
        return out.logits[:, -1:].argmax(-1)

    step = torch.compile(one_step, mode=mode, fullgraph=True)
    pos, tokens = prompt, [ids, tok]

    def run(n):
        nonlocal tok, pos
        for _ in range(n):
            if device == "cuda":
                torch.compiler.cudagraph_mark_step_begin()
            tok = step(tok, **step_inputs(batch, pos, device, has_cache_position)).clone()
            tokens.append(tok)
            pos += 1

    run(warmup)  # compiles, records the graph, replays it
    times = []
    for _ in range(repeats):
        if device == "cuda":
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run(iters)
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop) / iters)
        else:
            t0 = time.perf_counter()
            run(iters)
            times.append(1e3 * (time.perf_counter() - t0) / iters)
    return times, torch.cat(tokens, dim=1)[:, :-1]  # the last step's token has not been fed back


@torch.inference_mode()
def eager_tokens(model, ids, steps):
    """Greedy continuation by eager forwards over the dynamic cache (the reference for --cpu-check)."""
    cache_name, _ = cache_kwargs(model)
    out = model(input_ids=ids, use_cache=True)
    tokens = [ids]
    for _ in range(steps):
        tok = out.logits[:, -1:].argmax(-1)
        tokens.append(tok)
        out = model(input_ids=tok, use_cache=True, **{cache_name: returned_cache(out)})
    return torch.cat(tokens, dim=1)


def cpu_check():
    """The compiled static-cache loop on a tiny random OPT on the CPU (torch.compile mode "default": CUDA graphs
    need a GPU) must produce the eager loop's greedy tokens; exit 1 if not."""
    from transformers import OPTConfig, OPTForCausalLM

    torch.manual_seed(0)
    cfg = OPTConfig(vocab_size=VOCAB, hidden_size=64, ffn_dim=256, num_hidden_layers=2, num_attention_heads=4,
                    word_embed_proj_dim=64, max_position_embeddings=2048, activation_function="relu")
    model = OPTForCausalLM(cfg).eval()
    ids = torch.randint(0, VOCAB, (2, 16))
    times, got = compiled_ms(model, ids, warmup=3, iters=4, repeats=2, mode="default")
    want = eager_tokens(model, ids, got.shape[1] - ids.shape[1])
    same = torch.equal(got, want)
    print(json.dumps(dict(cpu_check="pass" if same else "FAIL", tokens=got.shape[1], ms_per_token=times)))
    return 0 if same else 1


def write_outputs(out, rows, prompt_len):
    """bench_hf.json and bench_hf.csv with the rows so far, each via a temporary name (a time limit that stops
    the run keeps every finished row)."""
    doc = dict(device=torch.cuda.get_device_name(0), torch=torch.__version__,
               transformers=__import__("transformers").__version__, prompt_len=prompt_len, rows=rows)
    tmp = os.path.join(out, "bench_hf.json.tmp")
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, os.path.join(out, "bench_hf.json"))
    keys = ["shape", "layers", "model_layers", "per_layer", "batch", "mode", "ms_per_token", "p10", "p90",
            "ms_per_layer", "setup_s", "note"]
    tmp = os.path.join(out, "bench_hf.csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, os.path.join(out, "bench_hf.csv"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="output folder (required unless --cpu-check)")
    ap.add_argument("--cpu-check", action="store_true", help="check the compiled loop against eager on a tiny CPU OPT")
    ap.add_argument("--shapes", default="opt-1.3b,opt-6.7b,opt-13b,opt-30b,opt-66b")
    ap.add_argument("--batch-sizes", default="1")
    ap.add_argument("--compile-shapes", default="opt-1.3b,opt-13b,opt-30b", help="shapes also timed with torch.compile")
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--reserve-gib", type=float, default=6.0)
    a = ap.parse_args()
    if a.cpu_check:
        raise SystemExit(cpu_check())
    if not a.out:
        ap.error("--out is required")
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
                write_outputs(a.out, rows, a.prompt_len)
                continue
            model = build(shape, n)
            t = eager_ms(model, batch, a.prompt_len, a.warmup, a.iters)
            q = statistics.quantiles(t, n=10)
            rows.append(dict(base, mode="eager", ms_per_token=statistics.median(t), p10=q[0], p90=q[-1],
                             ms_per_layer=statistics.median(t) / n))
            print(json.dumps(rows[-1]), flush=True)
            write_outputs(a.out, rows, a.prompt_len)
            if shape in compile_shapes:
                try:
                    t0 = time.perf_counter()
                    ids = torch.randint(0, VOCAB, (batch, a.prompt_len), device="cuda")
                    d, _ = compiled_ms(model, ids, a.warmup, a.iters)
                    rows.append(dict(base, mode="compile", ms_per_token=statistics.median(d), repeats=d,
                                     ms_per_layer=statistics.median(d) / n,
                                     setup_s=round(time.perf_counter() - t0, 1)))
                except Exception as e:  # noqa: BLE001 - any failure of the compiled path is reported, not fatal
                    rows.append(dict(base, mode="compile", note=f"failed: {type(e).__name__}: {str(e)[:300]}"))
                print(json.dumps(rows[-1]), flush=True)
                write_outputs(a.out, rows, a.prompt_len)
            del model
            torch._dynamo.reset()  # drops the compiled graphs and their CUDA-graph memory pool
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
