// tokenizer_test_util.h: fixtures shared by the tokenizer tests: a temporary directory, a tiny byte-level
// BPE model with shuffled ids (so nothing can lean on GPT-2's id order), and the real GPT-2 BPE files laid
// out as an OPT tokenizer directory when the shared data is present.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "engine/tokenizer/bpe_tokenizer.h"

namespace dv::test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// A seed that differs per run (fresh inputs), to be printed with SCOPED_TRACE so a failure can be replayed.
uint32_t fresh_seed();

// The tiny model's merges, in rank order, in byte-level spelling ("Ġ" is a space).
const std::vector<std::pair<std::string, std::string>>& tiny_merges();

// Writes vocab.json (256 byte tokens, the merged tokens, "</s>" and "<pad>", ids shuffled by seed) and
// merges.txt into dir. Returns the vocabulary as written.
std::vector<std::pair<std::string, int32_t>> write_tiny_model(const TempDir& dir, uint32_t seed);

// Writes the GPT-2 BPE from the shared data as OPT files (vocab.json with "</s>" = 50256 and "<pad>" = 50257,
// merges.txt) into dir; false when the shared data is not on this machine.
bool write_gpt2_model(const TempDir& dir);

// The vocabulary spellings of ids, for readable comparisons.
std::vector<std::string> spell(const BpeTokenizer& tok, const std::vector<int32_t>& ids);

}  // namespace dv::test
