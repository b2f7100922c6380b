// yaml_syntax.cpp: see yaml_syntax.h.
#include "pipeline/experiment/yaml_syntax.h"

#include <optional>
#include <utility>
#include <vector>

#include "kernels/common/error.h"

namespace dv {
namespace {

// Line `n` (0-based) of text.
std::string yaml_line(const std::string& text, int n) {
  size_t start = 0;
  for (int i = 0; i < n && start != std::string::npos; ++i) {
    start = text.find('\n', start);
    if (start != std::string::npos) ++start;
  }
  if (start == std::string::npos || start > text.size()) return "";
  return text.substr(start, text.find('\n', start) - start);
}

// (line, column), 0-based, of the innermost [ or { still open at the start of line `before`: quoted text and
// comments skipped; nothing when every bracket is closed.
std::optional<std::pair<int, int>> unclosed_flow(const std::string& text, int before) {
  std::vector<std::pair<int, int>> open;
  for (int line = 0; line < before; ++line) {
    const std::string s = yaml_line(text, line);
    char quote = 0;
    for (int col = 0; col < static_cast<int>(s.size()); ++col) {
      const char c = s[static_cast<size_t>(col)];
      if (quote != 0) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '#' && (col == 0 || s[static_cast<size_t>(col) - 1] == ' ')) {
        break;
      } else if (c == '[' || c == '{') {
        open.emplace_back(line, col);
      } else if ((c == ']' || c == '}') && !open.empty()) {
        open.pop_back();
      }
    }
  }
  if (open.empty()) return std::nullopt;
  return open.back();
}

}  // namespace

void fail_yaml_syntax(const std::string& yaml, const std::string& where, const YAML::Exception& e) {
  if (const auto open = unclosed_flow(yaml, e.mark.line); open && e.msg.find("flow") != std::string::npos)
    DV_FAIL("{}:{}:{}: invalid YAML: this '{}' is never closed ({}, noticed at line {})", where, open->first + 1,
            open->second + 1, yaml_line(yaml, open->first)[static_cast<size_t>(open->second)], e.msg,
            e.mark.line + 1);
  DV_FAIL("{}:{}:{}: invalid YAML: {}", where, e.mark.line + 1, e.mark.column + 1, e.msg);
}

}  // namespace dv
