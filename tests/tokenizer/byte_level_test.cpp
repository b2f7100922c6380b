// byte_level_test.cpp: the GPT-2 byte <-> unicode mapping and the strict UTF-8 decoder under it.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/utf8.h"
#include "tests/tokenizer/tokenizer_test_util.h"

namespace dv {
namespace {

TEST(ByteLevel, EveryByteHasADistinctPrintableSpelling) {
  const ByteLevel bl;
  std::set<std::string> seen;
  for (int b = 0; b < 256; ++b) {
    const std::string& s = bl.byte_spelling(static_cast<uint8_t>(b));
    EXPECT_TRUE(seen.insert(s).second) << "byte " << b;
    const Utf8Step step = decode_utf8(s, 0);
    ASSERT_TRUE(step.valid);
    EXPECT_EQ(step.len, s.size());
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    if (printable) {
      EXPECT_EQ(step.cp, static_cast<char32_t>(b)) << "byte " << b;
    } else {
      EXPECT_GE(step.cp, 0x100u) << "byte " << b;
      EXPECT_LT(step.cp, 0x144u) << "byte " << b;
    }
  }
  // The spellings every GPT-2 vocabulary shows: space is "Ġ" (U+0120), newline "Ċ" (U+010A).
  EXPECT_EQ(bl.byte_spelling(' '), "\xC4\xA0");
  EXPECT_EQ(bl.byte_spelling('\n'), "\xC4\x8A");
  EXPECT_EQ(bl.byte_spelling(0), "\xC4\x80");
}

TEST(ByteLevel, RandomBytesRoundTrip) {
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937 rng(seed);
  const ByteLevel bl;
  for (int trial = 0; trial < 200; ++trial) {
    std::string bytes(rng() % 97, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() & 0xFF);
    const std::string token = bl.to_token(bytes);
    EXPECT_FALSE(find_invalid_utf8(token).has_value());
    std::string back;
    bl.append_bytes(token, back);
    ASSERT_EQ(back, bytes);
  }
}

TEST(ByteLevel, CharactersOutsideTheMappingDecodeAsThemselves) {
  const ByteLevel bl;
  std::string out;
  bl.append_bytes("a\xE4\xB8\xAD" "b", out);  // "a中b": 中 is no stand-in character
  EXPECT_EQ(out, "a\xE4\xB8\xAD" "b");
}

TEST(Utf8, DecodesValidSequences) {
  const std::string text = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80";  // a é 中 😀
  const char32_t want[] = {U'a', 0xE9, 0x4E2D, 0x1F600};
  size_t pos = 0;
  for (const char32_t cp : want) {
    const Utf8Step step = decode_utf8(text, pos);
    ASSERT_TRUE(step.valid);
    EXPECT_EQ(step.cp, cp);
    pos += step.len;
  }
  EXPECT_EQ(pos, text.size());
  EXPECT_FALSE(find_invalid_utf8(text).has_value());
}

TEST(Utf8, RejectsWhatPythonRejects) {
  const std::pair<std::string, size_t> cases[] = {
      {"ab\xC0\xAF", 2},              // overlong "/"
      {"\xED\xA0\x80", 0},            // UTF-16 surrogate
      {"x\xF4\x90\x80\x80", 1},       // above U+10FFFF
      {"ok\xE4\xB8", 2},              // truncated at the end
      {"\xE4\x41\x42", 0},            // continuation byte missing
      {"abc\x80", 3},                 // stray continuation byte
      {"\xF8\x88\x80\x80\x80", 0},    // five-byte form
  };
  for (const auto& [text, offset] : cases) {
    const auto bad = find_invalid_utf8(text);
    ASSERT_TRUE(bad.has_value()) << testing::PrintToString(text);
    EXPECT_EQ(*bad, offset) << testing::PrintToString(text);
    EXPECT_FALSE(decode_utf8(text, offset).valid);
    EXPECT_EQ(decode_utf8(text, offset).len, 1);
  }
}

}  // namespace
}  // namespace dv
