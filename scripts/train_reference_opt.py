#!/usr/bin/env python3
"""train_reference_opt.py: train opt-mini (a small OPTForCausalLM) from scratch, and evaluate OPT checkpoints.

opt-mini v2 (16 heads) was trained by scripts/device/step_train_models.sh, which runs `train` twice at once.

Real OPT weights cannot be fetched here, and random weights have no contextual sparsity, so the Deja Vu
experiments need a model trained on real text. `train` runs on the GPU machine in one wall-clock-budgeted
run: it tokenizes the xz corpus from scripts/build_corpus.sh ("</s>" + document, packed into fixed-length
sequences), holds out every VALID_EVERY-th document, trains in bf16 autocast with fp32 master weights,
AdamW, linear warm-up and cosine decay over a step count fixed once the step time is measured, then saves
fp16 weights with save_pretrained and runs `eval` on them. `eval` (also used on the CPU to check a saved
checkpoint) computes WikiText-2 perplexity with the Hugging Face fixed-length recipe and the fraction of
fc1 neurons whose ReLU output is > 0 per layer, plus how concentrated attention-head output norms are.

  train_reference_opt.py train --corpus C.txt.xz --tokenizer-dir T --wikitext test.txt --out DIR
  train_reference_opt.py eval --model DIR --wikitext test.txt [--device cpu] [--dtype float32] --json F
"""
import argparse
import json
import lzma
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

VALID_EVERY = 100  # every 100th document (index % 100 == 50) is held out for the validation loss

MODEL_DEFAULTS = dict(hidden=256, layers=12, heads=16, positions=512)  # opt-mini v2 (v1: 4 heads)


def opt_config(hidden, layers, heads, positions):
    from transformers import OPTConfig

    return OPTConfig(
        vocab_size=50272, hidden_size=hidden, num_hidden_layers=layers, ffn_dim=4 * hidden,
        num_attention_heads=heads, max_position_embeddings=positions, do_layer_norm_before=True,
        word_embed_proj_dim=hidden, activation_function="relu", enable_bias=True,
        layer_norm_elementwise_affine=True, tie_word_embeddings=True, dropout=0.0, attention_dropout=0.0,
        activation_dropout=0.0, layerdrop=0.0, init_std=0.02, bos_token_id=50256, eos_token_id=50256,
        pad_token_id=50257, use_cache=True, _remove_final_layer_norm=False)


def log(msg, t0=[time.time()]):  # noqa: B006 - the default is the process start time, on purpose
    print(f"[{time.time() - t0[0]:7.1f}s] {msg}", flush=True)


def read_corpus(path):
    opener = lzma.open if path.endswith(".xz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return f.read().rstrip("\n").split("\n\n")


def tokenize_docs(tokenizer_json, docs):
    """One int32 stream: for each document "</s>" + its tokens (the tokenizer's post-processor adds "</s>")."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tokenizer_json)
    parts = []
    for i in range(0, len(docs), 4096):
        enc = tok.encode_batch(docs[i:i + 4096], add_special_tokens=True)
        parts.extend(np.asarray(e.ids, dtype=np.int32) for e in enc)
    return np.concatenate(parts)


class PackedBatches:
    """Non-overlapping windows of seq+1 tokens, reshuffled every epoch with a fresh random start offset."""

    def __init__(self, tokens, seq, batch, seed, device):
        self.tokens, self.seq, self.batch, self.device = tokens, seq, batch, device
        self.gen = torch.Generator().manual_seed(seed)
        self.epoch, self.order, self.pos = 0, None, 0

    def _new_epoch(self):
        shift = int(torch.randint(0, self.seq + 1, (1,), generator=self.gen))
        n = (self.tokens.numel() - shift) // (self.seq + 1)
        starts = shift + torch.arange(n) * (self.seq + 1)
        self.order = starts[torch.randperm(n, generator=self.gen)]
        self.pos = 0
        self.epoch += 1

    def next(self):
        if self.order is None or self.pos + self.batch > self.order.numel():
            self._new_epoch()
        starts = self.order[self.pos:self.pos + self.batch].to(self.device)
        self.pos += self.batch
        idx = starts[:, None] + torch.arange(self.seq + 1, device=self.device)[None, :]
        win = self.tokens[idx].long()
        return win[:, :-1], win[:, 1:]


def lm_loss(model, inputs, targets):
    hidden = model.model(input_ids=inputs, use_cache=False).last_hidden_state
    logits = model.lm_head(hidden)
    return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))


@torch.no_grad()
def stream_loss(model, tokens, seq, batch, device, max_windows=None):
    """Mean next-token loss over non-overlapping windows of a token stream; with max_windows, that many
    windows spread evenly over the stream (the stream is ordered by source, so its head is not a sample)."""
    n = (tokens.numel() - 1) // seq
    picked = torch.arange(n, device=device)
    if max_windows and max_windows < n:
        picked = torch.linspace(0, n - 1, max_windows, device=device).long()
    total, count = 0.0, 0
    for b in range(0, picked.numel(), batch):
        starts = picked[b:b + batch] * seq
        idx = starts[:, None] + torch.arange(seq + 1, device=device)[None, :]
        win = tokens[idx].long()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = lm_loss(model, win[:, :-1], win[:, 1:])
        total += loss.item() * win.size(0)
        count += win.size(0)
    return total / count


def init_weights(model, layers):
    """GPT-2's scaled init for the residual-branch outputs (std / sqrt(2 * layers)); the rest stays HF's."""
    std = model.config.init_std / math.sqrt(2 * layers)
    for layer in model.model.decoder.layers:
        torch.nn.init.normal_(layer.self_attn.out_proj.weight, std=std)
        torch.nn.init.normal_(layer.fc2.weight, std=std)


def train(args):
    from transformers import OPTForCausalLM

    t_start = time.time()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True

    docs = read_corpus(args.corpus)
    if args.max_docs:
        docs = docs[:args.max_docs]
    valid_docs = [d for i, d in enumerate(docs) if i % VALID_EVERY == VALID_EVERY // 2]
    train_docs = [d for i, d in enumerate(docs) if i % VALID_EVERY != VALID_EVERY // 2]
    log(f"corpus: {len(docs)} documents ({len(train_docs)} train, {len(valid_docs)} valid)")
    tok_json = os.path.join(args.tokenizer_dir, "tokenizer.json")
    train_tokens = torch.from_numpy(tokenize_docs(tok_json, train_docs)).to(device)
    valid_tokens = torch.from_numpy(tokenize_docs(tok_json, valid_docs)).to(device)
    del docs, train_docs, valid_docs
    log(f"tokens: train {train_tokens.numel()}, valid {valid_tokens.numel()}")

    config = opt_config(args.hidden, args.layers, args.heads, args.positions)
    config._attn_implementation = "sdpa"
    model = OPTForCausalLM(config)
    init_weights(model, args.layers)
    model.to(device).train()
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params} parameters, fp16 size {2 * n_params} bytes")

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=device.type == "cuda")
    loss_fn = torch.compile(lm_loss) if args.compile else lm_loss
    batches = PackedBatches(train_tokens, args.seq, args.batch, args.seed, device)

    budget_end = t_start + args.budget_s
    total_steps = args.max_steps or None  # fixed after the step time is measured, unless given
    curve, step, tokens_seen, t_measure = [], 0, 0, None
    train_t0 = time.time()
    while True:
        if total_steps is None and step == args.measure_steps[1]:
            per_step = (time.time() - t_measure) / (args.measure_steps[1] - args.measure_steps[0])
            total_steps = step + int((budget_end - time.time()) / per_step * 0.97)
            log(f"step time {per_step * 1e3:.1f} ms -> total steps {total_steps}")
        if step == args.measure_steps[0]:
            t_measure = time.time()
        if total_steps is not None and step >= total_steps:
            break
        if time.time() > budget_end + args.grace_s:
            log("wall-clock budget exceeded: stopping early")
            break
        horizon = total_steps or args.warmup * 10
        if step < args.warmup:
            lr = args.lr * (step + 1) / args.warmup
        else:
            frac = min(1.0, (step - args.warmup) / max(1, horizon - args.warmup))
            lr = args.lr * (args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        inputs, targets = batches.next()
        try:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = loss_fn(model, inputs, targets)
            loss.backward()
        except Exception as err:  # a failed compilation must not cost the run: fall back to eager once
            if loss_fn is lm_loss:
                raise
            log(f"torch.compile failed ({type(err).__name__}: {err}); continuing without it")
            opt.zero_grad(set_to_none=True)
            loss_fn = lm_loss
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = loss_fn(model, inputs, targets)
            loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        tokens_seen += inputs.numel()
        if step % args.log_every == 0 or step == 1:
            rec = {"step": step, "tokens": tokens_seen, "lr": lr, "loss": loss.item(), "grad_norm": gnorm.item(),
                   "time_s": round(time.time() - t_start, 2), "epoch": batches.epoch}
            if step % args.valid_every == 0:
                model.eval()
                rec["valid_loss"] = stream_loss(model, valid_tokens, args.seq, args.batch, device, args.valid_windows)
                model.train()
            curve.append(rec)
            if step % (args.log_every * 10) == 0 or step == 1:
                log(json.dumps(rec))
    train_s = time.time() - train_t0
    model.eval()
    final_train = stream_loss(model, train_tokens, args.seq, args.batch, device, args.final_train_windows)
    final_valid = stream_loss(model, valid_tokens, args.seq, args.batch, device)
    log(f"done: {step} steps, {tokens_seen} tokens, {tokens_seen / train_s:.0f} tok/s; "
        f"train loss {final_train:.4f}, valid loss {final_valid:.4f}")

    os.makedirs(args.out, exist_ok=True)
    model_dir = os.path.join(args.out, "opt-mini")
    model.half().save_pretrained(model_dir, max_shard_size="15MB", safe_serialization=True)
    for name in ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        with open(os.path.join(args.tokenizer_dir, name), "rb") as src, \
                open(os.path.join(model_dir, name), "wb") as dst:
            dst.write(src.read())
    summary = {
        "seed": args.seed, "config": {k: getattr(args, k) for k in MODEL_DEFAULTS}, "parameters": n_params,
        "hyperparameters": {k: getattr(args, k) for k in ("seq", "batch", "lr", "min_lr_ratio", "warmup",
                                                          "weight_decay", "clip", "compile", "budget_s")},
        "compiled": loss_fn is not lm_loss,
        "optimizer": "AdamW betas (0.9, 0.95) eps 1e-8, no decay on biases/LayerNorm; bf16 autocast, fp32 master",
        "corpus_tokens": {"train": train_tokens.numel(), "valid": valid_tokens.numel()},
        "steps": step, "total_steps_planned": total_steps, "tokens_seen": tokens_seen,
        "epochs_started": batches.epoch, "train_seconds": round(train_s, 1),
        "throughput_tok_s": round(tokens_seen / train_s), "final_train_loss": final_train,
        "final_valid_loss": final_valid, "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
    }
    with open(os.path.join(args.out, "loss_curve.json"), "w") as f:
        json.dump(curve, f)
    with open(os.path.join(args.out, "train_summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    del model, opt, loss_fn
    result = evaluate(model_dir, args.wikitext, device, torch.float16)
    with open(os.path.join(args.out, "eval_gpu_fp16.json"), "w") as f:
        json.dump(result, f, indent=2)
    log(f"total wall time {time.time() - t_start:.1f}s")


@torch.no_grad()
def evaluate(model_dir, wikitext, device, dtype):
    """WikiText-2 perplexity (HF fixed-length recipe, windows scored alone) and activation sparsity."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    with open(wikitext, encoding="utf-8") as f:
        ids = tok(f.read(), return_tensors="pt").input_ids[0]
    L = model.config.max_position_embeddings
    layers = model.model.decoder.layers
    heads = model.config.num_attention_heads
    active = torch.zeros(len(layers), dtype=torch.float64)
    ever = torch.zeros(len(layers), model.config.ffn_dim, dtype=torch.bool, device=device)
    top_share = torch.zeros(len(layers), heads, dtype=torch.float64)
    counted = [0]
    hooks = []
    for li, layer in enumerate(layers):
        def fc1_hook(_m, _inp, out, li=li):
            on = out > 0
            active[li] += on.double().mean(dim=-1).sum().item()
            ever[li] |= on.reshape(-1, on.size(-1)).any(dim=0)

        def oproj_hook(m, inp, li=li):
            x = inp[0].reshape(-1, heads, m.in_features // heads).float()  # [T, H, 64]: per-head outputs
            w = m.weight.float().reshape(m.out_features, heads, -1)          # [d, H, 64]
            norms = torch.einsum("thk,dhk->thd", x, w).norm(dim=-1)           # [T, H] head contribution norm
            share = norms.sort(dim=-1, descending=True).values.cumsum(-1) / norms.sum(-1, keepdim=True)
            top_share[li] += share.double().sum(0).cpu()
        hooks.append(layer.fc1.register_forward_hook(fc1_hook))
        hooks.append(layer.self_attn.out_proj.register_forward_pre_hook(oproj_hook))
    nll, predicted = 0.0, 0
    for begin in range(0, ids.numel(), L):
        window = ids[begin:begin + L].to(device)
        if window.numel() < 2:
            continue
        logits = model(window[None]).logits[0].float()
        nll += F.cross_entropy(logits[:-1], window[1:], reduction="sum").item()
        predicted += window.numel() - 1
        counted[0] += window.numel()
    for h in hooks:
        h.remove()
    n = counted[0]
    return {
        "model": model_dir, "text": wikitext, "device": str(device), "dtype": str(dtype).replace("torch.", ""),
        "tokens": ids.numel(), "window": L, "predicted_tokens": predicted, "mean_nll": nll / predicted,
        "perplexity": math.exp(nll / predicted),
        "fc1_active_fraction": [round(v, 5) for v in (active / n).tolist()],
        "fc1_never_active_fraction": [round(v, 5) for v in (1 - ever.double().mean(dim=-1)).tolist()],
        "head_norm_top_k_share": [[round(v, 4) for v in row] for row in (top_share / n).tolist()],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--corpus", required=True)
    t.add_argument("--tokenizer-dir", required=True, help="dir written by scripts/make_tokenizer_files.py")
    t.add_argument("--wikitext", required=True, help="WikiText-2 test.txt for the final evaluation")
    t.add_argument("--out", required=True)
    for k, v in MODEL_DEFAULTS.items():
        t.add_argument(f"--{k}", type=int, default=v)
    t.add_argument("--seq", type=int, default=512)
    t.add_argument("--batch", type=int, default=128, help="sequences per step")
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--min-lr-ratio", type=float, default=0.1)
    t.add_argument("--warmup", type=int, default=300)
    t.add_argument("--weight-decay", type=float, default=0.1)
    t.add_argument("--clip", type=float, default=1.0)
    t.add_argument("--seed", type=int, default=1234)
    t.add_argument("--budget-s", type=float, default=450.0, help="wall clock from start to the end of training")
    t.add_argument("--grace-s", type=float, default=20.0, help="hard stop this long after the budget")
    t.add_argument("--measure-steps", type=int, nargs=2, default=[60, 160], help="steps timed to plan the run")
    t.add_argument("--max-steps", type=int, default=0, help="fix the step count instead (CPU smoke tests)")
    t.add_argument("--max-docs", type=int, default=0, help="use only the first N documents (smoke tests)")
    t.add_argument("--log-every", type=int, default=10)
    t.add_argument("--valid-every", type=int, default=250)
    t.add_argument("--valid-windows", type=int, default=256, help="windows for the periodic valid loss")
    t.add_argument("--final-train-windows", type=int, default=2048, help="windows for the final train loss")
    t.add_argument("--compile", action="store_true", help="torch.compile the loss (eager if it fails)")
    e = sub.add_parser("eval")
    e.add_argument("--model", required=True)
    e.add_argument("--wikitext", required=True)
    e.add_argument("--device", default="cpu")
    e.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    e.add_argument("--json", required=True)
    args = ap.parse_args()
    if args.cmd == "train":
        if args.measure_steps[1] > args.warmup:
            sys.exit("train_reference_opt: --measure-steps must end inside the warm-up (the schedule is planned then)")
        if args.positions < args.seq:
            sys.exit(f"train_reference_opt: --seq {args.seq} exceeds --positions {args.positions}")
        train(args)
    else:
        torch.set_num_threads(os.cpu_count())
        result = evaluate(args.model, args.wikitext, torch.device(args.device), getattr(torch, args.dtype))
        with open(args.json + ".tmp", "w") as f:
            json.dump(result, f, indent=2)
        os.replace(args.json + ".tmp", args.json)
        print(json.dumps({k: v for k, v in result.items() if k != "head_norm_top_k_share"}, indent=2))


if __name__ == "__main__":
    main()
