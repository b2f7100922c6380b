// bpe_tokenizer_test.cpp: merging by rank, the checkpoint's own ids, special tokens from the config files,
// byte-exact decoding, and known GPT-2 answers on the real merges (when the shared data is present).
#include <gtest/gtest.h>

#include <random>

#include "engine/tokenizer/bpe_tokenizer.h"
#include "kernels/common/error.h"
#include "tests/common/missing_dependency.h"
#include "tests/tokenizer/tokenizer_test_util.h"

namespace dv {
namespace {

using V = std::vector<std::string>;

class TinyModel : public testing::Test {
 protected:
  void SetUp() override {
    seed_ = test::fresh_seed();
    vocab_ = test::write_tiny_model(dir_, seed_);
  }
  int32_t id(const std::string& token) const {
    for (const auto& [t, i] : vocab_) {
      if (t == token) return i;
    }
    ADD_FAILURE() << "no token " << token;
    return -1;
  }
  test::TempDir dir_;
  uint32_t seed_ = 0;
  std::vector<std::pair<std::string, int32_t>> vocab_;
};

TEST_F(TinyModel, MergesByRankWithTheVocabularysIds) {
  SCOPED_TRACE(testing::Message() << "seed " << seed_);
  BpeTokenizer tok = BpeTokenizer::load(dir_.path());
  EXPECT_EQ(tok.encode("hello", false), std::vector<int32_t>{id("hello")});
  EXPECT_EQ(test::spell(tok, tok.encode("hello world", false)), (V{"hello", "Ġwor", "l", "d"}));
  EXPECT_EQ(test::spell(tok, tok.encode("abc", false)), (V{"ab", "c"}));  // "a b" outranks "b c"
  EXPECT_EQ(test::spell(tok, tok.encode("bc", false)), (V{"bc"}));
  EXPECT_EQ(test::spell(tok, tok.encode("aaa", false)), (V{"aa", "a"}));  // equal ranks: leftmost first
  EXPECT_EQ(test::spell(tok, tok.encode("aaaaa", false)), (V{"aa", "aa", "a"}));
  EXPECT_EQ(test::spell(tok, tok.encode("x\n\n", false)), (V{"x", "ĊĊ"}));
  EXPECT_EQ(test::spell(tok, tok.encode("x\n\ny", false)), (V{"x", "Ċ", "Ċ", "y"}));
  EXPECT_EQ(tok.vocab_size(), static_cast<int32_t>(vocab_.size()));
  EXPECT_EQ(tok.token_to_id("Ġwor"), id("Ġwor"));
  EXPECT_FALSE(tok.token_to_id("nope").has_value());
  EXPECT_EQ(tok.id_to_token(id("hell")), "hell");
}

TEST_F(TinyModel, DefaultSpecialsAreOpts) {
  BpeTokenizer tok = BpeTokenizer::load(dir_.path());
  EXPECT_EQ(tok.bos_id(), id("</s>"));
  EXPECT_EQ(tok.eos_id(), id("</s>"));
  EXPECT_EQ(tok.pad_id(), id("<pad>"));
  const std::vector<int32_t> ids = tok.encode("he</s>ab<pad>", true);
  EXPECT_EQ(ids, (std::vector<int32_t>{id("</s>"), id("he"), id("</s>"), id("ab"), id("<pad>")}));
  EXPECT_EQ(tok.decode(ids), "</s>he</s>ab<pad>");
  EXPECT_EQ(tok.encode("", true), std::vector<int32_t>{id("</s>")});
  EXPECT_TRUE(tok.encode("", false).empty());
}

TEST_F(TinyModel, SpecialsFromConfigFiles) {
  const int32_t new_id = static_cast<int32_t>(vocab_.size()) + 3;  // ids may skip values
  dir_.write("tokenizer_config.json", R"({
    "tokenizer_class": "GPT2Tokenizer", "add_bos_token": true,
    "bos_token": {"content": "<s>", "lstrip": false, "normalized": false, "__type": "AddedToken"},
    "eos_token": "</s>", "unk_token": null,
    "added_tokens_decoder": {")" + std::to_string(new_id) + R"(": {"content": "<s>", "special": true},
                             ")" + std::to_string(new_id + 1) + R"(": {"content": "<|\u00e9|>", "special": true}}})");
  dir_.write("special_tokens_map.json", R"({"eos_token": {"content": "<pad>"}, "pad_token": "<pad>"})");
  BpeTokenizer tok = BpeTokenizer::load(dir_.path());
  EXPECT_EQ(tok.bos_id(), new_id);
  EXPECT_EQ(tok.eos_id(), id("<pad>"));  // special_tokens_map.json wins over tokenizer_config.json
  EXPECT_EQ(tok.vocab_size(), new_id + 2);
  const std::vector<int32_t> ids = tok.encode("a<s>b<|\xC3\xA9|><pad>", true);
  EXPECT_EQ(ids, (std::vector<int32_t>{new_id, id("a"), new_id, id("b"), new_id + 1, id("<pad>")}));
  EXPECT_EQ(tok.decode(ids), "<s>a<s>b<|\xC3\xA9|><pad>");  // added tokens decode as their own text
  EXPECT_EQ(tok.encode("</s>", false).size(), 4u);  // no longer special: the config replaced it
  EXPECT_THROW(tok.id_to_token(new_id - 1), Error);       // a skipped id names no token
  EXPECT_THROW(tok.decode({new_id - 1}), Error);
  EXPECT_THROW(tok.decode({-1}), Error);
  EXPECT_THROW(tok.decode({new_id + 2}), Error);
}

TEST_F(TinyModel, AnyBytesRoundTrip) {
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937 rng(seed);
  BpeTokenizer tok = BpeTokenizer::load(dir_.path());
  const char* alphabet[] = {"hello", " world", "a", "b", "c", " ", "\n", "\t", "</s>", "<pad>", "\xC3\xA9",
                            "\xFF", "\x80", "\xE4\xB8", "'s", "9", "\xF0\x9F\x98\x80"};
  for (int trial = 0; trial < 300; ++trial) {
    std::string text;
    for (unsigned i = rng() % 30; i > 0; --i) text += alphabet[rng() % std::size(alphabet)];
    const std::vector<int32_t> ids = tok.encode(text, true);
    ASSERT_EQ(ids.front(), tok.bos_id());
    ASSERT_EQ(tok.decode(ids), "</s>" + text);
  }
}

class Gpt2Model : public testing::Test {
 protected:
  void SetUp() override {
    if (!test::write_gpt2_model(dir_)) DV_MISSING_DEPENDENCY("shared data gpt2-bpe not found (set DEJAVU_DATA_DIR)");
  }
  test::TempDir dir_;
};

TEST_F(Gpt2Model, KnownIds) {
  BpeTokenizer tok = BpeTokenizer::load(dir_.path());
  EXPECT_EQ(tok.vocab_size(), 50258);
  EXPECT_EQ(tok.bos_id(), 50256);
  EXPECT_EQ(tok.pad_id(), 50257);
  EXPECT_EQ(tok.encode("Hello world", true), (std::vector<int32_t>{50256, 15496, 995}));
  EXPECT_EQ(tok.encode(" Hello world", false), (std::vector<int32_t>{18435, 995}));
  EXPECT_EQ(tok.encode("a\n\nb", false), (std::vector<int32_t>{64, 198, 198, 65}));
  EXPECT_EQ(tok.encode("a\n\n", false), (std::vector<int32_t>{64, 628}));
  EXPECT_EQ(tok.encode("<|endoftext|>", false),  // renamed "</s>", so plain text now
            (std::vector<int32_t>{27, 91, 437, 1659, 5239, 91, 29}));
  const std::string text = "Ça va? 中文, emoji \xF0\x9F\x98\x80, \xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D  \t x\r\n";
  EXPECT_EQ(tok.decode(tok.encode(text, false)), text);
}

}  // namespace
}  // namespace dv
