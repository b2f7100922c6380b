// pre_tokenizer.cpp: the GPT-2 regex as a hand-written scanner. At each position the alternatives are tried
// in the regex's order; the only backtracking case is \s+(?!\S), which gives back a whitespace run's last
// character when a non-space follows (so " \n\nfoo" splits " \n", "\n", "foo" and "  x" splits " ", " x").
#include "engine/tokenizer/pre_tokenizer.h"

#include "engine/tokenizer/unicode_tables.h"
#include "engine/tokenizer/utf8.h"

namespace dv {
namespace {

struct CodePoint {
  CharClass cls;
  size_t len;
};

CodePoint at(std::string_view text, size_t pos) {
  const auto b = static_cast<unsigned char>(text[pos]);
  if (b < 0x80) return {char_class(b), 1};
  const Utf8Step step = decode_utf8(text, pos);
  return {step.valid ? char_class(step.cp) : CharClass::kOther, step.len};
}

// End of the run of cls starting at pos; last_start receives where the run's last code point begins.
size_t run_end(std::string_view text, size_t pos, CharClass cls, size_t* last_start = nullptr) {
  while (pos < text.size()) {
    const CodePoint cp = at(text, pos);
    if (cp.cls != cls) break;
    if (last_start) *last_start = pos;
    pos += cp.len;
  }
  return pos;
}

// Length of a contraction ('s 't 're 've 'm 'll 'd, lower case only, as in the regex) at pos, or 0.
size_t contraction_len(std::string_view text, size_t pos) {
  if (text[pos] != '\'' || pos + 1 >= text.size()) return 0;
  const char c1 = text[pos + 1];
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  if (pos + 2 >= text.size()) return 0;
  const char c2 = text[pos + 2];
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

}  // namespace

void pre_tokenize(std::string_view text, std::vector<std::string_view>& pieces) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end;
    if (const size_t len = contraction_len(text, pos)) {
      end = pos + len;
    } else if (text[pos] == ' ' && pos + 1 < text.size() && at(text, pos + 1).cls != CharClass::kSpace) {
      // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": a single ASCII space joins the run after it.
      end = run_end(text, pos + 1, at(text, pos + 1).cls);
    } else if (const CharClass cls = at(text, pos).cls; cls != CharClass::kSpace) {
      end = run_end(text, pos, cls);
    } else {
      size_t last_start = pos;
      end = run_end(text, pos, CharClass::kSpace, &last_start);
      // \s+(?!\S): before a non-space the run stops one character short; a one-character run is \s+.
      if (end < text.size() && last_start > pos) end = last_start;
    }
    pieces.push_back(text.substr(pos, end - pos));
    pos = end;
  }
}

}  // namespace dv
