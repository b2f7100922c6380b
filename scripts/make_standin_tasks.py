#!/usr/bin/env python3
"""Makes the two stand-in zero-shot tasks from WikiText-2 test, deterministically (same input, same files).

They are NOT LAMBADA or any benchmark of the paper's Table 3: those cannot be downloaded here. They are
held-out text (opt-mini never trained on WikiText-2 test; the predictors are trained on WikiText-2 valid)
cut into tasks of the same shape, so accuracy against sparsity can be measured with the same protocol:

  wikitext2_lastword.jsonl       LAMBADA-style last word, in lambada_openai's layout ({"text": ...}):
                                 a passage of whole sentences from one paragraph (40-120 words; passages do not
                                 overlap) that ends with
                                 a word (the final " ." dropped); scored by lm-eval's lambada rules (greedy
                                 match of " " + last word, and its perplexity). Only passages whose last word
                                 is alphabetic, at least 3 letters, not <unk>, and appears earlier in the
                                 passage are kept (LAMBADA's targets are predictable from the context; this is
                                 the crude, checkable part of that property).
  wikitext2_next_sentence.jsonl  4-way continuation, in the generic layout ({"context", "choices", "gold"}):
                                 1-3 consecutive sentences of a paragraph, the true next sentence, and three
                                 sentences from other articles of similar length (0.5x-2x words), in a seeded
                                 random order.

Usage: make_standin_tasks.py OUT_DIR [--data-dir DIR] [--lastword N] [--next-sentence N] [--seed S]
The data dir defaults to $DEJAVU_DATA_DIR, else ../shared/data beside the repository. Writes only OUT_DIR.
"""
import argparse
import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def articles(path):
    """WikiText-2's word-level text as [[paragraph, ...], ...] per article (top-level ' = Title = ' lines)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            text = " ".join(line.split())
            if not text:
                continue
            if text.startswith("= ") and text.endswith(" =") and not text.startswith("= ="):
                out.append([])
            elif text.startswith("= "):
                continue  # a section heading
            elif out:
                out[-1].append(text)
    return [a for a in out if a]


def sentences(paragraph):
    """Sentences of a tokenized paragraph: split after ' . ' (the form WikiText keeps), each ending in ' .'."""
    words, out, cur = paragraph.split(" "), [], []
    for w in words:
        cur.append(w)
        if w in (".", "?", "!"):
            out.append(" ".join(cur))
            cur = []
    return out  # a trailing piece without a full stop is dropped


def lastword_docs(arts, n, rng):
    docs = []
    for a in arts:
        for p in a:
            sents, start = sentences(p), 0
            while start < len(sents):  # non-overlapping passages, each from a sentence start
                end, words = start, []
                while end < len(sents) and len(words) < 40:
                    words += sents[end].split(" ")
                    end += 1
                target = words[-2] if len(words) >= 2 else ""
                if 40 <= len(words) <= 121 and target.isalpha() and len(target) >= 3 and target in words[:-2]:
                    docs.append({"text": " ".join(words[:-1])})  # the final " ." dropped
                    start = end
                else:
                    start += 1
    rng.shuffle(docs)
    return docs[:n]


def next_sentence_docs(arts, n, rng):
    pool = [(ai, s) for ai, a in enumerate(arts) for p in a for s in sentences(p) if 6 <= len(s.split(" ")) <= 60]
    candidates = []
    for ai, a in enumerate(arts):
        for p in a:
            sents = sentences(p)
            for i in range(1, len(sents)):
                k = min(i, 3)
                context, true = " ".join(sents[i - k:i]), sents[i]
                if 6 <= len(true.split(" ")) <= 60 and len(context.split(" ")) >= 15:
                    candidates.append((ai, context, true))
                    break  # one question per paragraph
    rng.shuffle(candidates)
    docs = []
    for ai, context, true in candidates:
        if len(docs) == n:
            break
        length = len(true.split(" "))
        others = [s for bj, s in rng.sample(pool, min(len(pool), 400))
                  if bj != ai and 0.5 * length <= len(s.split(" ")) <= 2 * length and s != true]
        if len(others) < 3:
            continue
        choices = others[:3]
        gold = rng.randrange(4)
        choices.insert(gold, true)
        docs.append({"context": context, "choices": choices, "gold": gold})
    return docs


def write_jsonl(path, docs):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--data-dir", default=os.environ.get("DEJAVU_DATA_DIR", os.path.join(ROOT, "..", "shared", "data")))
    ap.add_argument("--lastword", type=int, default=500, help="documents of the last-word task")
    ap.add_argument("--next-sentence", type=int, default=500, help="documents of the next-sentence task")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    src = os.path.join(a.data_dir, "wikitext-2", "test.txt")
    if not os.path.isfile(src):
        print(f"make_standin_tasks: {src}: no such file (set DEJAVU_DATA_DIR or --data-dir)", file=sys.stderr)
        return 2
    arts = articles(src)
    os.makedirs(a.out_dir, exist_ok=True)
    lw = lastword_docs(arts, a.lastword, random.Random(a.seed))
    ns = next_sentence_docs(arts, a.next_sentence, random.Random(a.seed + 1))
    write_jsonl(os.path.join(a.out_dir, "wikitext2_lastword.jsonl"), lw)
    write_jsonl(os.path.join(a.out_dir, "wikitext2_next_sentence.jsonl"), ns)
    print(f"make_standin_tasks: {len(lw)} last-word and {len(ns)} next-sentence documents from {len(arts)} "
          f"WikiText-2 test articles in {a.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
