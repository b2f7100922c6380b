// run_command.cpp: see run_command.h.
#include "pipeline/run/run_command.h"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace dv {

std::string shell_word(const std::string& arg) {
  const bool plain = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](unsigned char c) {
    return std::isalnum(c) || std::string_view("_-./:=@%+,").find(static_cast<char>(c)) != std::string_view::npos;
  });
  if (plain) return arg;
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string resume_command(const std::string& experiment_file, const std::string& out, const RunOptions& options) {
  std::string cmd = "dejavu run " + shell_word(experiment_file);
  if (!out.empty()) cmd += " --out " + shell_word(out);
  if (!options.only.empty()) cmd += " --only " + shell_word(options.only);
  return cmd;
}

}  // namespace dv
