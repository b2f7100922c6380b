// yaml_fields.cpp: strict scalar conversions, list access and unknown-key detection for YAML.
#include "pipeline/experiment/yaml_fields.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "kernels/common/error.h"

namespace dv {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

namespace {

int line_of(const YAML::Node& node, int fallback) {
  if (!node.IsDefined()) return fallback;
  const YAML::Mark m = node.Mark();
  return m.is_null() ? fallback : m.line;
}

// Plain (unquoted) scalars only: quoting a number in YAML makes it a string.
const std::string& plain_scalar(const YamlField& f, const char* expected) {
  if (!f.node.IsDefined() || !f.node.IsScalar() || f.node.Tag() == "!") {
    f.fail(fmt::format("expected {}, got {}", expected, yaml_describe(f.node)));
  }
  return f.node.Scalar();
}

// "20_000" -> "20000": YAML 1.1 digit grouping, handy for token counts.
std::string without_digit_groups(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool between_digits = s[i] == '_' && i > 0 && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i - 1])) &&
                                std::isdigit(static_cast<unsigned char>(s[i + 1]));
    if (!between_digits) out += s[i];
  }
  return out;
}

std::string closest(const std::string& key, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = std::max<size_t>(2, key.size() / 3) + 1;
  for (const std::string& k : known) {
    const size_t d = edit_distance(key, k);
    const bool contains = key.size() >= 3 && k.find(key) != std::string::npos;
    if (d < best_d || (contains && best.empty())) {
      best = k;
      best_d = contains ? std::min(best_d, d) : d;
    }
  }
  return best;
}

// Control characters become \xNN so that every message stays on one line.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + static_cast<size_t>(len) > s.size()) return false;
    for (int k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) & 0xC0) != 0x80) return false;
    }
    i += static_cast<size_t>(len);
  }
  return true;
}

}  // namespace

void YamlField::fail(const std::string& message) const {
  // yaml-cpp places an empty value (`key:` alone) on the next token's line: use the key's.
  const int at = node.IsDefined() && !node.IsNull() ? line_of(node, line) : (line >= 0 ? line : line_of(node, -1));
  const std::string where = at >= 0 ? fmt::format("{}:{}", *file, at + 1) : *file;
  if (path.empty()) DV_FAIL("{}: {}", where, printable(message));
  DV_FAIL("{}: {}: {}", where, printable(path), printable(message));
}

YamlField YamlField::child(const std::string& key, const YAML::Node& value, const YAML::Node& key_node) const {
  return YamlField{value, path.empty() ? key : path + "." + key, file, line_of(key_node, line_of(node, line))};
}

std::string yaml_describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing (null)";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  std::string s = node.Scalar();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return fmt::format("\"{}\"", s);
}

int64_t yaml_int(const YamlField& f) {
  const std::string text = without_digit_groups(plain_scalar(f, "an integer"));
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size()) {
    f.fail(fmt::format("expected an integer, got {}", yaml_describe(f.node)));
  }
  if (errno == ERANGE) f.fail(fmt::format("integer {} is out of range", text));
  return v;
}

double yaml_number(const YamlField& f) {
  const std::string text = without_digit_groups(plain_scalar(f, "a number"));
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v)) {
    f.fail(fmt::format("expected a finite number, got {}", yaml_describe(f.node)));
  }
  return v;
}

bool yaml_bool(const YamlField& f) {
  std::string s = plain_scalar(f, "true or false");
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (s == "true" || s == "yes") return true;
  if (s == "false" || s == "no") return false;
  f.fail(fmt::format("expected true or false, got {}", yaml_describe(f.node)));
}

std::string yaml_string(const YamlField& f) {
  if (!f.node.IsDefined() || !f.node.IsScalar()) f.fail(fmt::format("expected a string, got {}", yaml_describe(f.node)));
  const std::string& s = f.node.Scalar();
  // Strings are names and paths: they must survive being written back as YAML.
  const bool control = std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7F; });
  if (control || !valid_utf8(s)) f.fail("must be UTF-8 text without control characters");
  return s;
}

std::vector<YamlField> yaml_list(const YamlField& f) {
  if (!f.node.IsDefined() || !f.node.IsSequence()) {
    f.fail(fmt::format("expected a list such as [a, b], got {}", yaml_describe(f.node)));
  }
  if (f.node.size() == 0) f.fail("empty list: give at least one value");
  std::vector<YamlField> out;
  for (size_t i = 0; i < f.node.size(); ++i) {
    out.push_back(YamlField{f.node[i], fmt::format("{}[{}]", f.path, i), f.file, line_of(f.node, f.line)});
  }
  return out;
}

YamlSection::YamlSection(YamlField field) : field_(std::move(field)) {
  const YAML::Node& n = field_.node;
  if (!n.IsDefined() || n.IsNull()) return;
  if (!n.IsMap()) field_.fail(fmt::format("expected a mapping of key: value lines, got {}", yaml_describe(n)));
  std::vector<std::string> seen;
  for (const auto& kv : n) {
    const YamlField key{kv.first, field_.path, field_.file, field_.line};
    if (!kv.first.IsScalar()) key.fail(fmt::format("keys must be plain names, got {}", yaml_describe(kv.first)));
    const std::string& k = kv.first.Scalar();
    if (std::find(seen.begin(), seen.end(), k) != seen.end()) {
      field_.child(k, kv.first, kv.first).fail("duplicate key (each key may appear once)");
    }
    seen.push_back(k);
  }
}

bool YamlSection::has(const std::string& key) const {
  const YAML::Node& n = field_.node;
  if (!n.IsDefined() || !n.IsMap()) return false;
  for (const auto& kv : n) {
    if (kv.first.Scalar() == key) return true;
  }
  return false;
}

std::optional<YamlField> YamlSection::take(const std::string& key) {
  known_.push_back(key);
  const YAML::Node& n = field_.node;
  if (!n.IsDefined() || !n.IsMap()) return std::nullopt;
  for (const auto& kv : n) {
    if (kv.first.Scalar() == key) return field_.child(key, kv.second, kv.first);
  }
  return std::nullopt;
}

void YamlSection::finish() const {
  const YAML::Node& n = field_.node;
  if (!n.IsDefined() || !n.IsMap()) return;
  for (const auto& kv : n) {
    const std::string& k = kv.first.Scalar();
    if (std::find(known_.begin(), known_.end(), k) != known_.end()) continue;
    const std::string guess = closest(k, known_);
    std::string known_list;
    for (const std::string& name : known_) known_list += (known_list.empty() ? "" : ", ") + name;
    field_.child(k, kv.first, kv.first)
        .fail(fmt::format("unknown key{}; known keys: {}", guess.empty() ? "" : " (did you mean '" + guess + "'?)",
                          known_list));
  }
}

}  // namespace dv
