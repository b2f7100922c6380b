// config_diff.cpp: see config_diff.h.
#include "pipeline/experiment/config_diff.h"

#include <algorithm>
#include <map>

#include <yaml-cpp/yaml.h>

#include "kernels/common/error.h"
#include "pipeline/experiment/experiment_yaml.h"

namespace dv {
namespace {

// Leaves of a YAML tree by dotted path, in document order (a sequence or scalar is one leaf: its emitted text).
void flatten(const YAML::Node& n, const std::string& path, std::vector<std::pair<std::string, std::string>>& out) {
  if (n.IsMap()) {
    for (const auto& kv : n) {
      const std::string key = kv.first.as<std::string>();
      flatten(kv.second, path.empty() ? key : path + "." + key, out);
    }
    return;
  }
  YAML::Emitter e;
  e << YAML::Flow << n;
  out.emplace_back(path, e.c_str());
}

}  // namespace

std::vector<std::string> changed_yaml_keys(const std::string& before, const std::string& after) {
  std::vector<std::pair<std::string, std::string>> a, b;
  try {
    flatten(YAML::Load(before), "", a);
    flatten(YAML::Load(after), "", b);
  } catch (const YAML::Exception&) {
    return before == after ? std::vector<std::string>{} : std::vector<std::string>{"(config)"};
  }
  const std::map<std::string, std::string> old(a.begin(), a.end()), now(b.begin(), b.end());
  std::vector<std::string> out;
  for (const auto& [key, value] : b) {
    const auto it = old.find(key);
    if (it == old.end() || it->second != value) out.push_back(key);
  }
  for (const auto& [key, value] : a)
    if (!now.count(key)) out.push_back(key);
  return out;
}

std::vector<std::string> changed_stage_keys(const std::string& recorded_config_yaml, const Experiment& now, Stage s) {
  Experiment recorded;
  try {
    recorded = parse_experiment(recorded_config_yaml, "recorded config.yaml", ParseOptions{false});
  } catch (const Error&) {
    return {};
  }
  return changed_yaml_keys(stage_config_yaml(recorded, s, true), stage_config_yaml(now, s, true));
}

}  // namespace dv
