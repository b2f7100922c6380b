// unicode_class.cpp: char_class(), a lookup into the generated range tables with an ASCII fast path.
// ASCII dominates real text, so it is answered from a 128-entry table; the rest by binary search.
#include <algorithm>
#include <array>

#include "engine/tokenizer/unicode_tables.h"

namespace dv {
namespace {

bool in_table(const CodeRange* table, size_t size, char32_t cp) {
  const CodeRange* end = table + size;
  const CodeRange* it = std::upper_bound(table, end, cp, [](char32_t c, const CodeRange& r) { return c < r.lo; });
  return it != table && cp <= (it - 1)->hi;
}

CharClass classify(char32_t cp) {
  using namespace unicode_tables;
  if (in_table(kLetter, kLetterSize, cp)) return CharClass::kLetter;
  if (in_table(kNumber, kNumberSize, cp)) return CharClass::kNumber;
  if (in_table(kSpace, kSpaceSize, cp)) return CharClass::kSpace;
  return CharClass::kOther;
}

// Built once, read-only afterwards: a constant table, not mutable global state.
const std::array<CharClass, 128>& ascii_classes() {
  static const std::array<CharClass, 128> table = [] {
    std::array<CharClass, 128> t{};
    for (char32_t c = 0; c < 128; ++c) t[c] = classify(c);
    return t;
  }();
  return table;
}

}  // namespace

CharClass char_class(char32_t cp) { return cp < 128 ? ascii_classes()[cp] : classify(cp); }

}  // namespace dv
