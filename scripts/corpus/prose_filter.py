"""prose_filter.py: keep English prose paragraphs, drop code, tables of symbols and other languages.

Documentation packages mix running English with command lines, option tables, identifiers and (in some
packages) translations. A trained model should see English, so each paragraph from a documentation source
passes simple, deterministic tests: enough words, mostly letters, few code symbols, ASCII Latin letters,
and a share of English function words that code and foreign text do not reach. Curated corpora (NLTK,
Shakespeare) skip these tests. Also here: the normalised key used for de-duplication and the n-gram
fingerprint used to keep WikiText-2 (held out for evaluation) out of the corpus.
"""
import hashlib
import re

# Common English function words; code, option tables and non-English text rarely reach 15% of these.
STOPWORDS = frozenset("""
a about above after again against all also an and any are as at be because been before being below between
both but by can could did do does doing down during each either else few for from further had has have
having he her here hers him his how however i if in into is it its itself just may might more most must my
no nor not now of off on once only or other our out over own same she should since so some such than that
the their them then there these they this those through thus to too under until up upon very was we were
what when where whether which while who whom why will with within without would you your
""".split())

CODE_SYMBOLS = frozenset("{}[]<>=;_\\|$#@^`~")
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_KEY = re.compile(r"[^0-9a-z]+")


def is_english_prose(paragraph, min_words=6):
    """True when the paragraph reads as English running text rather than code, a table or a translation."""
    words = paragraph.split()
    if len(words) < min_words:
        return False
    n = len(paragraph)
    letters = sum(c.isalpha() for c in paragraph)
    ascii_letters = sum(("a" <= c <= "z") or ("A" <= c <= "Z") for c in paragraph)
    if letters == 0 or ascii_letters < 0.98 * letters:
        return False
    if (letters + paragraph.count(" ")) < 0.78 * n:
        return False
    if sum(c in CODE_SYMBOLS for c in paragraph) > 0.03 * n:
        return False
    if sum(len(w) for w in words) > 9.0 * len(words):
        return False
    plain = _WORD.findall(paragraph.lower())
    if len(plain) < 0.7 * len(words):
        return False
    stop = sum(w in STOPWORDS for w in plain)
    return stop >= 0.2 * len(plain)


def dedup_key(paragraph):
    """Case, punctuation and spacing do not make two paragraphs different; None for too-short paragraphs."""
    key = _KEY.sub(" ", paragraph.lower()).strip()
    if len(key) < 24:
        return None
    return hashlib.sha1(key.encode("utf-8")).digest()


def word_ngrams(text, n):
    """Hashes of the lower-cased alphanumeric word n-grams of text (WikiText's ' @-@ ' etc. vanish)."""
    words = _KEY.sub(" ", text.lower()).split()
    return {hash(" ".join(words[i:i + n])) for i in range(len(words) - n + 1)}


def overlaps(paragraph, ngram_set, n):
    words = _KEY.sub(" ", paragraph.lower()).split()
    return any(hash(" ".join(words[i:i + n])) in ngram_set for i in range(len(words) - n + 1))
