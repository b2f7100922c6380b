// yaml_syntax.h: a YAML syntax error as one line that points at what to fix. yaml-cpp reports where it noticed
// the error; for an unclosed [ or { that is where the text after it stops making sense (usually the next line),
// so the message names the line and column of the bracket itself, and where it was noticed.
#pragma once

#include <string>

#include <yaml-cpp/yaml.h>

namespace dv {

// Throws dv::Error "WHERE:LINE:COL: invalid YAML: ..." (1-based) for e, raised while loading `yaml`.
[[noreturn]] void fail_yaml_syntax(const std::string& yaml, const std::string& where, const YAML::Exception& e);

}  // namespace dv
