"""text_extract.py: turn one source file (HTML, Perl POD, plain text, fortune file) into paragraphs of prose.

The training corpus is built from Debian documentation, which is mostly HTML made by Sphinx, DocBook or
hand-written pages. Only running text is wanted: code listings, navigation bars, sidebars and syntax
diagrams would teach the model markup instead of English. Each extractor returns the file's paragraphs in
document order, whitespace collapsed to single spaces (line structure kept only where a source is verse or
dialogue), so that the filters and the de-duplication in build_corpus.py see one unit per paragraph.
"""
import gzip
import html.parser
import re
import subprocess

# Elements whose whole content is dropped: code, scripts, navigation and other page furniture.
SKIP_TAGS = {"script", "style", "pre", "head", "nav", "noscript", "svg", "math", "textarea", "select",
             "button", "form", "object", "iframe", "map", "kbd", "samp"}
# Class names (Sphinx, DocBook, hand-made sites) that mark navigation, code or decoration.
SKIP_CLASSES = {"sphinxsidebar", "related", "footer", "headerlink", "highlight", "navheader", "navfooter",
                "toc", "breadcrumbs", "sidebar", "synopsis", "programlisting", "screen", "literallayout",
                "cmdsynopsis", "funcsynopsis", "menu", "toctree-wrapper", "navigation", "sig", "rellink",
                "footnotes", "copyright", "sectionlinks", "bottomlang", "toplang", "up", "syntax", "codeblock"}
# Elements that start and end a paragraph; every other element is inline and joins the text around it.
BLOCK_TAGS = {"p", "div", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "table",
              "tr", "td", "th", "blockquote", "section", "article", "hr", "caption", "figure", "figcaption",
              "header", "footer", "main", "body", "br", "aside", "center", "address", "tbody", "thead"}
# Elements that never get an end tag, so they must not be pushed on the open-element stack.
VOID_TAGS = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source", "track",
             "wbr", "param"}

_WS = re.compile(r"\s+")


def collapse(text):
    return _WS.sub(" ", text).strip()


class _ProseParser(html.parser.HTMLParser):
    """Collects the text of block elements outside skipped subtrees, one paragraph per block."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []  # (tag, skipping) for each open non-void element
        self.paragraphs = []
        self.buf = []

    def _skipping(self):
        return bool(self.stack) and self.stack[-1][1]

    def _flush(self):
        text = collapse("".join(self.buf))
        self.buf = []
        if text:
            self.paragraphs.append(text)

    def handle_starttag(self, tag, attrs):
        if tag in BLOCK_TAGS:
            self._flush()
        if tag in VOID_TAGS:
            if tag in ("br", "wbr") and not self._skipping():
                self.buf.append(" ")
            return
        classes = set()
        for name, value in attrs:
            if name == "class" and value:
                classes.update(value.split())
        skip = self._skipping() or tag in SKIP_TAGS or bool(classes & SKIP_CLASSES)
        self.stack.append((tag, skip))

    def handle_startendtag(self, tag, attrs):
        if tag in BLOCK_TAGS:
            self._flush()

    def handle_endtag(self, tag):
        if tag in BLOCK_TAGS:
            self._flush()
        # Pop up to the matching open element; a stray end tag with no match is ignored.
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if not self._skipping():
            self.buf.append(data)


def html_paragraphs(raw_bytes):
    text = raw_bytes.decode("utf-8", errors="replace")
    parser = _ProseParser()
    parser.feed(text)
    parser.close()
    parser._flush()
    return parser.paragraphs


class _AllTextParser(html.parser.HTMLParser):
    """Every text node, line breaks kept: for pages that wrap a plain-text manual in <pre> (Vim's help)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head"):
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def preformatted_paragraphs(raw_bytes):
    """Blank-line separated blocks of a plain-text manual; indented blocks (examples, tables) are dropped."""
    parser = _AllTextParser()
    parser.feed(raw_bytes.decode("utf-8", errors="replace"))
    parser.close()
    paragraphs = []
    for block in re.split(r"\n[ \t]*\n", "".join(parser.parts)):
        block = block.strip("\n")
        if block and not block[0].isspace():
            paragraphs.append(collapse(block))
    return paragraphs


def pod_paragraphs(path):
    """Perl POD through pod2text; verbatim (code) blocks are indented deeper than prose and are dropped."""
    out = subprocess.run(["pod2text", "--indent=4", path], check=True, capture_output=True)
    text = out.stdout.decode("utf-8", errors="replace")
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln for ln in block.split("\n") if ln.strip()]
        if not lines:
            continue
        indent = min(len(ln) - len(ln.lstrip(" ")) for ln in lines)
        if indent > 4:  # pod2text puts verbatim paragraphs at --indent plus their own indentation
            continue
        paragraphs.append(collapse(" ".join(lines)))
    return paragraphs


def fortune_paragraphs(raw_bytes):
    """A fortune file: entries separated by lines holding a single '%'. Each entry keeps its line breaks."""
    text = raw_bytes.decode("utf-8", errors="replace")
    entries = []
    for entry in re.split(r"^%\s*$", text, flags=re.M):
        lines = [ln.strip() for ln in entry.strip("\n").split("\n") if ln.strip()]
        if lines:
            entries.append("\n".join(lines))
    return entries


def decode_text(raw_bytes):
    """UTF-8, except that a line in a legacy 8-bit encoding (one in NLTK's abc.txt) is read as cp1252."""
    try:
        return raw_bytes.decode("utf-8")
    except UnicodeDecodeError:
        lines = []
        for line in raw_bytes.split(b"\n"):
            try:
                lines.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(line.decode("cp1252", errors="replace"))
        return "\n".join(lines)


def read_bytes(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    return data
