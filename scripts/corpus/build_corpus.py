#!/usr/bin/env python3
"""build_corpus.py: assemble the de-duplicated English training text for opt-mini from local sources.

Called by scripts/build_corpus.sh once the Debian documentation packages are unpacked. Sources are read in
the fixed order of SOURCES, files in sorted path order, paragraphs in document order; the first copy of a
paragraph wins and later copies (same words, ignoring case, punctuation and spacing) are dropped, so the
same inputs always give the same bytes. Paragraphs sharing a 13-word sequence with WikiText-2 valid/test are
dropped too: WikiText-2 is held out for evaluation.

Output text: one document per block, documents separated by one blank line, paragraphs of a document on
their own lines (a paragraph may span lines in verse and dialogue, never a blank one). Training prepends
"</s>" to each document, as OPT does. A JSON manifest records the sources, their sizes and token counts.
"""
import argparse
import glob
import hashlib
import json
import multiprocessing
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prose_filter import dedup_key, is_english_prose, overlaps, word_ngrams  # noqa: E402
from text_extract import (decode_text, fortune_paragraphs, html_paragraphs, pod_paragraphs,  # noqa: E402
                          preformatted_paragraphs, read_bytes)

DOC_CHARS = 8000  # curated line-per-paragraph corpora are cut into documents of about this size
NGRAM = 13        # decontamination n-gram length (words), as in the GPT-3 paper's overlap analysis

# (source name, kind, package or None, include globs relative to the root, exclude regex on the path)
# kind: "lines" curated text, a paragraph a line; "blocks" curated text, paragraphs between blank lines;
# "html" / "pre" (plain text in HTML) / "pod" / "fortune": documentation, every paragraph must pass is_english_prose.
SOURCES = [
    ("nltk/brown", "lines", None, ["nltk/brown.txt"], None),
    ("nltk/abc", "lines", None, ["nltk/abc.txt"], None),
    ("nltk/movie_reviews", "lines", None, ["nltk/movie_reviews.txt"], None),
    ("nltk/state_union", "blocks", None, ["nltk/state_union.txt"], None),
    ("nltk/inaugural", "blocks", None, ["nltk/inaugural.txt"], None),
    ("nltk/webtext", "lines", None, ["nltk/webtext.txt"], None),
    ("tinyshakespeare", "blocks", None, ["tinyshakespeare/input.txt"], None),
    ("debian-history", "html", "debian-history", ["usr/share/doc/debian-history/docs/*.en.html"], None),
    ("gnome-user-docs", "html", "gnome-user-docs", ["usr/share/help/C/**/*.page"], None),
    ("gimp-help-en", "html", "gimp-help-en", ["usr/share/gimp/2.0/help/en/*.html"], None),
    ("gnucash-docs", "html", "gnucash-docs", ["usr/share/doc/gnucash-docs/gnucash-guide-en/*.html",
                                              "usr/share/doc/gnucash-docs/gnucash-help-en/*.html"], None),
    ("libreoffice-help-en-us", "html", "libreoffice-help-en-us", ["usr/share/libreoffice/help/en-US/**/*.html"],
     None),
    ("installation-guide-amd64", "html", "installation-guide-amd64",
     ["usr/share/doc/installation-guide-amd64/en/*.html"], None),
    ("debian-handbook", "html", "debian-handbook", ["usr/share/doc/debian-handbook/html/en-US/*.html"], None),
    ("debian-reference-en", "html", "debian-reference-en", ["usr/share/debian-reference/*.en.html"], None),
    ("developers-reference", "html", "developers-reference", ["usr/share/developers-reference/*.html"],
     r"/(search|genindex)\.html$"),
    ("debian-policy", "html", "debian-policy", ["usr/share/doc/debian-policy/**/*.html"],
     r"/(search|genindex)\.html$"),
    ("maint-guide", "html", "maint-guide", ["usr/share/doc/maint-guide/html/*.en.html"], None),
    ("debian-faq", "html", "debian-faq", ["usr/share/doc/debian/FAQ/*.en.html"], None),
    ("gnu-standards", "html", "gnu-standards", ["usr/share/doc/gnu-standards/*.html"], None),
    ("bash-doc", "html", "bash-doc", ["usr/share/doc/bash/*.html"], None),
    ("python3.11-doc", "html", "python3.11-doc", ["usr/share/doc/python3.11/html/**/*.html"],
     r"/(search|genindex[^/]*|py-modindex)\.html$|/_static/"),
    ("python-django-doc", "html", "python-django-doc", ["usr/share/doc/python-django-doc/html/**/*.html"],
     r"/(search|genindex[^/]*|py-modindex)\.html$|/_static/|/releases/"),
    ("linux-doc-6.1", "html", "linux-doc-6.1", ["usr/share/doc/linux-doc-6.1/html/**/*.html"],
     r"/(search|genindex)\.html$|/_static/|/translations/"),
    ("postgresql-doc-15", "html", "postgresql-doc-15", ["usr/share/doc/postgresql-doc-15/html/*.html"],
     r"/(bookindex|release-[^/]*)\.html$"),
    ("sqlite3-doc", "html", "sqlite3-doc", ["usr/share/doc/sqlite3/**/*.html"], r"/(releaselog|syntax)/"),
    ("git-doc", "html", "git-doc", ["usr/share/doc/git/**/*.html"], r"/RelNotes/"),
    ("apache2-doc", "html", "apache2-doc", ["usr/share/doc/apache2-doc/manual/en/**/*.html"], None),
    ("lilypond-doc-html", "html", "lilypond-doc-html",
     [f"usr/share/doc/lilypond/html/Documentation/{m}/*.html" for m in
      ("learning", "notation", "usage", "essay", "music-glossary", "extending", "changes", "web")], None),
    ("rust-doc", "html", "rust-doc",
     [f"usr/share/doc/rust-doc/html/{b}/**/*.html" for b in
      ("book", "nomicon", "reference", "rust-by-example", "edition-guide", "embedded-book", "rustc", "rustdoc",
       "unstable-book")], r"/print\.html$|/(search|toc)\.html$"),
    ("ghc-doc", "html", "ghc-doc", ["usr/share/doc/ghc-doc/html/users_guide/**/*.html"],
     r"/(search|genindex)\.html$|/_static/|/\d[^/]*-notes\.html$"),
    ("erlang-doc", "html", "erlang-doc", ["usr/share/doc/erlang-doc/**/*.html"], r"/jinterface|/wx-|/src/"),
    ("wireshark-doc", "html", "wireshark-doc", ["usr/share/doc/wireshark/wsug_html_chunked/*.html",
                                                "usr/share/doc/wireshark/wsdg_html_chunked/*.html"], None),
    ("vim-doc", "pre", "vim-doc", ["usr/share/doc/vim/html/*.html"], None),
    ("zsh-doc", "html", "zsh-doc", ["usr/share/doc/zsh-common/html/*.html"], None),
    ("exim4-doc-html", "html", "exim4-doc-html", ["usr/share/doc/exim4-doc-html/spec_html/*.html"], None),
    ("bind9-doc", "html", "bind9-doc", ["usr/share/doc/bind9-doc/arm/**/*.html"], r"/(search|genindex)\.html$"),
    ("postfix-doc", "html", "postfix-doc", ["usr/share/doc/postfix/html/*.html"], None),
    ("sphinx-doc", "html", "sphinx-doc", ["usr/share/doc/sphinx-doc/html/**/*.html"],
     r"/(search|genindex)\.html$|/_modules/|/changes\.html$"),
    ("python-sqlalchemy-doc", "html", "python-sqlalchemy-doc",
     ["usr/share/doc/python-sqlalchemy-doc/html/**/*.html"], r"/(search|genindex)\.html$|/changelog/"),
    ("python-sympy-doc", "html", "python-sympy-doc", ["usr/share/doc/python-sympy-doc/html/**/*.html"],
     r"/(search|genindex|py-modindex)\.html$|/_modules/"),
    ("python-scipy-doc", "html", "python-scipy-doc", ["usr/share/doc/python-scipy-doc/html/**/*.html"],
     r"/(search|genindex|py-modindex)\.html$|/_modules/|/release/"),
    ("python-pandas-doc", "html", "python-pandas-doc", ["usr/share/doc/python-pandas-doc/html/**/*.html"],
     r"/(search|genindex|py-modindex)\.html$|/_modules/|/whatsnew/"),
    ("cmake-doc", "html", "cmake-doc", ["usr/share/doc/cmake-data/html/**/*.html"],
     r"/(search|genindex)\.html$|/release/"),
    ("octave-doc", "html", "octave-doc", ["usr/share/doc/octave/octave.html/*.html"], None),
    ("maxima-doc", "html", "maxima-doc", ["usr/share/doc/maxima-doc/html/*.html"], None),
    ("openjdk-17-doc", "html", "openjdk-17-doc", ["usr/share/doc/openjdk-17-jre-headless/api/**/*.html"],
     r"/class-use/|/index-files/|-(tree|summary)\.html$|/(allclasses|allpackages|overview|index|serialized-form|constant-values|deprecated-list)[^/]*\.html$"),
    ("perl-doc", "pod", "perl-doc", ["usr/share/perl/*/pod/*.pod"], r"/perl5\d+delta\.pod$"),
    ("fortunes", "fortune", "fortunes", ["usr/share/games/fortunes/*"],
     r"\.(dat|u8)$|/(ascii-art|translate-me)$"),
]


def source_files(kind, root, includes, exclude):
    files = set()
    for pattern in includes:
        files.update(p for p in glob.glob(os.path.join(root, pattern), recursive=True) if os.path.isfile(p))
    rx = re.compile(exclude) if exclude else None
    return sorted(p for p in files if not (rx and rx.search(p)))


def chunk_documents(paragraphs):
    """Curated corpora have no document marks we can trust: cut them into runs of about DOC_CHARS."""
    docs, cur, size = [], [], 0
    for p in paragraphs:
        cur.append(p)
        size += len(p) + 1
        if size >= DOC_CHARS:
            docs.append(cur)
            cur, size = [], 0
    if cur:
        docs.append(cur)
    return docs


def extract(task):
    """One file -> (path, list of documents, paragraphs seen). Runs in worker processes."""
    kind, path = task
    if kind == "lines":
        text = decode_text(read_bytes(path))
        paras = [ln.strip() for ln in text.split("\n") if ln.strip()]
        return path, chunk_documents(paras), len(paras)
    if kind == "blocks":
        text = decode_text(read_bytes(path))
        paras = []
        for block in re.split(r"\n\s*\n", text):
            lines = [ln.rstrip() for ln in block.split("\n") if ln.strip()]
            if lines:
                paras.append("\n".join(lines))
        return path, chunk_documents(paras), len(paras)
    if kind == "html":
        paras = html_paragraphs(read_bytes(path))
    elif kind == "pre":
        paras = preformatted_paragraphs(read_bytes(path))
    elif kind == "pod":
        paras = pod_paragraphs(path)
    elif kind == "fortune":
        paras = fortune_paragraphs(read_bytes(path))
        return path, [[p] for p in paras], len(paras)
    else:
        raise ValueError(f"unknown source kind {kind}")
    kept = [p for p in paras if is_english_prose(p)]
    return path, ([kept] if kept else []), len(paras)


def load_heldout(paths):
    grams = set()
    for p in paths:
        with open(p, encoding="utf-8") as f:
            grams |= word_ngrams(f.read(), NGRAM)
    return grams


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", required=True, help="the shared data folder (nltk/, tinyshakespeare/, ...)")
    ap.add_argument("--unpacked", required=True, help="folder with one unpacked tree per Debian package")
    ap.add_argument("--debs", required=True, help="folder with the downloaded .deb files (for the manifest)")
    ap.add_argument("--out-text", required=True, help="corpus text file to write")
    ap.add_argument("--manifest", required=True, help="manifest JSON to write")
    ap.add_argument("--tokenizer", required=True, help="tokenizer.json (GPT-2 BPE, </s> prepended)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    args = ap.parse_args()

    heldout = [os.path.join(args.shared, "wikitext-2", n) for n in ("valid.txt", "test.txt")]
    heldout_grams = load_heldout(heldout)
    seen = set()
    stats = []
    tmp_text = args.out_text + ".tmp"
    with open(tmp_text, "w", encoding="utf-8", newline="\n") as out, multiprocessing.Pool(args.jobs) as pool:
        first = True
        for name, kind, package, includes, exclude in SOURCES:
            root = os.path.join(args.unpacked, package) if package else args.shared
            files = source_files(kind, root, includes, exclude)
            if not files:
                sys.exit(f"build_corpus: source {name}: no files match {includes} under {root}")
            st = {"name": name, "kind": kind, "package": package, "files": len(files), "paragraphs_seen": 0,
                  "paragraphs_kept": 0, "duplicates": 0, "heldout_overlap": 0, "documents": 0, "chars": 0}
            for _path, docs, n_seen in pool.imap(extract, [(kind, f) for f in files], chunksize=4):
                st["paragraphs_seen"] += n_seen
                for doc in docs:
                    kept = []
                    for p in doc:
                        key = dedup_key(p)
                        if key is not None:
                            if key in seen:
                                st["duplicates"] += 1
                                continue
                            seen.add(key)
                        if overlaps(p, heldout_grams, NGRAM):
                            st["heldout_overlap"] += 1
                            continue
                        kept.append(p)
                    if not kept:
                        continue
                    text = "\n".join(kept)
                    out.write(("" if first else "\n\n") + text)
                    first = False
                    st["documents"] += 1
                    st["paragraphs_kept"] += len(kept)
                    st["chars"] += len(text)
            print(f"{name:22s} files {st['files']:6d}  docs {st['documents']:6d}  paragraphs "
                  f"{st['paragraphs_kept']:8d}/{st['paragraphs_seen']:8d}  dups {st['duplicates']:7d}  "
                  f"wikitext-overlap {st['heldout_overlap']:4d}  chars {st['chars']:11d}", flush=True)
            stats.append(st)
        out.write("\n")
    os.replace(tmp_text, args.out_text)

    count_tokens(args.out_text, args.tokenizer, stats)
    debs = {}
    for deb in sorted(glob.glob(os.path.join(args.debs, "*.deb"))):
        debs[os.path.basename(deb)] = sha256_file(deb)
    manifest = {
        "format": "UTF-8 text; documents separated by one blank line; training prepends </s> to each",
        "sources": stats,
        "debian_packages": debs,
        "heldout_excluded": ["wikitext-2/valid.txt", "wikitext-2/test.txt"],
        "decontamination": f"paragraphs sharing any {NGRAM}-word sequence with the held-out files are dropped",
        "documents": sum(s["documents"] for s in stats),
        "chars": sum(s["chars"] for s in stats),
        "text_bytes": os.path.getsize(args.out_text),
        "text_sha256": sha256_file(args.out_text),
        "tokens": sum(s["tokens"] for s in stats),
        "tokens_note": "GPT-2 BPE tokens including one </s> per document",
    }
    tmp = args.manifest + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    os.replace(tmp, args.manifest)
    print(f"total: {manifest['documents']} documents, {manifest['chars']} chars, "
          f"{manifest['text_bytes']} bytes, {manifest['tokens']} tokens")


def count_tokens(text_path, tokenizer_path, stats):
    """Token counts per source, in the order the documents were written."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tokenizer_path)
    with open(text_path, encoding="utf-8") as f:
        docs = f.read().rstrip("\n").split("\n\n")
    expected = sum(s["documents"] for s in stats)
    if len(docs) != expected:
        sys.exit(f"build_corpus: {text_path}: {len(docs)} documents read back, {expected} written")
    start = 0
    for st in stats:
        n = 0
        part = docs[start:start + st["documents"]]
        for i in range(0, len(part), 2000):
            n += sum(len(e.ids) for e in tok.encode_batch(part[i:i + 2000], add_special_tokens=True))
        st["tokens"] = n
        start += st["documents"]
        print(f"{st['name']:22s} tokens {n:10d}", flush=True)


if __name__ == "__main__":
    main()
