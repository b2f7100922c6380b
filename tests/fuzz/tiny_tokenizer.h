// tiny_tokenizer.h: a small but complete byte-level BPE tokenizer directory (256 byte tokens, a few
// dozen merges, "</s>" and "<pad>") for the tokenizer fuzzers when the real GPT-2 files are not at hand.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/tokenizer/byte_level.h"
#include "tests/fuzz/fuzz_util.h"

namespace dv::fuzz {

inline const std::vector<std::pair<std::string, std::string>>& tiny_merges() {
  static const std::vector<std::pair<std::string, std::string>> merges = {
      {"Ġ", "t"},   {"h", "e"},   {"i", "n"},   {"Ġt", "he"}, {"e", "r"},   {"o", "n"},  {"Ġ", "a"},
      {"l", "l"},   {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"},  {"o", "r"},   {"Ġw", "or"}, {"Ġwor", "ld"},
      {"l", "d"},   {"Ġ", "Ġ"},   {"ĠĠ", "ĠĠ"}, {"Ċ", "Ċ"},   {"1", "2"},   {"12", "3"}, {"Ã", "©"},
      {"Ġ", "h"},   {"Ġ", "hello"}, {"e", "s"}, {"Ġ", "s"},   {"in", "g"},  {"Ġ", "<"},  {"<", "/"}};
  return merges;
}

// Writes vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json into dir.
inline void write_tiny_tokenizer(const ScratchDir& dir) {
  const ByteLevel bytes;
  nlohmann::json vocab = nlohmann::json::object();
  int32_t next = 0;
  const auto add = [&](const std::string& token) {
    if (!vocab.contains(token)) vocab[token] = next++;
  };
  for (int b = 0; b < 256; ++b) add(bytes.byte_spelling(static_cast<uint8_t>(b)));
  std::string merges = "#version: 0.2\n";
  for (const auto& [left, right] : tiny_merges()) {
    add(left + right);
    merges += left + " " + right + "\n";
  }
  add("</s>");
  add("<pad>");
  dir.write("vocab.json", vocab.dump());
  dir.write("merges.txt", merges);
  dir.write("tokenizer_config.json",
            R"({"add_bos_token":true,"bos_token":"</s>","eos_token":"</s>","pad_token":"<pad>","unk_token":"</s>"})");
  dir.write("special_tokens_map.json",
            R"({"bos_token":{"content":"</s>"},"eos_token":"</s>","pad_token":"<pad>","unk_token":"</s>"})");
}

}  // namespace dv::fuzz
