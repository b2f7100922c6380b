#!/usr/bin/env bash
# build_corpus.sh: build the de-duplicated English training corpus for opt-mini (issue 4).
#
# Real OPT weights and web corpora cannot be downloaded here, so the model is trained on what the machines
# can reach: NLTK corpora and Tiny Shakespeare from the shared data folder, plus English prose stripped from
# Debian documentation packages (apt-get download, versions pinned below so the same inputs give the same
# bytes). WikiText-2 is never read as training text: it is held out for evaluation, and any paragraph that
# shares a 13-word sequence with its valid/test splits is dropped.
#
# Usage: scripts/build_corpus.sh [--shared DIR] [--work DIR] [--out DIR] [--no-update]
#   --shared   shared data folder (default: <repo>/../shared/data)
#   --work     scratch folder for .deb files, unpacked trees and the plain text (default: /tmp/dejavu-corpus)
#   --out      where corpus.txt.xz, manifest.json and tokenizer/ go (default: <repo>/.carry/corpus)
#   --no-update  skip `apt-get update` (the package lists are already current)
# Needs root (apt-get update), pod2text (perl), xz, python3 with `tokenizers`.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="$repo/../shared/data"
work="/tmp/dejavu-corpus"
out="$repo/.carry/corpus"
update=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --shared) shared="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-update) update=0; shift ;;
    *) echo "build_corpus.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
for f in "$shared/nltk/brown.txt" "$shared/tinyshakespeare/input.txt" "$shared/wikitext-2/test.txt" \
         "$shared/gpt2-bpe/encoder.json"; do
  [[ -f "$f" ]] || { echo "build_corpus.sh: $f: missing (is --shared the shared data folder?)" >&2; exit 2; }
done

# Debian bookworm documentation packages, pinned: a different version would change the corpus bytes.
packages=(
  apache2-doc=2.4.71-1~deb12u1 bash-doc=5.2.15-2 bind9-doc=1:9.18.49-1~deb12u3 cmake-doc=3.25.1-1
  debian-faq=11.1 debian-handbook=11.20220922 debian-history=2.28 debian-policy=4.6.2.0
  debian-reference-en=2.100 developers-reference=12.18 erlang-doc=1:25.2.3+dfsg-1+deb12u4
  exim4-doc-html=4.96-1 fortunes=1:1.99.1-7.3 ghc-doc=9.0.2-4 gimp-help-en=2.10.34-2
  git-doc=1:2.39.5-0+deb12u3 gnome-user-docs=43.0-2 gnu-standards=2022.03.23-0.1 gnucash-docs=4.13-1
  installation-guide-amd64=20230508+deb12u1 libreoffice-help-en-us=4:7.4.7-1+deb12u14
  lilypond-doc-html=2.24.1-2 linux-doc-6.1=6.1.192-2 maint-guide=1.2.53 maxima-doc=5.46.0-11
  octave-doc=7.3.0-2 openjdk-17-doc=17.0.21.1+2-1~deb12u1 perl-doc=5.36.0-7+deb12u4
  postfix-doc=3.7.11-0+deb12u1 postgresql-doc-15=15.20-0+deb12u1 python-django-doc=3:3.2.25-0+deb12u7
  python-pandas-doc=1.5.3+dfsg-2 python-scipy-doc=1.10.1-2 python-sqlalchemy-doc=1.4.46+ds1-1
  python-sympy-doc=1.11.1-1 python3.11-doc=3.11.2-6+deb12u9 rust-doc=1.63.0+dfsg1-2 sphinx-doc=5.3.0-4
  sqlite3-doc=3.40.1-2+deb12u2 vim-doc=2:9.0.1378-2+deb12u2 wireshark-doc=4.0.17-0+deb12u3 zsh-doc=5.9-4
)

mkdir -p "$work/debs" "$work/unpacked" "$out"
if [[ $update -eq 1 ]]; then
  apt-get update -qq
fi
# Download only what is missing: apt-get download names files <name>_<version, ':' as %3a>_<arch>.deb.
missing=()
for p in "${packages[@]}"; do
  name="${p%%=*}"; version="${p#*=}"
  ls "$work/debs/${name}_${version//:/%3a}_"*.deb >/dev/null 2>&1 || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  (cd "$work/debs" && apt-get download "${missing[@]}")
fi
for p in "${packages[@]}"; do
  name="${p%%=*}"
  deb=$(ls "$work/debs/${name}_"*.deb)
  rm -rf "$work/unpacked/$name.tmp"
  mkdir -p "$work/unpacked/$name.tmp"
  dpkg -x "$deb" "$work/unpacked/$name.tmp"
  rm -rf "$work/unpacked/$name"
  mv "$work/unpacked/$name.tmp" "$work/unpacked/$name"
done

# hash() decides the held-out n-gram lookups: fix its seed so even a hash collision repeats exactly.
export PYTHONHASHSEED=0
python3 "$repo/scripts/make_tokenizer_files.py" "$work/tokenizer"
python3 "$repo/scripts/corpus/build_corpus.py" --shared "$shared" --unpacked "$work/unpacked" \
  --debs "$work/debs" --out-text "$work/corpus.txt" --manifest "$work/manifest.json" \
  --tokenizer "$work/tokenizer/tokenizer.json"

# Single-threaded xz: its output depends only on the input and the preset.
xz -9 -T1 -c "$work/corpus.txt" > "$out/corpus.txt.xz.tmp"
mv "$out/corpus.txt.xz.tmp" "$out/corpus.txt.xz"
python3 - "$work/manifest.json" "$out/corpus.txt.xz" "$out/manifest.json" <<'EOF'
import hashlib, json, os, sys
manifest = json.load(open(sys.argv[1]))
xz = sys.argv[2]
manifest["xz_file"] = os.path.basename(xz)
manifest["xz_bytes"] = os.path.getsize(xz)
manifest["xz_sha256"] = hashlib.sha256(open(xz, "rb").read()).hexdigest()
with open(sys.argv[3] + ".tmp", "w") as f:
    json.dump(manifest, f, indent=2)
    f.write("\n")
os.replace(sys.argv[3] + ".tmp", sys.argv[3])
print(f"corpus: {manifest['documents']} documents, {manifest['text_bytes']} bytes of text, "
      f"{manifest['tokens']} GPT-2 tokens; {xz}: {manifest['xz_bytes']} bytes, sha256 {manifest['xz_sha256']}")
EOF
rm -rf "$out/tokenizer"
cp -r "$work/tokenizer" "$out/tokenizer"
