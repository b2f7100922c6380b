// byte_level.h: GPT-2's reversible byte <-> unicode mapping (bytes_to_unicode in openai/gpt-2 encoder.py).
// Byte-level BPE vocabularies store tokens as strings of these stand-in characters, so every byte sequence,
// valid UTF-8 or not, has a spelling: printable Latin-1 bytes map to themselves, the other 68 to U+0100...
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace dv {

class ByteLevel {
 public:
  ByteLevel();

  // The UTF-8 spelling of one byte's stand-in character.
  const std::string& byte_spelling(uint8_t b) const { return spelling_[b]; }
  // The stand-in spelling of raw bytes (what a vocabulary key looks like).
  std::string to_token(std::string_view bytes) const;
  // Appends the raw bytes a token string stands for; characters outside the mapping (found only in added
  // tokens) are kept as their own UTF-8, as the Hugging Face ByteLevel decoder does.
  void append_bytes(std::string_view token, std::string& out) const;

 private:
  static constexpr char32_t kMaxStandIn = 0x144;  // 256 + 68: the largest stand-in code point, plus one
  std::array<std::string, 256> spelling_;
  std::array<int16_t, kMaxStandIn> byte_of_;  // stand-in code point -> byte, -1 if none
};

}  // namespace dv
