// parse_errors.cpp: see parse_errors.h.
#include "pipeline/cli/parse_errors.h"

#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "pipeline/experiment/yaml_fields.h"

namespace dv::cli {
namespace {

// The deepest subcommand the command line named (the one whose options were parsed).
const CLI::App* parsed_command(const CLI::App& app) {
  const CLI::App* at = &app;
  for (bool deeper = true; deeper;) {
    deeper = false;
    for (const CLI::App* sub : at->get_subcommands({}))
      if (sub->parsed()) {
        at = sub;
        deeper = true;
        break;
      }
  }
  return at;
}

// The options of `cmd` nearest to `word` ("--mode" -> "--model or --modes"): 2 edits at most, every one at the
// least distance; "" when none is that near.
std::string nearest_options(const CLI::App& cmd, const std::string& word) {
  const size_t from = word.find_first_not_of('-');
  const std::string bare = from == std::string::npos ? word : word.substr(from, word.find('=') - from);
  std::vector<std::string> best;
  size_t best_distance = 3;
  for (const CLI::Option* o : cmd.get_options({}))
    for (const std::string& name : o->get_lnames()) {
      const size_t d = edit_distance(bare, name);
      if (d < best_distance) best_distance = d, best.clear();
      if (d == best_distance) best.push_back("--" + name);
    }
  return fmt::format("{}", fmt::join(best, " or "));
}

}  // namespace

std::string describe_parse_error(const CLI::App& app, const CLI::ParseError& error) {
  const auto* extras = dynamic_cast<const CLI::ExtrasError*>(&error);
  if (extras == nullptr) return error.what();
  const CLI::App* cmd = parsed_command(app);
  const std::string name = cmd == &app ? "dejavu" : cmd->get_name();
  // The words CLI11 did not place, from the command line itself (its message lists them in reverse).
  std::vector<std::string> unknown, stray;
  for (const std::string& word : cmd->remaining())
    (word.rfind("--", 0) == 0 || (word.size() == 2 && word[0] == '-') ? unknown : stray).push_back(word);
  std::string out;
  for (const std::string& u : unknown) {
    const std::string hint = nearest_options(*cmd, u);
    out += fmt::format("{}{}: unknown option {}{}", out.empty() ? "" : "; ", name, u,
                       hint.empty() ? "" : fmt::format(" (did you mean {}?)", hint));
  }
  if (unknown.empty() && !stray.empty())
    out = fmt::format("{}: unexpected argument{} {}", name, stray.size() > 1 ? "s" : "", fmt::join(stray, " "));
  if (out.empty()) return error.what();
  return out + fmt::format(" (see dejavu {}--help)", cmd == &app ? "" : name + " ");
}

}  // namespace dv::cli
