#!/usr/bin/env python3
"""`dejavu perplexity --json` equals the Hugging Face recipe (hf_perplexity.py) on the same checkpoint,
text and windows, for a pre-LN and a post-LN (opt-350m-like) tiny model, also with a short last window.
Usage: test_perplexity_parity.py DEJAVU_BIN WORKDIR [--device cpu]
"""
import json
import os
import subprocess
import sys

from missing_dependency import missing_dependency

try:
    import transformers  # noqa: F401
except ImportError as e:
    missing_dependency(str(e))

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TEXT = os.path.join(os.environ.get("DEJAVU_DATA_DIR", os.path.join(ROOT, "..", "shared", "data")), "wikitext-2", "test.txt")


def main():
    dejavu, workdir = sys.argv[1], sys.argv[2]
    device = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--device" else "cpu"
    if not os.path.exists(TEXT):
        missing_dependency(f"{TEXT} not found")
    ok = True
    for kind, max_tokens, seq_len in (("pre", 2500, 0), ("post", 1999, 64)):
        mdir = os.path.join(workdir, kind)
        if not os.path.exists(os.path.join(mdir, "config.json")):
            subprocess.run([sys.executable, os.path.join(HERE, "make_tiny_opt.py"), mdir, kind], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        args = ["--max-tokens", str(max_tokens), "--seq-len", str(seq_len)]
        ours = json.loads(subprocess.run([dejavu, "perplexity", "--model", mdir, "--text", TEXT, "--json",
                                          "--device", device] + args,
                                         check=True, capture_output=True, text=True).stdout)
        ref = json.loads(subprocess.run([sys.executable, os.path.join(HERE, "hf_perplexity.py"), mdir, TEXT] + args,
                                        check=True, capture_output=True, text=True).stdout)
        rel = abs(ours["perplexity"] - ref["perplexity"]) / ref["perplexity"]
        good = rel < 1e-5 and ours["tokens"] == ref["tokens"]
        ok &= good
        print(f"{'ok  ' if good else 'FAIL'} {kind}: dejavu {ours['perplexity']:.6f} hf {ref['perplexity']:.6f} "
              f"rel {rel:.2e} tokens {ours['tokens']}/{ref['tokens']}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
