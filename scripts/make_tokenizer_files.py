#!/usr/bin/env python3
"""make_tokenizer_files.py: write an OPT-style Hugging Face tokenizer directory from the GPT-2 BPE files.

Our own models (opt-mini and the test checkpoints) need the tokenizer files a real OPT checkpoint ships, so
that both our C++ tokenizer and `transformers.AutoTokenizer.from_pretrained(OUT_DIR)` read them and behave
like OPT: byte-level BPE with GPT-2's merges and `</s>` prepended to every encoding.

Layout written (every file to a temporary name, renamed when complete):
  vocab.json               GPT-2 encoder.json with "<|endoftext|>" renamed "</s>" (id 50256), "<pad>" = 50257
  merges.txt               GPT-2 vocab.bpe, unchanged
  tokenizer_config.json    GPT2Tokenizer, bos/eos/unk "</s>", pad "<pad>", add_bos_token, no prefix space
  special_tokens_map.json  the same special tokens
  tokenizer.json           the `tokenizers` pipeline: ByteLevel BPE plus a post-processor prepending "</s>"

Usage: scripts/make_tokenizer_files.py OUT_DIR [--src $DEJAVU_DATA_DIR/gpt2-bpe] [--check]
(DEJAVU_DATA_DIR defaults to ../shared/data beside the repository.)
--check loads OUT_DIR with transformers afterwards and verifies that "</s>" is prepended.
"""
import argparse
import json
import os
import sys

GPT2_EOT = "<|endoftext|>"
BOS = "</s>"
PAD = "<pad>"


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def load_gpt2(src):
    enc_path = os.path.join(src, "encoder.json")
    bpe_path = os.path.join(src, "vocab.bpe")
    for p in (enc_path, bpe_path):
        if not os.path.isfile(p):
            sys.exit(f"make_tokenizer_files: {p}: missing (expected the GPT-2 encoder.json and vocab.bpe)")
    with open(enc_path, encoding="utf-8") as f:
        encoder = json.load(f)
    if encoder.get(GPT2_EOT) != 50256 or len(encoder) != 50257:
        sys.exit(f"make_tokenizer_files: {enc_path}: expected 50257 tokens with {GPT2_EOT} = 50256")
    with open(bpe_path, encoding="utf-8") as f:
        merges_text = f.read()
    return encoder, merges_text


def build_vocab(encoder):
    vocab = {}
    for tok, idx in encoder.items():
        vocab[BOS if tok == GPT2_EOT else tok] = idx
    vocab[PAD] = len(encoder)
    return vocab


def merge_pairs(merges_text):
    pairs = []
    for line in merges_text.splitlines():
        if not line or line.startswith("#version"):
            continue
        a, b = line.split(" ")
        pairs.append((a, b))
    return pairs


def build_tokenizer_json(vocab, merges_text):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    bpe = models.BPE(vocab=vocab, merges=merge_pairs(merges_text), dropout=None, continuing_subword_prefix="",
                     end_of_word_suffix="", fuse_unk=False)
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    # OPT's GPT2Tokenizer.build_inputs_with_special_tokens: bos + A, and bos + A + bos + B for pairs.
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A:0", pair=f"{BOS} $A:0 {BOS} $B:1", special_tokens=[(BOS, vocab[BOS])])
    tok.add_special_tokens([AddedToken(BOS, special=True, normalized=False),
                            AddedToken(PAD, special=True, normalized=False)])
    return tok.to_str(pretty=False)


def special(content):
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
            "special": True}


def build_configs(vocab):
    specials = {"bos_token": BOS, "eos_token": BOS, "unk_token": BOS, "pad_token": PAD}
    config = {
        "tokenizer_class": "GPT2Tokenizer",
        "add_bos_token": True,
        "add_prefix_space": False,
        "errors": "replace",
        "clean_up_tokenization_spaces": False,
        "model_max_length": 1000000000000000019884624838656,
        **specials,
        "added_tokens_decoder": {str(vocab[t]): special(t) for t in (BOS, PAD)},
    }
    return json.dumps(config, indent=2) + "\n", json.dumps(specials, indent=2) + "\n"


def check(out_dir, vocab):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out_dir)
    text = "Hello world, it's </s> a test"
    ids = tok(text)["input_ids"]
    want = [vocab[BOS], 15496, 995, 11, 340, 338, 220, vocab[BOS], 257, 1332]
    if ids != want:
        sys.exit(f"make_tokenizer_files: check failed: {text!r} -> {ids}, expected {want}")
    if tok.decode(ids) != BOS + text or tok.pad_token_id != vocab[PAD] or tok.bos_token_id != vocab[BOS]:
        sys.exit(f"make_tokenizer_files: check failed: decode/specials wrong ({tok.decode(ids)!r})")
    print(f"check ok: {type(tok).__name__} prepends {BOS} (id {vocab[BOS]}), pad {PAD} = {vocab[PAD]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--src", default=os.path.join(os.environ.get("DEJAVU_DATA_DIR", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")), "gpt2-bpe"), help="dir with GPT-2 encoder.json, vocab.bpe")
    ap.add_argument("--check", action="store_true", help="verify the result with transformers.AutoTokenizer")
    args = ap.parse_args()

    encoder, merges_text = load_gpt2(args.src)
    vocab = build_vocab(encoder)
    os.makedirs(args.out_dir, exist_ok=True)
    config_text, specials_text = build_configs(vocab)
    out = lambda name: os.path.join(args.out_dir, name)  # noqa: E731
    write_atomic(out("vocab.json"), json.dumps(vocab, ensure_ascii=False) + "\n")
    write_atomic(out("merges.txt"), merges_text)
    write_atomic(out("tokenizer.json"), build_tokenizer_json(vocab, merges_text))
    write_atomic(out("tokenizer_config.json"), config_text)
    write_atomic(out("special_tokens_map.json"), specials_text)
    print(f"wrote {args.out_dir}: vocab {len(vocab)} tokens, {len(merge_pairs(merges_text))} merges")
    if args.check:
        check(args.out_dir, vocab)


if __name__ == "__main__":
    main()
