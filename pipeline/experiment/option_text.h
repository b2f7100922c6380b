// option_text.h: a section's options as text (key, how the resolved YAML writes the value, what the option
// is), from the one table of its stage (option_table.h). What the YAML writer compares with the default, what
// section equality compares, and what the README's option table lists.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pipeline/eval/eval_section.h"
#include "pipeline/experiment/option_table.h"

namespace dv {

// "[a, b, c]": a list as the option texts and the YAML writer's comparisons spell it (numbers shortest round-trip).
template <class V>
std::string option_list_text(const V& values) {
  std::string out = "[";
  for (const auto& x : values) out += (out.size() > 1 ? ", " : "") + fmt::format("{}", x);
  return out + "]";
}

struct OptionText {
  OptionInfo info;
  std::string kind;   // integer, number, boolean, text, choice, list of numbers, ...
  std::string value;  // as the resolved YAML writes it (flow style for lists)
  std::string allowed;  // the range or the choices, for the README
};

class OptionTexts {
 public:
  std::vector<OptionText> rows;

  template <class T>
  void integer(const T& v, const OptionInfo& info, IntRange r) {
    add(info, "integer", std::to_string(v), range(r));
  }
  template <class T>
  void number(const T& v, const OptionInfo& info, Interval r) {
    add(info, "number", fmt::format("{}", v), interval(r));
  }
  template <class T>
  void boolean(const T& v, const OptionInfo& info) {
    add(info, "boolean", v ? "true" : "false", "");
  }
  template <class T>
  void text(const T& v, const OptionInfo& info) {
    add(info, "text", v, "");
  }
  template <class T>
  void choice(const T& v, const OptionInfo& info, const std::vector<std::string>& allowed) {
    add(info, "choice", v, join(allowed, " \\| "));
  }
  template <class T>
  void numbers(const T& v, const OptionInfo& info, Interval r) {
    add(info, "list of numbers", list(v), interval(r));
  }
  template <class T>
  void integers(const T& v, const OptionInfo& info, IntRange r) {
    add(info, "list of integers", list(v), range(r));
  }
  template <class T>
  void choices(const T& v, const OptionInfo& info, const std::vector<std::string>& allowed) {
    add(info, "list of choices", list(v), join(allowed, " \\| "));
  }
  template <class T>
  void layer_list(const T& v, const OptionInfo& info) {
    add(info, "all or list of layers", v.empty() ? std::string("all") : list(v), "");
  }
  template <class T>
  void device(const T& v, const OptionInfo& info) {
    add(info, "device", v, "cpu \\| cuda \\| cuda:N \\| auto");
  }
  template <class T>
  void task_list(const T& v, const OptionInfo& info) {
    std::vector<std::string> items;
    for (const EvalTaskSpec& t : v) items.push_back(fmt::format("{{name: {}, format: {}, file: {}}}", t.name, t.format, t.file));
    add(info, "list of tasks", "[" + join(items, ", ") + "]", "");
  }

 private:
  void add(const OptionInfo& info, const char* kind, std::string value, std::string allowed) {
    rows.push_back({info, kind, std::move(value), std::move(allowed)});
  }
  template <class V>
  static std::string list(const V& v) {
    return option_list_text(v);
  }
  static std::string join(const std::vector<std::string>& items, const char* sep) {
    std::string out;
    for (const std::string& s : items) out += (out.empty() ? "" : sep) + s;
    return out;
  }
  static std::string range(IntRange r) {
    if (r.hi == kNoLimit) return fmt::format(">= {}", r.lo);
    return fmt::format("{} .. {}", r.lo, r.hi);
  }
  static std::string interval(Interval r) {
    return fmt::format("{}{}, {}{}", r.lo_open ? "(" : "[", r.lo, r.hi, r.hi_open ? ")" : "]");
  }
};

}  // namespace dv
