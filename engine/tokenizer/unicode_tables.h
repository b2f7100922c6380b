// unicode_tables.h: the code point classes GPT-2's pre-tokenizer regex distinguishes (\p{L}, \p{N}, \s).
// std::regex has no Unicode properties, so the classes come from range tables that
// scripts/gen_unicode_tables.py generates from Python's unicodedata (unicode_tables.cpp).
#pragma once

#include <cstddef>

namespace dv {

struct CodeRange {
  char32_t lo;  // first code point, inclusive
  char32_t hi;  // last code point, inclusive
};

namespace unicode_tables {
extern const CodeRange kLetter[];
extern const size_t kLetterSize;
extern const CodeRange kNumber[];
extern const size_t kNumberSize;
extern const CodeRange kSpace[];
extern const size_t kSpaceSize;
}  // namespace unicode_tables

// What one code point is to the GPT-2 regex. kOther is [^\s\p{L}\p{N}] (punctuation, symbols, controls,
// unassigned code points, and bytes that are not valid UTF-8).
enum class CharClass : unsigned char { kLetter, kNumber, kSpace, kOther };

CharClass char_class(char32_t cp);

}  // namespace dv
