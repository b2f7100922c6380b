// tokenizer_files.cpp: the vocab.json / merges.txt / special-token file parsers. nlohmann::json reports the
// line and column of a syntax error; the messages here add the file name and drop the library's prefix.
#include "engine/tokenizer/tokenizer_files.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kernels/common/error.h"

namespace dv {
namespace {

using nlohmann::json;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DV_CHECK(in, "{}: cannot open (missing or unreadable)", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json parse_json_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number too large for a double
    std::string what = e.what();
    const size_t cut = what.find("] ");
    DV_FAIL("{}: invalid JSON: {}", path, cut == std::string::npos ? what : what.substr(cut + 2));
  }
}

// A special-token entry: "text", {"content": "text", ...}, or null (unset).
std::optional<std::string> token_content(const json& value, const std::string& path, const std::string& key) {
  if (value.is_null()) return std::nullopt;
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    return value["content"].get<std::string>();
  }
  DV_FAIL("{}: \"{}\" must be a string or an object with a string \"content\", found {}", path, key,
          value.dump());
}

void add_unique(std::vector<AddedToken>& added, const std::string& content, std::optional<int32_t> id) {
  for (AddedToken& t : added) {
    if (t.content == content) {
      if (id) t.id = id;
      return;
    }
  }
  added.push_back({content, id});
}

// Named special tokens (bos_token, ...) by key; a later file's setting replaces an earlier one's.
using NamedTokens = std::vector<std::pair<std::string, std::string>>;

void set_named(NamedTokens& named, const std::string& key, const std::string& content) {
  for (auto& [k, v] : named) {
    if (k == key) {
      v = content;
      return;
    }
  }
  named.emplace_back(key, content);
}

void apply_special_file(const std::string& path, NamedTokens& named, std::vector<AddedToken>& added) {
  const json config = parse_json_file(path);
  DV_CHECK(config.is_object(), "{}: expected a JSON object at the top level", path);
  for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token",
                          "mask_token"}) {
    if (!config.contains(key)) continue;
    if (const std::optional<std::string> content = token_content(config[key], path, key)) {
      set_named(named, key, *content);
    }
  }
  if (config.contains("additional_special_tokens") && !config["additional_special_tokens"].is_null()) {
    const json& list = config["additional_special_tokens"];
    DV_CHECK(list.is_array(), "{}: \"additional_special_tokens\" must be a list", path);
    for (const json& entry : list) {
      if (auto content = token_content(entry, path, "additional_special_tokens")) {
        add_unique(added, *content, std::nullopt);
      }
    }
  }
  if (config.contains("added_tokens_decoder")) {
    const json& decoder = config["added_tokens_decoder"];
    DV_CHECK(decoder.is_object(), "{}: \"added_tokens_decoder\" must be an object of id -> token", path);
    for (const auto& [id_text, entry] : decoder.items()) {
      int32_t id = -1;
      const char* end = id_text.data() + id_text.size();
      const auto parsed = std::from_chars(id_text.data(), end, id);
      DV_CHECK(parsed.ec == std::errc() && parsed.ptr == end && id >= 0,
               "{}: added_tokens_decoder key \"{}\" is not a token id", path, id_text);
      if (auto content = token_content(entry, path, "added_tokens_decoder." + id_text)) {
        add_unique(added, *content, id);
      }
    }
  }
}

}  // namespace

Vocab read_vocab_json(const std::string& path) {
  const json doc = parse_json_file(path);
  DV_CHECK(doc.is_object(), "{}: expected a JSON object of token -> id", path);
  DV_CHECK(!doc.empty(), "{}: the vocabulary is empty", path);
  Vocab vocab;
  vocab.reserve(doc.size());
  for (const auto& [token, value] : doc.items()) {
    DV_CHECK(value.is_number_integer() && value.get<int64_t>() >= 0 && value.get<int64_t>() < INT32_MAX,
             "{}: token \"{}\" has id {}, expected a non-negative integer", path, token, value.dump());
    vocab.emplace(token, static_cast<int32_t>(value.get<int64_t>()));
  }
  return vocab;
}

std::vector<MergeLine> read_merges_txt(const std::string& path) {
  std::istringstream in(read_file(path));
  std::vector<MergeLine> merges;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (number == 1 && line.rfind("#version", 0) == 0)) continue;
    const size_t space = line.find(' ');
    DV_CHECK(space != std::string::npos && space > 0 && space + 1 < line.size() &&
                 line.find(' ', space + 1) == std::string::npos,
             "{}:{}: expected two tokens separated by one space, found \"{}\"", path, number, line);
    merges.push_back({line.substr(0, space), line.substr(space + 1), number});
  }
  DV_CHECK(!merges.empty(), "{}: no merges found", path);
  return merges;
}

SpecialTokens read_special_tokens(const std::string& dir, const Vocab& vocab) {
  NamedTokens named = {{"bos_token", "</s>"}, {"eos_token", "</s>"}};
  if (vocab.count("<pad>")) named.emplace_back("pad_token", "<pad>");
  std::vector<AddedToken> added;
  for (const char* name : {"tokenizer_config.json", "special_tokens_map.json"}) {
    const std::string path = dir + "/" + name;
    if (std::ifstream(path).good()) apply_special_file(path, named, added);
  }
  SpecialTokens specials;
  for (const auto& [key, content] : named) {
    if (key == "bos_token") specials.bos = content;
    if (key == "eos_token") specials.eos = content;
    if (key == "pad_token") specials.pad = content;
    add_unique(added, content, std::nullopt);
  }
  specials.added = std::move(added);
  return specials;
}

}  // namespace dv
