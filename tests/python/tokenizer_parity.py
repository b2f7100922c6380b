#!/usr/bin/env python3
"""tokenizer_parity.py: our C++ OPT tokenizer against Hugging Face transformers, on real and hand-made text.

Builds an OPT tokenizer directory with scripts/make_tokenizer_files.py, loads it with
transformers.AutoTokenizer (the reference: ids with "</s>" prepended, decode), and runs dv_tokenize (our
dv::BpeTokenizer) on the same strings:
  - lines and paragraphs of WikiText-2 test, tinyshakespeare and the nltk corpora (a random sample each run),
  - hand-written cases: accents, CJK, emoji, combining marks, RTL, whitespace runs, tabs, "\\r\\n", trailing
    spaces, digits, contractions, literal special tokens,
  - random strings of arbitrary code points (every plane, unassigned ones included),
  - whole files through the streaming encoder (WikiText-2 test, tinyshakespeare),
  - decoding random id sequences (invalid UTF-8 included; compared after Python's errors="replace").
Exit 0 when everything matches, 1 on any mismatch (the first few are printed), 77 when transformers is not
importable (ctest reports a skip; 1 under CI=true: tests/python/missing_dependency.py).

Usage: tokenizer_parity.py --dv-tokenize BUILD/tests/tokenizer/dv_tokenize [--data DIR] [--seed S]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

from missing_dependency import missing_dependency

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HAND_WRITTEN = [
    "Hello world", " Hello world", "Hello  world", "Hello   world   ", "  leading spaces", "trailing spaces   ",
    "tabs\tand\t\tmore\t", "\t\tindented", "windows\r\nline\r\nends\r\n", "a\n\nb", "a\n\n", "\n\n\nx", " \n \n x",
    "\n", " ", "   ", "\t", "\r\n", "x \n", "mixed \t \n\t whitespace", "line1\nline2\n\n\nline3",
    "I'm sure it's fine, we're told they've said he'll go and she'd stay", "I'M SHOUTING IT'S LOUD",
    "don't 'quote' 's 't 're 've 'm 'll 'd", "rock'n'roll", "''''", "' s", "the 1990s, 3.14159, 1,000,000 and 42nd",
    "0123456789" * 5, "phone: +1 (555) 010-9999", "x=1;y=2**10//3", "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber",
    "Cafe\u0301 combining: e\u0301 a\u0308 n\u0303 and stacked a\u0301\u0302\u0303",
    "\u4e2d\u6587\u5b57\u7b26\u548c\u6c49\u5b57 \u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 \ud55c\uad6d\uc5b4",
    "emoji \U0001F600\U0001F601 family \U0001F468\u200d\U0001F469\u200d\U0001F467 flag \U0001F1EB\U0001F1F7",
    "skin tone \U0001F44D\U0001F3FD and keycap 1\ufe0f\u20e3",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd (Hebrew) and \u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "RTL mark \u200f and LTR \u200e and ZWSP \u200b and ZWJ \u200d", "nbsp\u00a0here and ideographic\u3000space",
    "em\u2003space en\u2002space nel\u0085line sep\u2028para\u2029", "file\x1cgroup\x1drecord\x1eunit\x1f",
    "control \x00\x01\x07\x08\x7f chars", "Greek \u03b1\u03b2\u03b3 \u0394\u03a9, Cyrillic \u043f\u0440\u0438\u0432\u0435\u0442",
    "Devanagari \u0928\u092e\u0938\u094d\u0924\u0947, Thai \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35", "\u0663\u0664\u0665 \u00bd \u2167 \u2460",
    "math \U0001D400\U0001D401 \u221e \u2211", "</s>", "a</s>b", "</s></s>", " </s> ", "<pad>", "x<pad>\n</s>",
    "<s> and <unk> are plain text in our vocabulary", "<|endoftext|>", "= Robert Boulter = \n \n",
    " @-@ wikitext @,@ tokens @.@ ", "\ufeffBOM at start", "surrogate-free \U0010FFFF max", "\U000E0001 tag",
]


def read(path):
    with open(path, encoding="utf-8", newline="") as f:  # newline="": keep "\r\n" as the C++ side sees it
        return f.read()


def read_lenient(path):
    """Some of the nltk files hold a few Latin-1 lines; those lines are read as Latin-1 (accents are
    good test material), the rest as UTF-8."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    out = []
    for line in lines:
        try:
            out.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(line.decode("latin-1"))
    return "\n".join(out)


def corpus_samples(data, rng, lines_per_file, paragraphs_per_file):
    files = ["wikitext-2/test.txt", "tinyshakespeare/input.txt"] + [
        f"nltk/{n}.txt" for n in ("brown", "abc", "movie_reviews", "state_union", "inaugural", "webtext")]
    out = []
    for name in files:
        text = read_lenient(os.path.join(data, name))
        lines = text.splitlines(keepends=True)
        paragraphs = [p for p in text.split("\n\n") if p.strip()]
        out += rng.sample(lines, min(lines_per_file, len(lines)))
        out += rng.sample(paragraphs, min(paragraphs_per_file, len(paragraphs)))
    return out


def random_strings(rng, count):
    """Arbitrary code points: every plane, unassigned ones included, mixed with spaces and newlines."""
    pools = [lambda: chr(rng.randrange(0x20, 0x7F)), lambda: rng.choice(" \n\t\r\u3000\u00a0"),
             lambda: chr(rng.randrange(0x80, 0x3000)), lambda: chr(rng.randrange(0x3000, 0xD800)),
             lambda: chr(rng.randrange(0xE000, 0x110000))]
    return ["".join(rng.choice(pools)() for _ in range(rng.randrange(1, 40))) for _ in range(count)]


def write_real_opt_layout(src_model, out, rng):
    """The files a facebook/opt-* checkpoint ships: no tokenizer.json, "<s>" "<pad>" "</s>" "<unk>" as ids 0-3,
    the GPT-2 tokens under other ids (shuffled here), specials as {"content": ...} objects, and the
    tokenizer class found through config.json's model_type."""
    os.makedirs(out)
    with open(os.path.join(src_model, "vocab.json"), encoding="utf-8") as f:
        gpt2 = [t for t in json.load(f) if t not in ("</s>", "<pad>")]
    ids = list(range(4, 4 + len(gpt2)))
    rng.shuffle(ids)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **dict(zip(gpt2, ids))}
    special = lambda c: {"content": c, "single_word": False, "lstrip": False, "rstrip": False,  # noqa: E731
                         "normalized": True, "__type": "AddedToken"}
    files = {
        "vocab.json": vocab,
        "config.json": {"model_type": "opt", "architectures": ["OPTForCausalLM"]},
        "tokenizer_config.json": {"errors": "replace", "unk_token": special("</s>"), "bos_token": special("</s>"),
                                  "eos_token": special("</s>"), "pad_token": special("<pad>"),
                                  "add_prefix_space": False, "add_bos_token": True},
        "special_tokens_map.json": {k: special(c) for k, c in
                                    (("bos_token", "</s>"), ("eos_token", "</s>"), ("unk_token", "</s>"),
                                     ("pad_token", "<pad>"))},
    }
    for name, content in files.items():
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            json.dump(content, f, ensure_ascii=False)
    with open(os.path.join(src_model, "merges.txt"), "rb") as src, open(os.path.join(out, "merges.txt"), "wb") as dst:
        dst.write(src.read())


def compare_strings(args, hf, model, strings, tmp, label):
    """Encodes strings with both tokenizers; returns the failure messages."""
    strings_path = os.path.join(tmp, "strings.json")
    with open(strings_path, "w") as f:
        json.dump(strings, f)
    ours = run_dv(args, model, "--strings", strings_path)["results"]
    want_ids = hf(strings)["input_ids"]
    bos = hf.bos_token
    failures = []
    id_mismatch = decode_mismatch = 0
    for s, want, got in zip(strings, want_ids, ours):
        if got["ids"] != want:
            id_mismatch += 1
            failures.append(f"{label}: ids differ:\n" + describe(hf, s, want, got["ids"]))
        if bytes.fromhex(got["decoded_hex"]) != (bos + s).encode() or hf.decode(want) != bos + s:
            decode_mismatch += 1
            failures.append(f"{label}: decode round trip differs: {s[:120]!r}")
    print(f"{label}: {len(strings)} strings, {sum(len(w) for w in want_ids)} tokens; {id_mismatch} id mismatches, "
          f"{decode_mismatch} decode mismatches")
    return failures


def run_dv(args, *cmd):
    res = subprocess.run([args.dv_tokenize, *cmd], capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"dv_tokenize failed ({res.returncode}): {res.stderr.strip()}")
    return json.loads(res.stdout)


def describe(hf, s, want, got):
    i = next((k for k, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
    return (f"  {s[:120]!r}{'...' if len(s) > 120 else ''}\n    first difference at token {i}: "
            f"HF {hf.convert_ids_to_tokens(want[i:i + 4])} ours {hf.convert_ids_to_tokens(got[i:i + 4])}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dv-tokenize", required=True, help="path of the dv_tokenize test tool")
    ap.add_argument("--data", default=os.environ.get("DEJAVU_DATA_DIR", os.path.join(ROOT, "..", "shared", "data")))
    ap.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    ap.add_argument("--lines", type=int, default=400, help="random lines per corpus file")
    ap.add_argument("--paragraphs", type=int, default=40, help="random paragraphs per corpus file")
    ap.add_argument("--random", type=int, default=1500, help="random code point strings")
    args = ap.parse_args()
    try:
        from transformers import AutoTokenizer
    except ImportError as e:
        missing_dependency(f"transformers not importable ({e})")

    print(f"seed {args.seed} (rerun with --seed {args.seed})")
    rng = random.Random(args.seed)
    start = time.time()
    failures = []
    with tempfile.TemporaryDirectory(prefix="dv_tok_parity_") as tmp:
        model = os.path.join(tmp, "model")
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_tokenizer_files.py"), model,
                        "--src", os.path.join(args.data, "gpt2-bpe")], check=True, stdout=subprocess.DEVNULL)
        hf = AutoTokenizer.from_pretrained(model)

        samples = corpus_samples(args.data, rng, args.lines, args.paragraphs)
        randoms = random_strings(rng, args.random)
        print(f"strings: {len(HAND_WRITTEN)} hand-written, {len(samples)} corpus lines and paragraphs, "
              f"{len(randoms)} random")
        failures += compare_strings(args, hf, model, HAND_WRITTEN + samples + randoms, tmp, "our OPT files")

        opt_model = os.path.join(tmp, "opt_layout")
        write_real_opt_layout(model, opt_model, rng)
        hf_opt = AutoTokenizer.from_pretrained(opt_model)
        failures += compare_strings(args, hf_opt, opt_model, HAND_WRITTEN + samples[::4] + randoms[::4], tmp,
                                    "facebook/opt layout, shuffled ids")

        id_lists = [[rng.randrange(len(hf)) for _ in range(rng.randrange(1, 12))] for _ in range(2000)]
        ids_path = os.path.join(tmp, "ids.json")
        with open(ids_path, "w") as f:
            json.dump(id_lists, f)
        decoded = run_dv(args, model, "--ids", ids_path)["decoded_hex"]
        bad = 0
        for ids, got in zip(id_lists, decoded):
            if bytes.fromhex(got).decode("utf-8", errors="replace") != hf.decode(ids):
                bad += 1
                failures.append(f"decode of ids {ids} differs: HF {hf.decode(ids)!r}, ours {bytes.fromhex(got)!r}")
        print(f"random id lists: {len(id_lists)} decoded; {bad} mismatches")

        for name in ("wikitext-2/test.txt", "tinyshakespeare/input.txt"):
            path = os.path.join(args.data, name)
            got = run_dv(args, model, "--file", path, "--chunk-bytes", "65536")
            want = hf(read(path))["input_ids"]
            same = got["ids"] == want
            if not same:
                failures.append(f"whole file {name} differs:\n" + describe(hf, read(path), want, got["ids"]))
            if not got["whole_matches"]:
                failures.append(f"{name}: streaming and whole-text encoding differ")
            print(f"file {name}: {len(want)} tokens, {'identical' if same else 'DIFFERENT'}; ours "
                  f"{got['tokens'] / got['stream_seconds']:.3g} tokens/s streaming, "
                  f"{got['tokens'] / got['whole_seconds']:.3g} tokens/s whole")

    for failure in failures[:10]:
        print(failure)
    print(f"{'FAIL' if failures else 'PASS'}: {len(failures)} mismatches in {time.time() - start:.1f} s")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
