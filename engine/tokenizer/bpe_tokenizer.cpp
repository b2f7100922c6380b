// bpe_tokenizer.cpp: loading the vocabulary, merges and special tokens, and the encode/decode paths.
// Merging follows Hugging Face tokenizers' BPE::merge_all: a min-heap of adjacent pairs ordered by
// (merge rank, position), so equal-rank ties resolve leftmost first exactly as there.
#include "engine/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <queue>

#include "engine/tokenizer/pre_tokenizer.h"
#include "kernels/common/error.h"

namespace dv {
namespace {

constexpr size_t kMaxCacheEntries = 1 << 17;  // cleared when full; a corpus' working set is far smaller
constexpr size_t kMaxCachedPieceBytes = 256;  // long pieces (URLs, digit runs) rarely repeat

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

}  // namespace

BpeTokenizer BpeTokenizer::load(const std::string& model_dir) {
  const std::string vocab_path = model_dir + "/vocab.json";
  const std::string merges_path = model_dir + "/merges.txt";
  for (const std::string& needed : {vocab_path, merges_path})
    DV_CHECK(std::filesystem::exists(needed),
             "{}: missing, OPT's tokenizer files (vocab.json, merges.txt) are needed beside the weights: copy them from "
             "any OPT checkpoint (all share one tokenizer) or write them with scripts/make_tokenizer_files.py {}",
             needed, model_dir);
  BpeTokenizer tok;
  tok.token_to_id_ = read_vocab_json(vocab_path);
  int32_t max_id = 0;
  for (const auto& [token, id] : tok.token_to_id_) max_id = std::max(max_id, id);
  // Ids may skip values, but a stray huge id would make the id table absurd: treat it as corruption.
  DV_CHECK(static_cast<size_t>(max_id) < 4 * tok.token_to_id_.size() + 1024,
           "{}: id {} is far beyond the vocabulary's {} tokens", vocab_path, max_id, tok.token_to_id_.size());
  tok.id_to_token_.resize(static_cast<size_t>(max_id) + 1);
  std::vector<char> seen(tok.id_to_token_.size(), 0);
  for (const auto& [token, id] : tok.token_to_id_) {
    DV_CHECK(!seen[id], "{}: id {} is given to both \"{}\" and \"{}\"", vocab_path, id, tok.id_to_token_[id], token);
    seen[id] = 1;
    tok.id_to_token_[id] = token;
  }
  tok.is_special_.assign(tok.id_to_token_.size(), 0);
  for (int b = 0; b < 256; ++b) {
    const std::string& spelling = tok.byte_level_.byte_spelling(static_cast<uint8_t>(b));
    const auto it = tok.token_to_id_.find(spelling);
    DV_CHECK(it != tok.token_to_id_.end(),
             "{}: no token \"{}\" for byte 0x{:02X}; a byte-level BPE vocabulary needs all 256 bytes", vocab_path,
             spelling, b);
    tok.byte_id_[b] = it->second;
  }
  tok.add_merges(read_merges_txt(merges_path), merges_path);
  tok.add_specials(read_special_tokens(model_dir, tok.token_to_id_), model_dir);
  return tok;
}

void BpeTokenizer::add_merges(const std::vector<MergeLine>& lines, const std::string& path) {
  merges_.reserve(lines.size());
  const auto lookup = [&](const std::string& token, const MergeLine& line, const char* what) {
    const auto it = token_to_id_.find(token);
    DV_CHECK(it != token_to_id_.end(), "{}:{}: {} \"{}\" is not in vocab.json", path, line.line, what, token);
    return it->second;
  };
  for (size_t rank = 0; rank < lines.size(); ++rank) {
    const MergeLine& line = lines[rank];
    const int32_t left = lookup(line.left, line, "merge token");
    const int32_t right = lookup(line.right, line, "merge token");
    const int32_t merged = lookup(line.left + line.right, line, "merged token");
    // A repeated pair takes its later rank, as tokenizers' HashMap collection does.
    merges_[pair_key(left, right)] = Merge{static_cast<int32_t>(rank), merged};
  }
}

int32_t BpeTokenizer::special_id(const std::string& content, const std::string& role,
                                 const std::string& model_dir) const {
  const auto it = token_to_id_.find(content);
  DV_CHECK(it != token_to_id_.end(), "{}: {} token \"{}\" is not in vocab.json", model_dir, role, content);
  return it->second;
}

void BpeTokenizer::add_specials(const SpecialTokens& specials, const std::string& model_dir) {
  for (const AddedToken& added : specials.added) {
    if (added.content.empty()) continue;
    int32_t id;
    if (added.id) {
      id = *added.id;
      if (static_cast<size_t>(id) >= id_to_token_.size()) {
        DV_CHECK(static_cast<size_t>(id) < id_to_token_.size() + 1024,
                 "{}/tokenizer_config.json: added token id {} is far beyond the vocabulary", model_dir, id);
        id_to_token_.resize(static_cast<size_t>(id) + 1);
        is_special_.resize(id_to_token_.size(), 0);
      }
      DV_CHECK(id_to_token_[id].empty() || id_to_token_[id] == added.content,
               "{}: added token \"{}\" has id {}, which vocab.json gives to \"{}\"", model_dir, added.content, id,
               id_to_token_[id]);
      id_to_token_[id] = added.content;
      token_to_id_[added.content] = id;
    } else {
      id = special_id(added.content, "special", model_dir);
    }
    is_special_[id] = 1;
    special_texts_.push_back(added.content);
    special_ids_.push_back(id);
  }
  bos_id_ = special_id(specials.bos, "bos", model_dir);
  eos_id_ = special_id(specials.eos, "eos", model_dir);
  if (!specials.pad.empty()) pad_id_ = special_id(specials.pad, "pad", model_dir);
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_bos) {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 2);
  if (add_bos) ids.push_back(bos_id_);
  encode_append(text, ids);
  return ids;
}

void BpeTokenizer::encode_append(std::string_view text, std::vector<int32_t>& out) {
  // Special tokens are cut out first, leftmost and then longest, as tokenizers' AddedVocabulary does; the
  // next occurrence of each is remembered so that a rare one is not searched for again at every match.
  constexpr size_t npos = std::string_view::npos;
  std::vector<size_t> next(special_texts_.size());
  for (size_t k = 0; k < next.size(); ++k) next[k] = text.find(special_texts_[k]);
  size_t pos = 0;
  while (true) {
    size_t best = npos;
    size_t best_k = 0;
    for (size_t k = 0; k < next.size(); ++k) {
      if (next[k] != npos && next[k] < pos) next[k] = text.find(special_texts_[k], pos);
      if (next[k] < best || (next[k] == best && best != npos &&
                             special_texts_[k].size() > special_texts_[best_k].size())) {
        best = next[k];
        best_k = k;
      }
    }
    if (best == npos) break;
    encode_ordinary(text.substr(pos, best - pos), out);
    out.push_back(special_ids_[best_k]);
    pos = best + special_texts_[best_k].size();
  }
  encode_ordinary(text.substr(pos), out);
}

void BpeTokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) {
  pieces_.clear();
  pre_tokenize(text, pieces_);
  for (std::string_view piece : pieces_) encode_piece(piece, out);
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out) {
  if (piece.size() == 1) {
    out.push_back(byte_id_[static_cast<uint8_t>(piece[0])]);
    return;
  }
  std::string key(piece);
  if (const auto it = cache_.find(key); it != cache_.end()) {
    out.insert(out.end(), it->second.begin(), it->second.end());
    return;
  }
  std::vector<int32_t> symbols(piece.size());
  for (size_t i = 0; i < piece.size(); ++i) symbols[i] = byte_id_[static_cast<uint8_t>(piece[i])];
  merge_symbols(symbols);
  out.insert(out.end(), symbols.begin(), symbols.end());
  if (piece.size() > kMaxCachedPieceBytes) return;
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_.emplace(std::move(key), std::move(symbols));
}

void BpeTokenizer::merge_symbols(std::vector<int32_t>& symbols) const {
  struct Node {
    int32_t id;  // -1 once merged into its left neighbour
    int32_t prev;
    int32_t next;
  };
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t left;
    int32_t right;
    int32_t merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  const int32_t n = static_cast<int32_t>(symbols.size());
  std::vector<Node> nodes(n);
  for (int32_t i = 0; i < n; ++i) nodes[i] = {symbols[i], i - 1, i + 1 < n ? i + 1 : -1};
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  const auto push = [&](int32_t pos) {
    const int32_t right = nodes[pos].next;
    if (right < 0) return;
    const auto it = merges_.find(pair_key(nodes[pos].id, nodes[right].id));
    if (it != merges_.end()) heap.push({it->second.rank, pos, nodes[pos].id, nodes[right].id, it->second.merged});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Node& left = nodes[c.pos];
    // Skip candidates that earlier merges made stale: either side has changed since it was queued.
    if (left.id != c.left || left.next < 0 || nodes[left.next].id != c.right) continue;
    const int32_t right = left.next;
    left.id = c.merged;
    left.next = nodes[right].next;
    if (left.next >= 0) nodes[left.next].prev = c.pos;
    nodes[right].id = -1;
    if (left.prev >= 0) push(left.prev);
    push(c.pos);
  }
  symbols.clear();
  for (int32_t i = 0; i >= 0; i = nodes[i].next) symbols.push_back(nodes[i].id);
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  out.reserve(ids.size() * 4);
  for (const int32_t id : ids) {
    DV_CHECK(id >= 0 && id < vocab_size() && !id_to_token_[id].empty(),
             "decode: token id {} is not in the vocabulary (size {})", id, vocab_size());
    if (is_special_[id]) {
      out += id_to_token_[id];
    } else {
      byte_level_.append_bytes(id_to_token_[id], out);
    }
  }
  return out;
}

const std::string& BpeTokenizer::id_to_token(int32_t id) const {
  DV_CHECK(id >= 0 && id < vocab_size() && !id_to_token_[id].empty(), "token id {} is not in the vocabulary (size {})",
           id, vocab_size());
  return id_to_token_[id];
}

std::optional<int32_t> BpeTokenizer::token_to_id(std::string_view token) const {
  const auto it = token_to_id_.find(std::string(token));
  if (it == token_to_id_.end()) return std::nullopt;
  return it->second;
}

}  // namespace dv
