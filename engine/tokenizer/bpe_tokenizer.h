// bpe_tokenizer.h: dv::BpeTokenizer, OPT's byte-level BPE (GPT-2 merges, the checkpoint's own vocab.json ids).
// Loads a Hugging Face tokenizer directory as users have it and reproduces what transformers'
// GPT2Tokenizer gives for OPT: special tokens matched literally in the text, the GPT-2 pre-tokenizer, BPE
// by merge rank inside each piece, and "</s>" prepended when asked.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/tokenizer_files.h"

namespace dv {

class BpeTokenizer {
 public:
  // Reads model_dir/vocab.json, model_dir/merges.txt and, when present, tokenizer_config.json and
  // special_tokens_map.json. Throws dv::Error naming the file (and line) for anything malformed.
  static BpeTokenizer load(const std::string& model_dir);

  // Token ids of text, with bos_id() first when add_bos (OPT's convention for every sequence).
  // Not const: the per-word merge cache fills as it goes, so one instance serves one thread.
  std::vector<int32_t> encode(std::string_view text, bool add_bos);
  // Appends text's ids (no bos) to out; what the streaming file encoder calls chunk by chunk.
  void encode_append(std::string_view text, std::vector<int32_t>& out);
  // The bytes the ids stand for (special tokens as their text). May be invalid UTF-8 when the ids cut a
  // multi-byte character. Throws dv::Error for an id outside the vocabulary.
  std::string decode(const std::vector<int32_t>& ids) const;

  // The vocabulary spelling of id (byte-level stand-in characters); throws for an unknown id.
  const std::string& id_to_token(int32_t id) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t pad_id() const { return pad_id_; }  // -1 when the tokenizer has no pad token
  // One past the largest id (ids need not be dense).
  int32_t vocab_size() const { return static_cast<int32_t>(id_to_token_.size()); }
  // The literal strings matched before pre-tokenization ("</s>", "<pad>", ...).
  const std::vector<std::string>& special_texts() const { return special_texts_; }

 private:
  struct Merge {
    int32_t rank;    // position in merges.txt: lower merges first
    int32_t merged;  // id of the concatenated token
  };

  BpeTokenizer() = default;
  void add_merges(const std::vector<MergeLine>& lines, const std::string& path);
  void add_specials(const SpecialTokens& specials, const std::string& model_dir);
  int32_t special_id(const std::string& content, const std::string& role, const std::string& model_dir) const;
  // Ordinary text (no special tokens inside): pre-tokenize, then BPE each piece.
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out);
  void encode_piece(std::string_view piece, std::vector<int32_t>& out);
  void merge_symbols(std::vector<int32_t>& symbols) const;

  ByteLevel byte_level_;
  std::unordered_map<std::string, int32_t> token_to_id_;
  std::vector<std::string> id_to_token_;  // empty string for ids the vocabulary skips
  std::vector<char> is_special_;          // per id: decoded as its literal text, not through ByteLevel
  std::array<int32_t, 256> byte_id_{};    // id of each single-byte token
  std::unordered_map<uint64_t, Merge> merges_;  // key: left id << 32 | right id
  std::vector<std::string> special_texts_;
  std::vector<int32_t> special_ids_;
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  int32_t pad_id_ = -1;
  // Word -> ids memo: natural text repeats a few thousand words, and merging is the expensive step.
  std::unordered_map<std::string, std::vector<int32_t>> cache_;
  std::vector<std::string_view> pieces_;  // scratch for encode_ordinary, kept to avoid reallocation
};

}  // namespace dv
