#!/usr/bin/env python3
"""make_random_opt.py: a random-weight Hugging Face OPT checkpoint of a real OPT shape, for scale runs without
downloads (collect, train, measure, eval and bench time the same as on the real weights of that shape; the
perplexity and the sparsity they find are those of random weights, not of OPT).

The model is transformers' OPTForCausalLM built from an OPTConfig of the shape, with the weights transformers
would initialise (Linear and Embedding normal(0, init_std = 0.02), biases 0, LayerNorm 1 and 0) drawn directly
on --device in --dtype: it is built on the meta device and filled in place, so that transformers' slow
fp32-on-CPU initialisation never runs (opt-6.7b: seconds on a GPU). Saved with save_pretrained as safetensors,
sharded as transformers shards (model-0000N-of-0000M.safetensors + model.safetensors.index.json above
--max-shard-size, default 5GB like the facebook/opt-* uploads; transformers' own default is 50GB), with our OPT tokenizer files (scripts/make_tokenizer_files.py, GPT-2 BPE from
--bpe, default $DEJAVU_DATA_DIR/gpt2-bpe or ../shared/data/gpt2-bpe). Written to OUT_DIR.tmp and renamed.

Shapes: opt-125m opt-350m opt-1.3b opt-2.7b opt-6.7b opt-13b opt-30b opt-66b (facebook/opt-* configs), and
tiny (d 64, 2 layers, 4 heads, ffn 256, 128 positions: tests). --layers N builds only the first N layers of a
shape (a quick look at a large shape); other dims can be changed the same way with --hidden/--ffn/--heads.

Usage: make_random_opt.py --shape opt-1.3b OUT_DIR [--dtype float16] [--device cuda] [--seed 0] [--force]
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# name: (hidden, layers, heads, ffn, word_embed_proj_dim, do_layer_norm_before), as in facebook/opt-*/config.json
SHAPES = {
    "opt-125m": (768, 12, 12, 3072, 768, True),
    "opt-350m": (1024, 24, 16, 4096, 512, False),
    "opt-1.3b": (2048, 24, 32, 8192, 2048, True),
    "opt-2.7b": (2560, 32, 32, 10240, 2560, True),
    "opt-6.7b": (4096, 32, 32, 16384, 4096, True),
    "opt-13b": (5120, 40, 40, 20480, 5120, True),
    "opt-30b": (7168, 48, 56, 28672, 7168, True),
    "opt-66b": (9216, 64, 72, 36864, 9216, True),
    "tiny": (64, 2, 4, 256, 64, True),
}
DTYPES = {"float16": "float16", "bfloat16": "bfloat16", "float32": "float32"}


def fail(msg):
    print(f"make_random_opt: {msg}", file=sys.stderr)
    sys.exit(2)


def make_config(a):
    from transformers import OPTConfig

    d, layers, heads, ffn, proj, pre_ln = SHAPES[a.shape]
    d, heads, ffn = a.hidden or d, a.heads or heads, a.ffn or ffn
    if a.hidden:
        proj = d
    layers = a.layers or layers
    if d % heads:
        fail(f"--shape {a.shape}: hidden size {d} is not a multiple of {heads} heads")
    # Our tokenizer files (make_tokenizer_files.py) put "</s>" at 50256 and "<pad>" at 50257.
    return OPTConfig(vocab_size=50272, hidden_size=d, num_hidden_layers=layers, num_attention_heads=heads,
                     ffn_dim=ffn, word_embed_proj_dim=proj, do_layer_norm_before=pre_ln,
                     max_position_embeddings=128 if a.shape == "tiny" else 2048, bos_token_id=50256,
                     eos_token_id=50256, pad_token_id=50257, init_std=0.02, dropout=0.0, attention_dropout=0.0,
                     activation_function="relu", enable_bias=True, torch_dtype=a.dtype)


def build(config, device, dtype, seed):
    import torch
    from transformers import OPTForCausalLM

    with torch.device("meta"):
        model = OPTForCausalLM(config)
    model = model.to(dtype).to_empty(device=device)  # meta -> dtype is free: memory is allocated once, in dtype
    gen = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.normal_(0.0, config.init_std, generator=gen)
        pad = config.pad_token_id
        model.model.decoder.embed_tokens.weight[pad].zero_()  # nn.Embedding(padding_idx) zeroes it too
        for name, b in model.named_buffers():
            b.zero_()
    model.tie_weights()
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--shape", required=True, choices=list(SHAPES))
    ap.add_argument("--dtype", default="float16", choices=list(DTYPES))
    ap.add_argument("--device", default="cpu", help="where the weights are drawn: cpu, cuda or cuda:N")
    ap.add_argument("--layers", type=int, default=0, help="build only the first N layers (0 = the shape's)")
    ap.add_argument("--hidden", type=int, default=0, help="override the hidden size (also word_embed_proj_dim)")
    ap.add_argument("--heads", type=int, default=0, help="override the number of heads")
    ap.add_argument("--ffn", type=int, default=0, help="override ffn_dim")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bpe", default=None, help="GPT-2 BPE directory (encoder.json, vocab.bpe)")
    ap.add_argument("--force", action="store_true", help="replace OUT_DIR when it exists")
    ap.add_argument("--max-shard-size", default="5GB", help="safetensors shard size (the facebook/opt-* checkpoints are sharded)")
    a = ap.parse_args()
    for flag in ("layers", "hidden", "heads", "ffn"):
        if getattr(a, flag) < 0:
            fail(f"--{flag} must be >= 0")
    out = os.path.abspath(a.out_dir)
    if os.path.exists(os.path.join(out, "config.json")) and not a.force:
        fail(f"{out} already holds a checkpoint (--force replaces it)")
    data = os.environ.get("DEJAVU_DATA_DIR", os.path.join(ROOT, "..", "shared", "data"))
    bpe = a.bpe or os.path.join(data, "gpt2-bpe")
    if not os.path.isfile(os.path.join(bpe, "encoder.json")):
        fail(f"{bpe}: no GPT-2 BPE files (encoder.json, vocab.bpe); give --bpe DIR or set DEJAVU_DATA_DIR")

    import torch

    if a.device.startswith("cuda") and not torch.cuda.is_available():
        fail(f"--device {a.device}: no CUDA GPU visible to torch")
    t0 = time.time()
    config = make_config(a)
    model = build(config, torch.device(a.device), getattr(torch, DTYPES[a.dtype]), a.seed)
    t1 = time.time()
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, max_shard_size=a.max_shard_size)
    subprocess.run([sys.executable, os.path.join(HERE, "make_tokenizer_files.py"), tmp, "--src", bpe], check=True,
                   stdout=subprocess.DEVNULL)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    n = sum(p.numel() for p in model.parameters())
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"make_random_opt: {a.shape} ({config.num_hidden_layers} layers, d {config.hidden_size}, ffn "
          f"{config.ffn_dim}, {config.num_attention_heads} heads), {n / 1e9:.2f} B parameters in {a.dtype} on "
          f"{a.device}: built in {t1 - t0:.1f} s, saved {size / 1e9:.2f} GB in {time.time() - t1:.1f} s -> {out}")


if __name__ == "__main__":
    main()
