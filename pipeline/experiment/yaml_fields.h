// yaml_fields.h: strict, typed reading of YAML nodes with errors that say where.
// A YamlField is a node plus its key path ("collect.max_tokens", "eval.modes[2]") and file;
// converters accept only what the type means (an integer field refuses "12.5", "lots", a
// quoted "12" and a list), and YamlSection refuses keys nobody asked for. Messages read
//   experiments/x.yaml:7: collect.max_tokens: expected an integer, got "lots"
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dv {

struct YamlField {
  YAML::Node node;
  std::string path;                   // key path for messages
  const std::string* file = nullptr;  // the experiment file, for messages
  int line = -1;                      // 0-based line for nodes without a position (`key:` alone, absent keys)

  // "file:line: path: message" as a dv::Error.
  [[noreturn]] void fail(const std::string& message) const;
  // The value under `key` (path "path.key"); key_node places it when the value has no position.
  YamlField child(const std::string& key, const YAML::Node& value, const YAML::Node& key_node = YAML::Node()) const;
};

// Levenshtein distance (insertions, deletions, substitutions): how near a mistyped key or option is to a known one.
size_t edit_distance(const std::string& a, const std::string& b);

// How a node looks in a message: "lots" (quoted scalar text), a list, a mapping, null.
std::string yaml_describe(const YAML::Node& node);

int64_t yaml_int(const YamlField& f);
double yaml_number(const YamlField& f);  // finite numbers only
bool yaml_bool(const YamlField& f);      // true/false (also yes/no)
std::string yaml_string(const YamlField& f);
// Elements of a sequence, with paths "path[i]". An empty list is an error (an empty sweep).
std::vector<YamlField> yaml_list(const YamlField& f);

// A mapping whose keys are consumed one by one; finish() rejects the rest as unknown keys,
// suggesting the closest known key. A null node (an empty section) reads as an empty map.
class YamlSection {
 public:
  explicit YamlSection(YamlField field);
  const YamlField& field() const { return field_; }
  bool has(const std::string& key) const;
  // The value at `key`, or nothing when absent. Records the key as known either way.
  std::optional<YamlField> take(const std::string& key);
  void finish() const;

 private:
  YamlField field_;
  std::vector<std::string> known_;
};

}  // namespace dv
