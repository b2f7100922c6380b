// tokenizer_errors_test.cpp: every malformed tokenizer file gives a one-line dv::Error naming the file (and
// the line where there is one), never a crash.
#include <gtest/gtest.h>

#include "engine/tokenizer/bpe_tokenizer.h"
#include "kernels/common/error.h"
#include "tests/tokenizer/tokenizer_test_util.h"

namespace dv {
namespace {

// The message load() throws for the directory, or "" when it loads.
std::string load_error(const test::TempDir& dir) {
  try {
    BpeTokenizer::load(dir.path());
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    return e.what();
  }
  return "";
}

class BrokenFiles : public testing::Test {
 protected:
  void SetUp() override { test::write_tiny_model(dir_, test::fresh_seed()); }
  void expect_error(const std::vector<std::string>& parts) {
    const std::string message = load_error(dir_);
    ASSERT_FALSE(message.empty()) << "load succeeded";
    for (const std::string& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
  }
  test::TempDir dir_;
};

TEST_F(BrokenFiles, TheTinyModelItselfLoads) { EXPECT_EQ(load_error(dir_), ""); }

TEST_F(BrokenFiles, MissingFiles) {
  std::remove(dir_.file("merges.txt").c_str());
  expect_error({dir_.file("merges.txt"), "missing", "make_tokenizer_files.py"});
  std::remove(dir_.file("vocab.json").c_str());
  expect_error({dir_.file("vocab.json"), "missing", "make_tokenizer_files.py"});
}

TEST_F(BrokenFiles, VocabJson) {
  dir_.write("vocab.json", "{\"a\": 1,\n \"b\": }");
  expect_error({dir_.file("vocab.json"), "invalid JSON", "line 2"});
  // A number too large for a double is nlohmann's out_of_range, not parse_error (found by the fuzzer in CI).
  dir_.write("vocab.json", "3333333333333E3333333333333333[\n\n");
  expect_error({dir_.file("vocab.json"), "invalid JSON", "overflow"});
  dir_.write("vocab.json", R"({"a": 1e400})");
  expect_error({dir_.file("vocab.json"), "invalid JSON", "overflow"});
  dir_.write("vocab.json", "[1, 2]");
  expect_error({dir_.file("vocab.json"), "object"});
  dir_.write("vocab.json", "{}");
  expect_error({dir_.file("vocab.json"), "empty"});
  dir_.write("vocab.json", R"({"a": "one"})");
  expect_error({dir_.file("vocab.json"), "\"a\"", "non-negative integer"});
  dir_.write("vocab.json", R"({"a": -4})");
  expect_error({dir_.file("vocab.json"), "non-negative"});
  dir_.write("vocab.json", R"({"a": 0, "b": 0})");
  expect_error({dir_.file("vocab.json"), "id 0"});
  dir_.write("vocab.json", R"({"a": 0, "b": 1})");  // a real-looking vocabulary without the 256 bytes
  expect_error({dir_.file("vocab.json"), "byte 0x"});
}

TEST_F(BrokenFiles, MergesTxt) {
  dir_.write("merges.txt", "#version: 0.2\nh e\nll\n");
  expect_error({dir_.file("merges.txt") + ":3", "two tokens"});
  dir_.write("merges.txt", "h e\nl l o\n");
  expect_error({dir_.file("merges.txt") + ":2", "two tokens"});
  dir_.write("merges.txt", "h e\n\nzz q\n");
  expect_error({dir_.file("merges.txt") + ":3", "\"zz\"", "not in vocab.json"});
  dir_.write("merges.txt", "h e\nx y\n");  // both in the vocabulary, "xy" is not
  expect_error({dir_.file("merges.txt") + ":2", "merged token \"xy\""});
  dir_.write("merges.txt", "#version: 0.2\n");
  expect_error({dir_.file("merges.txt"), "no merges"});
}

TEST_F(BrokenFiles, SpecialTokenFiles) {
  dir_.write("tokenizer_config.json", "{\"bos_token\": ");
  expect_error({dir_.file("tokenizer_config.json"), "invalid JSON"});
  dir_.write("tokenizer_config.json", R"({"model_max_length": 1e999})");
  expect_error({dir_.file("tokenizer_config.json"), "invalid JSON", "overflow"});
  dir_.write("tokenizer_config.json", R"({"bos_token": 7})");
  expect_error({dir_.file("tokenizer_config.json"), "bos_token"});
  dir_.write("tokenizer_config.json", R"({"bos_token": {"text": "</s>"}})");
  expect_error({dir_.file("tokenizer_config.json"), "content"});
  dir_.write("tokenizer_config.json", R"({"bos_token": "<s>"})");
  expect_error({dir_.path(), "\"<s>\" is not in vocab.json"});
  dir_.write("tokenizer_config.json", R"({"added_tokens_decoder": {"x1": {"content": "<s>"}}})");
  expect_error({dir_.file("tokenizer_config.json"), "x1"});
  dir_.write("tokenizer_config.json", R"({"added_tokens_decoder": {"0": {"content": "<brand-new>"}}})");
  expect_error({dir_.path(), "<brand-new>", "id 0"});
  dir_.write("tokenizer_config.json", "{}");
  dir_.write("special_tokens_map.json", R"({"additional_special_tokens": "<x>"})");
  expect_error({dir_.file("special_tokens_map.json"), "list"});
}

}  // namespace
}  // namespace dv
