// encode_file_test.cpp: text file errors, the chunk reader's cuts, and the claim the streaming encoder rests
// on: chunk-by-chunk encoding gives exactly the ids of encoding the whole text at once.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "engine/tokenizer/encode_file.h"
#include "engine/tokenizer/text_file.h"
#include "kernels/common/error.h"
#include "tests/common/missing_dependency.h"
#include "tests/tokenizer/tokenizer_test_util.h"

namespace dv {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Random text from fragments chosen to stress pre-token boundaries: whitespace runs of every kind next to
// newlines, special tokens, contractions, unicode letters, digits and symbols.
std::string random_text(std::mt19937& rng, size_t fragments) {
  static const char* alphabet[] = {
      "hello", " world", "a", "b", "\n", "\n", "\n\n", " \n", "\n ", "\r\n", "\t", "  ", " ", "\xE3\x80\x80",
      "\xC2\xA0", "\xC2\x85", "</s>", "<pad>", "'s", "'re", "9", "42", "!?", "\xC3\xA9", "\xE4\xB8\xAD",
      "\xF0\x9F\x98\x80", "\xCC\x81", "="};
  std::string text;
  for (size_t i = 0; i < fragments; ++i) text += alphabet[rng() % std::size(alphabet)];
  return text;
}

TEST(TextFile, ReadsAndRejectsWithTheFileNamed) {
  test::TempDir dir;
  dir.write("ok.txt", "caf\xC3\xA9\n");
  EXPECT_EQ(read_text_file(dir.file("ok.txt")), "caf\xC3\xA9\n");
  std::string msg = error_of([&] { read_text_file(dir.file("absent.txt")); });
  EXPECT_NE(msg.find(dir.file("absent.txt")), std::string::npos) << msg;
  dir.write("empty.txt", "");
  msg = error_of([&] { read_text_file(dir.file("empty.txt")); });
  EXPECT_NE(msg.find("empty"), std::string::npos) << msg;
  msg = error_of([&] { TextChunkReader(dir.file("empty.txt"), 8); });
  EXPECT_NE(msg.find("empty"), std::string::npos) << msg;
  dir.write("bad.txt", "ab\ncd\xFF" "ef\n");
  msg = error_of([&] { read_text_file(dir.file("bad.txt")); });
  EXPECT_NE(msg.find(dir.file("bad.txt")), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte offset 5 (line 2, byte 0xFF)"), std::string::npos) << msg;
}

TEST(TextFile, ChunkReaderReportsTheOffsetInTheWholeFile) {
  test::TempDir dir;
  std::string text;
  for (int line = 0; line < 200; ++line) text += "line " + std::to_string(line) + "\n";
  const size_t bad = text.size() - 20;
  text[bad] = '\xC3';  // a lead byte followed by ASCII
  dir.write("bad.txt", text);
  const std::string msg = error_of([&] {
    TextChunkReader reader(dir.file("bad.txt"), 16);
    std::string chunk;
    while (reader.next(chunk)) {
    }
  });
  EXPECT_NE(msg.find("byte offset " + std::to_string(bad) + " (line "), std::string::npos) << msg;
}

TEST(TextFile, ChunksCutAfterANewlineBeforeANonSpace) {
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937 rng(seed);
  test::TempDir dir;
  const std::string text = random_text(rng, 3000);
  dir.write("t.txt", text);
  for (const size_t chunk_bytes : {size_t{1}, size_t{7}, size_t{64}, size_t{1000}, size_t{1} << 20}) {
    TextChunkReader reader(dir.file("t.txt"), chunk_bytes);
    std::string chunk;
    std::string joined;
    size_t chunks = 0;
    while (reader.next(chunk)) {
      ASSERT_FALSE(chunk.empty());
      if (joined.size() + chunk.size() < text.size()) {
        ASSERT_EQ(chunk.back(), '\n');
        const char after = text[joined.size() + chunk.size()];
        ASSERT_TRUE(after != ' ' && after != '\n' && after != '\t' && after != '\r');
      }
      joined += chunk;
      ++chunks;
    }
    ASSERT_EQ(joined, text);
    if (chunk_bytes == 64) {
      EXPECT_GT(chunks, text.size() / 400);
    }
  }
}

TEST(EncodeFile, ChunkedEqualsWholeOnRandomText) {
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937 rng(seed);
  test::TempDir dir;
  test::write_tiny_model(dir, seed);
  BpeTokenizer tok = BpeTokenizer::load(dir.path());
  for (int trial = 0; trial < 40; ++trial) {
    const std::string text = random_text(rng, 1 + rng() % 400);
    dir.write("t.txt", text);
    const std::vector<int32_t> whole = tok.encode(text, true);
    const size_t chunk_bytes = 1 + rng() % 64;
    SCOPED_TRACE(testing::Message() << "trial " << trial << " chunk_bytes " << chunk_bytes);
    ASSERT_EQ(encode_text_file(tok, dir.file("t.txt"), true, 0, chunk_bytes), whole);
  }
}

TEST(EncodeFile, CarriesTrailingWhitespaceAcrossTheCut) {
  // "\n" before a non-space is not by itself a safe place to split: whole, " \n\nb" splits " \n", "\n", "b",
  // but a chunk ending in " \n\n" would end in the single piece " \n\n". The encoder carries that run over.
  test::TempDir dir;
  test::write_tiny_model(dir, test::fresh_seed());
  BpeTokenizer tok = BpeTokenizer::load(dir.path());
  const std::string text = "a \n\nb\n";
  std::vector<int32_t> naive = tok.encode("a \n\n", true);
  const std::vector<int32_t> rest = tok.encode("b\n", false);
  naive.insert(naive.end(), rest.begin(), rest.end());
  const std::vector<int32_t> whole = tok.encode(text, true);
  ASSERT_NE(naive, whole);
  dir.write("t.txt", text);
  EXPECT_EQ(encode_text_file(tok, dir.file("t.txt"), true, 0, 4), whole);
}

TEST(EncodeFile, StopsEarlyAtMaxTokens) {
  test::TempDir dir;
  test::write_tiny_model(dir, test::fresh_seed());
  BpeTokenizer tok = BpeTokenizer::load(dir.path());
  std::string text;
  for (int i = 0; i < 500; ++i) text += "hello world\n";
  dir.write("t.txt", text);
  const std::vector<int32_t> whole = tok.encode(text, true);
  const std::vector<int32_t> first = encode_text_file(tok, dir.file("t.txt"), true, 33, 16);
  ASSERT_EQ(first.size(), 33u);
  EXPECT_TRUE(std::equal(first.begin(), first.end(), whole.begin()));
  size_t batches = 0;
  encode_text_file(tok, dir.file("t.txt"), false, [&](const std::vector<int32_t>&) { return ++batches < 3; }, 16);
  EXPECT_EQ(batches, 3u);
}

TEST(EncodeFile, ChunkedEqualsWholeOnWikitext) {
  test::TempDir dir;
  if (!test::write_gpt2_model(dir)) DV_MISSING_DEPENDENCY("shared data gpt2-bpe not found (set DEJAVU_DATA_DIR)");
  const char* src = std::getenv("DEJAVU_SOURCE_DIR");
  const char* data = std::getenv("DEJAVU_DATA_DIR");
  const std::string path = (data ? std::string(data) : std::string(src ? src : ".") + "/../shared/data") +
                           "/wikitext-2/test.txt";
  if (!std::ifstream(path)) DV_MISSING_DEPENDENCY(path << " not found");
  BpeTokenizer tok = BpeTokenizer::load(dir.path());
  const std::vector<int32_t> whole = tok.encode(read_text_file(path), true);
  EXPECT_GT(whole.size(), 250000u);
  EXPECT_EQ(encode_text_file(tok, path, true, 0, 4096), whole);
}

}  // namespace
}  // namespace dv
