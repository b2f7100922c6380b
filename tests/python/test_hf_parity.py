#!/usr/bin/env python3
"""Parity of our reference OPT with Hugging Face transformers (the live peer), on CPU or CUDA.

For each checkpoint kind of make_tiny_opt.py: random token ids -> logits of one pass, logits through
the KV cache token by token, and a greedy continuation, compared with OPTForCausalLM on CPU (fp32
reference computed from the same stored weights). Errors are max|ours - hf| / max|hf|.
Usage: test_hf_parity.py DV_LOGITS_BIN [--device cpu|cuda] [--workdir DIR] [--json OUT]
Exit 0 when every kind is within tolerance, 1 otherwise, 77 when transformers is missing
(1 under CI=true: tests/python/missing_dependency.py).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from missing_dependency import missing_dependency

try:
    import torch
    from safetensors.torch import load_file
    from transformers import OPTForCausalLM
except ImportError as e:  # pragma: no cover
    missing_dependency(str(e))

HERE = os.path.dirname(os.path.abspath(__file__))
# fp32 kinds must agree to 1e-4; reduced-precision kinds are run in their own dtype by both sides.
TOL = {"float32": 1e-4, "bfloat16": 2e-2, "float16": 1e-2}
KINDS = [("pre", "float32"), ("post", "float32"), ("decoder", "float32"), ("bf16", "bfloat16"),
         ("fp16", "float16"), ("bf16", "float32")]


def rel_max(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def check(bin_path, workdir, kind, dtype, device, gen=12, seed=1):
    mdir = os.path.join(workdir, kind)
    if not os.path.exists(os.path.join(mdir, "config.json")):
        subprocess.run([sys.executable, os.path.join(HERE, "make_tiny_opt.py"), mdir, kind], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 50257, (40,), generator=g).tolist()
    out = os.path.join(workdir, f"{kind}-{dtype}-{device}.safetensors")
    subprocess.run([bin_path, mdir, out, dtype, device, str(gen)] + [str(i) for i in ids], check=True)
    ours = load_file(out)
    tdtype = getattr(torch, dtype)
    # HF reference: the same stored weights in the same compute dtype, on CPU (fp16 matmul on CPU is
    # slow but exact enough); OPTModel checkpoints load into OPTForCausalLM with the tied head.
    hf = OPTForCausalLM.from_pretrained(mdir, dtype=tdtype).eval()
    with torch.no_grad():
        ref = hf(torch.tensor([ids])).logits[0].float()
        gen_ref = hf.generate(torch.tensor([ids]), max_new_tokens=gen, do_sample=False, min_new_tokens=gen,
                              eos_token_id=None, pad_token_id=50257)[0, len(ids):].tolist()
    res = {"kind": kind, "dtype": dtype, "device": device,
           "logits_rel_err": rel_max(ours["logits"], ref),
           "step_rel_err": rel_max(ours["logits_step"], ref),
           "generation_equal": ours["generated"].tolist() == gen_ref,
           "generated": ours["generated"].tolist(), "generated_hf": gen_ref}
    tol = TOL[dtype]
    res["ok"] = res["logits_rel_err"] < tol and res["step_rel_err"] < tol and (
        res["generation_equal"] or dtype != "float32")
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bin")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workdir")
    ap.add_argument("--json")
    a = ap.parse_args()
    workdir = a.workdir or tempfile.mkdtemp(prefix="dv-parity-")
    results = [check(a.bin, workdir, k, dt, a.device) for k, dt in KINDS]
    for r in results:
        print(f"{'ok  ' if r['ok'] else 'FAIL'} {r['kind']:8s} {r['dtype']:9s} {r['device']:5s} "
              f"logits {r['logits_rel_err']:.2e} kv-step {r['step_rel_err']:.2e} "
              f"greedy {'equal' if r['generation_equal'] else 'DIFFERS'}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
