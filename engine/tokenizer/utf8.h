// utf8.h: decoding UTF-8 one code point at a time, and validating whole buffers.
// The pre-tokenizer walks code points; the text reader reports the byte offset of the first bad sequence.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace dv {

// One decoded step: the code point and how many bytes it took. An invalid or truncated sequence (overlong
// forms, surrogates and values past U+10FFFF included) decodes as one byte with valid == false.
struct Utf8Step {
  char32_t cp;
  unsigned char len;
  bool valid;
};

Utf8Step decode_utf8(std::string_view text, size_t pos);

// Byte offset of the first invalid UTF-8 sequence in text, or nullopt when all of it is valid.
std::optional<size_t> find_invalid_utf8(std::string_view text);

}  // namespace dv
