// pre_tokenizer_test.cpp: the code point classes and the hand-written GPT-2 regex, on cases whose splits
// were checked against Hugging Face tokenizers' ByteLevel pre-tokenizer.
#include <gtest/gtest.h>

#include <random>

#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/unicode_tables.h"
#include "tests/tokenizer/tokenizer_test_util.h"

namespace dv {
namespace {

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string_view> pieces;
  pre_tokenize(text, pieces);
  return {pieces.begin(), pieces.end()};
}

TEST(CharClass, MatchesTheRegexClasses) {
  EXPECT_EQ(char_class(U'a'), CharClass::kLetter);
  EXPECT_EQ(char_class(0xE9), CharClass::kLetter);     // é
  EXPECT_EQ(char_class(0x4E2D), CharClass::kLetter);   // 中
  EXPECT_EQ(char_class(0x05D0), CharClass::kLetter);   // Hebrew alef
  EXPECT_EQ(char_class(0x1C89), CharClass::kLetter);   // Unicode 16 letter, unassigned in Python 3.11
  EXPECT_EQ(char_class(U'7'), CharClass::kNumber);
  EXPECT_EQ(char_class(0x0663), CharClass::kNumber);   // Arabic-Indic three
  EXPECT_EQ(char_class(0xBD), CharClass::kNumber);     // ½ (No)
  EXPECT_EQ(char_class(0x2167), CharClass::kNumber);   // Roman numeral eight (Nl)
  for (char32_t s : {U' ', U'\t', U'\n', U'\r', U'\v', U'\f', char32_t{0x85}, char32_t{0xA0}, char32_t{0x1680},
                     char32_t{0x2003}, char32_t{0x2028}, char32_t{0x3000}}) {
    EXPECT_EQ(char_class(s), CharClass::kSpace) << std::hex << static_cast<uint32_t>(s);
  }
  EXPECT_EQ(char_class(0x1C), CharClass::kOther);      // str.isspace() says yes, White_Space says no
  EXPECT_EQ(char_class(0x200B), CharClass::kOther);    // zero-width space is not White_Space
  EXPECT_EQ(char_class(0x0301), CharClass::kOther);    // combining acute (Mn)
  EXPECT_EQ(char_class(0x1F600), CharClass::kOther);   // emoji
  EXPECT_EQ(char_class(0x10FFFF), CharClass::kOther);
}

TEST(PreTokenizer, GptTwoSplits) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(split("  x"), (V{" ", " x"}));
  EXPECT_EQ(split(" \n\nfoo"), (V{" \n", "\n", "foo"}));
  EXPECT_EQ(split("a\n\n"), (V{"a", "\n\n"}));
  EXPECT_EQ(split("x   "), (V{"x", "   "}));
  EXPECT_EQ(split("a\r\n b"), (V{"a", "\r\n", " b"}));
  EXPECT_EQ(split("I'm they're it's"), (V{"I", "'m", " they", "'re", " it", "'s"}));
  EXPECT_EQ(split("I'M"), (V{"I", "'", "M"}));        // contractions are lower case only
  EXPECT_EQ(split(" 's"), (V{" '", "s"}));
  EXPECT_EQ(split("'ll've'd"), (V{"'ll", "'ve", "'d"}));
  EXPECT_EQ(split("123abc 4.5"), (V{"123", "abc", " 4", ".", "5"}));
  EXPECT_EQ(split("!!?  ;)"), (V{"!!?", " ", " ;)"}));
  EXPECT_EQ(split("\t\tx"), (V{"\t", "\t", "x"}));
  EXPECT_EQ(split("caf\xC3\xA9 na\xC3\xAFve"), (V{"caf\xC3\xA9", " na\xC3\xAFve"}));
  EXPECT_EQ(split("e\xCC\x81t\xC3\xA9"), (V{"e", "\xCC\x81", "t\xC3\xA9"}));  // combining mark splits
  EXPECT_EQ(split("\xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80\xF0\x9F\x98\x80"),
            (V{"\xE4\xB8\xAD\xE6\x96\x87", " \xF0\x9F\x98\x80\xF0\x9F\x98\x80"}));
  EXPECT_EQ(split("a\xE3\x80\x80" "b"), (V{"a", "\xE3\x80\x80", "b"}));  // U+3000 is \s but not " "
  EXPECT_EQ(split(""), V{});
}

TEST(PreTokenizer, PiecesTileAnyByteString) {
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937 rng(seed);
  const char* alphabet[] = {"a", "Z", "9", " ", "  ", "\n", "\r\n", "\t", "'s", "'", "!", "\xC3\xA9", "\xE3\x80\x80",
                            "\xF0\x9F\x98\x80", "\xCC\x81", "\xFF", "\x80", "\xE4\xB8"};
  for (int trial = 0; trial < 500; ++trial) {
    std::string text;
    for (unsigned i = rng() % 40; i > 0; --i) text += alphabet[rng() % std::size(alphabet)];
    std::vector<std::string_view> pieces;
    pre_tokenize(text, pieces);
    std::string joined;
    for (std::string_view p : pieces) {
      ASSERT_FALSE(p.empty());
      joined += p;
    }
    ASSERT_EQ(joined, text);
  }
}

}  // namespace
}  // namespace dv
