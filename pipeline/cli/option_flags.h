// option_flags.h: a stage's option table (pipeline/experiment/option_table.h) as command-line flags: each
// option becomes --key-with-dashes with the table's default and help, and --help names its YAML key, so a flag
// and the experiment key it matches cannot disagree. keys: the options this command takes (empty: all).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "pipeline/experiment/option_table.h"

namespace dv::cli {

class OptionFlags {
 public:
  OptionFlags(CLI::App* cmd, std::string section, std::vector<std::string> keys = {})
      : cmd_(cmd), section_(std::move(section)), keys_(std::move(keys)) {}

  void integer(int64_t& v, const OptionInfo& info, IntRange r) {
    if (auto* o = add(v, info)) o->check(CLI::Range(r.lo, r.hi).description(range(r)));
  }
  void number(double& v, const OptionInfo& info, Interval in) {
    if (auto* o = add(v, info)) o->check(interval(in));
  }
  void boolean(bool& v, const OptionInfo& info) {
    if (wanted(info)) cmd_->add_flag(option_flag(info.key), v, help(info));
  }
  void text(std::string& v, const OptionInfo& info) { add(v, info); }
  void choice(std::string& v, const OptionInfo& info, const std::vector<std::string>& allowed) {
    if (auto* o = add(v, info)) o->check(CLI::IsMember(allowed));
  }
  void numbers(std::vector<double>& v, const OptionInfo& info, Interval in) {
    if (auto* o = add(v, info)) o->delimiter(',')->check(interval(in));
  }
  void integers(std::vector<int64_t>& v, const OptionInfo& info, IntRange r) {
    if (auto* o = add(v, info)) o->delimiter(',')->check(CLI::Range(r.lo, r.hi).description(range(r)));
  }
  void choices(std::vector<std::string>& v, const OptionInfo& info, const std::vector<std::string>& allowed) {
    if (auto* o = add(v, info)) o->delimiter(',')->check(CLI::IsMember(allowed));
  }
  void layer_list(std::vector<int64_t>& v, const OptionInfo& info) {
    if (auto* o = add(v, info)) o->delimiter(',')->check(CLI::Range(int64_t{0}, int64_t{998}));
  }
  template <class T>
  void task_list(T&, const OptionInfo& info) {}  // tasks have their own flag (`dejavu tasks --task FORMAT=FILE`)

 private:
  bool wanted(const OptionInfo& info) const {
    return keys_.empty() || std::find(keys_.begin(), keys_.end(), info.key) != keys_.end();
  }
  std::string help(const OptionInfo& info) const { return std::string(info.help) + " (YAML " + section_ + "." + info.key + ")"; }
  template <class T>
  CLI::Option* add(T& v, const OptionInfo& info) {
    if (!wanted(info)) return nullptr;
    return cmd_->add_option(option_flag(info.key), v, help(info))->capture_default_str();
  }
  static std::string range(IntRange r) {
    return r.hi == kNoLimit ? ">= " + std::to_string(r.lo) : std::to_string(r.lo) + ".." + std::to_string(r.hi);
  }
  // Validates one value (CLI11 checks each element of a list) against [lo, hi] with either end open.
  static CLI::Validator interval(Interval in) {
    const std::string text = std::string(in.lo_open ? "(" : "[") + CLI::detail::to_string(in.lo) + ", " +
                             CLI::detail::to_string(in.hi) + (in.hi_open ? ")" : "]");
    return CLI::Validator(
        [in, text](std::string& s) -> std::string {
          double v = 0;
          if (!CLI::detail::lexical_cast(s, v)) return "expected a number, got " + s;
          const bool ok = (in.lo_open ? v > in.lo : v >= in.lo) && (in.hi_open ? v < in.hi : v <= in.hi);
          return ok ? std::string() : "must be in " + text + ", got " + s;
        },
        "in " + text);
  }

  CLI::App* cmd_;
  std::string section_;
  std::vector<std::string> keys_;
};

}  // namespace dv::cli
