// option_table.h: options declared once, as data. A stage's <stage>_options.h holds its YAML section as a
// struct (each field's default in one place) and one visit_options(section, visitor) that names every field
// with its YAML key, one-line help, allowed values and whether it enters the stage hash. Every consumer is a
// visitor over that one list: the YAML reader (experiment_parse.cpp), the YAML writer and the stage hash
// (experiment_yaml.cpp), the command line (pipeline/cli/option_flags.h: the flag is the key with '-' for '_',
// and --help names the key), and the README's option table (option_markdown.h, checked by a test).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace dv {

struct OptionInfo {
  const char* key;         // YAML key inside the section; the CLI flag is "--" + key with '_' -> '-'
  const char* help;        // one line: what it means, with the meaning of 0 / empty where special
  bool hashed = true;      // enters the stage hash (a change re-runs the stage); false: an option that changes
                           // neither the stage's results nor its files (how many windows or sequences go through
                           // the model together), which the hash reads at its default (experiment_yaml.h)
  bool always_written = true;  // the resolved YAML writes it even at its default; false: only when set (keys
                               // added after runs were hashed, so that those runs keep their hashes)
};

constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();

struct IntRange {
  int64_t lo = std::numeric_limits<int64_t>::min(), hi = kNoLimit;
};

// [lo, hi], with either end open.
struct Interval {
  double lo = 0, hi = 1;
  bool lo_open = false, hi_open = false;
};
inline constexpr Interval kFraction{0, 1, true, false};  // (0, 1]: a density or keep-fraction
inline constexpr Interval kOpenUnit{0, 1, true, true};   // (0, 1): a probability threshold
inline constexpr Interval kUnit{0, 1, false, false};     // [0, 1]

// A visitor implements, for each kind of field:
//   integer(int64_t&, const OptionInfo&, IntRange)          integers(std::vector<int64_t>&, info, IntRange)
//   number(double&, info, Interval)                         numbers(std::vector<double>&, info, Interval)
//   boolean(bool&, info)                                    text(std::string&, info)   (a path or free text)
//   choice(std::string&, info, const std::vector<std::string>& allowed)
//   choices(std::vector<std::string>&, info, allowed)
//   device(std::string&, info)   (cpu | cuda | cuda:N | auto)
// A list field is a sweep: empty lists and repeated values are errors where the reader checks.

// A visitor for consumers that treat every kind alike: each kind calls Derived::field(value, info).
template <class Derived>
class EachOption {
 public:
  template <class T>
  void integer(T& v, const OptionInfo& info, IntRange) { self().field(v, info); }
  template <class T>
  void integers(T& v, const OptionInfo& info, IntRange) { self().field(v, info); }
  template <class T>
  void number(T& v, const OptionInfo& info, Interval) { self().field(v, info); }
  template <class T>
  void numbers(T& v, const OptionInfo& info, Interval) { self().field(v, info); }
  template <class T>
  void boolean(T& v, const OptionInfo& info) { self().field(v, info); }
  template <class T>
  void text(T& v, const OptionInfo& info) { self().field(v, info); }
  template <class T>
  void choice(T& v, const OptionInfo& info, const std::vector<std::string>&) { self().field(v, info); }
  template <class T>
  void choices(T& v, const OptionInfo& info, const std::vector<std::string>&) { self().field(v, info); }
  template <class T>
  void layer_list(T& v, const OptionInfo& info) { self().field(v, info); }
  template <class T>
  void task_list(T& v, const OptionInfo& info) { self().field(v, info); }
  template <class T>
  void device(T& v, const OptionInfo& info) { self().field(v, info); }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

// cpu, cuda, cuda:N (N a device number) or auto: what a device option accepts.
inline bool is_device_name(const std::string& d) {
  if (d == "cpu" || d == "cuda" || d == "auto") return true;
  if (d.rfind("cuda:", 0) != 0 || d.size() == 5) return false;
  for (size_t i = 5; i < d.size(); ++i)
    if (d[i] < '0' || d[i] > '9') return false;
  return true;
}

// "--max-tokens" for "max_tokens".
inline std::string option_flag(const char* key) {
  std::string flag = std::string("--") + key;
  for (char& c : flag)
    if (c == '_') c = '-';
  return flag;
}

}  // namespace dv
