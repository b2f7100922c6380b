// byte_level.cpp: builds the GPT-2 byte <-> unicode tables and converts between bytes and token spellings.
#include "engine/tokenizer/byte_level.h"

#include "engine/tokenizer/utf8.h"

namespace dv {
namespace {

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool maps_to_itself(unsigned b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

}  // namespace

ByteLevel::ByteLevel() {
  byte_of_.fill(-1);
  char32_t next = 256;  // bytes that are not printable take U+0100, U+0101, ... in byte order
  for (unsigned b = 0; b < 256; ++b) {
    const char32_t cp = maps_to_itself(b) ? b : next++;
    append_utf8(cp, spelling_[b]);
    byte_of_[cp] = static_cast<int16_t>(b);
  }
}

std::string ByteLevel::to_token(std::string_view bytes) const {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += spelling_[b];
  return out;
}

void ByteLevel::append_bytes(std::string_view token, std::string& out) const {
  size_t pos = 0;
  while (pos < token.size()) {
    const Utf8Step step = decode_utf8(token, pos);
    if (step.valid && step.cp < kMaxStandIn && byte_of_[step.cp] >= 0) {
      out += static_cast<char>(byte_of_[step.cp]);
    } else {
      out.append(token.substr(pos, step.len));
    }
    pos += step.len;
  }
}

}  // namespace dv
