// tokenizer_test_util.cpp: temporary directories and the tiny / GPT-2 test models.
#include "tests/tokenizer/tokenizer_test_util.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/tokenizer/byte_level.h"

namespace dv::test {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "dv_tok_XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void TempDir::write(const std::string& name, const std::string& content) const {
  std::ofstream out(file(name), std::ios::binary);
  out << content;
}

uint32_t fresh_seed() { return std::random_device{}(); }

const std::vector<std::pair<std::string, std::string>>& tiny_merges() {
  static const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"}, {"o", "r"}, {"Ġw", "or"},
      {"a", "b"}, {"b", "c"}, {"a", "a"}, {"Ċ", "Ċ"}, {"Ġ", "Ġ"}};
  return merges;
}

std::vector<std::pair<std::string, int32_t>> write_tiny_model(const TempDir& dir, uint32_t seed) {
  const ByteLevel bytes;
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(bytes.byte_spelling(static_cast<uint8_t>(b)));
  for (const auto& [l, r] : tiny_merges()) tokens.push_back(l + r);
  tokens.push_back("</s>");
  tokens.push_back("<pad>");
  std::vector<int32_t> ids(tokens.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::mt19937 rng(seed);
  std::shuffle(ids.begin(), ids.end(), rng);
  nlohmann::json vocab = nlohmann::json::object();
  std::vector<std::pair<std::string, int32_t>> written;
  for (size_t i = 0; i < tokens.size(); ++i) {
    vocab[tokens[i]] = ids[i];
    written.emplace_back(tokens[i], ids[i]);
  }
  dir.write("vocab.json", vocab.dump());
  std::string merges = "#version: 0.2\n";
  for (const auto& [l, r] : tiny_merges()) merges += l + " " + r + "\n";
  dir.write("merges.txt", merges);
  return written;
}

bool write_gpt2_model(const TempDir& dir) {
  const char* env = std::getenv("DEJAVU_DATA_DIR");
  const char* src = std::getenv("DEJAVU_SOURCE_DIR");
  const std::string data = env ? env : std::string(src ? src : ".") + "/../shared/data";
  std::ifstream encoder_in(data + "/gpt2-bpe/encoder.json");
  std::ifstream merges_in(data + "/gpt2-bpe/vocab.bpe", std::ios::binary);
  if (!encoder_in || !merges_in) return false;
  nlohmann::json encoder = nlohmann::json::parse(encoder_in);
  encoder["</s>"] = encoder["<|endoftext|>"];
  encoder.erase("<|endoftext|>");
  encoder["<pad>"] = 50257;
  dir.write("vocab.json", encoder.dump());
  std::ostringstream merges;
  merges << merges_in.rdbuf();
  dir.write("merges.txt", merges.str());
  return true;
}

std::vector<std::string> spell(const BpeTokenizer& tok, const std::vector<int32_t>& ids) {
  std::vector<std::string> out;
  for (const int32_t id : ids) out.push_back(tok.id_to_token(id));
  return out;
}

}  // namespace dv::test
