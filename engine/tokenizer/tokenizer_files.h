// tokenizer_files.h: parsing the files of a Hugging Face byte-level BPE tokenizer directory.
// vocab.json (token -> id), merges.txt (ranked pairs) and the special tokens of tokenizer_config.json /
// special_tokens_map.json. Kept apart from BpeTokenizer so that every malformed-file error lives in one
// place and names the file and line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace dv {

using Vocab = std::unordered_map<std::string, int32_t>;

// One line of merges.txt: the pair it merges and its 1-based line number (for error messages).
struct MergeLine {
  std::string left;
  std::string right;
  size_t line;
};

// A token the Hugging Face tokenizer matches literally in raw text before pre-tokenizing.
struct AddedToken {
  std::string content;
  std::optional<int32_t> id;  // set when added_tokens_decoder gives it
};

// The special tokens as configured; a field is empty when the files leave it unset.
struct SpecialTokens {
  std::string bos;
  std::string eos;
  std::string pad;
  std::vector<AddedToken> added;  // every configured special or added token, split out of raw text
};

// Parses vocab.json; throws dv::Error naming the file on a missing file, bad JSON, or a non-integer id.
Vocab read_vocab_json(const std::string& path);

// Parses merges.txt in rank order (a leading "#version" line and blank lines skipped); throws dv::Error
// naming the file and line for a line that is not exactly two space-separated tokens.
std::vector<MergeLine> read_merges_txt(const std::string& path);

// Reads tokenizer_config.json then special_tokens_map.json (the latter wins, as in transformers) from dir,
// either may be absent. Entries may be strings or {"content": ...} objects. bos and eos default to "</s>"
// (OPT's choice), pad to "<pad>" when the vocabulary has it.
SpecialTokens read_special_tokens(const std::string& dir, const Vocab& vocab);

}  // namespace dv
