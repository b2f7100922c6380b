// config_diff.h: which keys of a stage's config changed since its last run, so that `dejavu run` (and its
// --dry-run) says why a stage runs again in words a user can act on ("eval.mlp_densities"), not only that its
// hash differs.
#pragma once

#include <string>
#include <vector>

#include "pipeline/experiment/experiment.h"

namespace dv {

// The dotted keys whose values differ between two YAML documents (mappings compared key by key, anything else
// as its text): present in one and not the other, or different. In document order of `after`, then the keys
// only `before` has. Text that is not YAML compares as one whole-document key "(config)".
std::vector<std::string> changed_yaml_keys(const std::string& before, const std::string& after);

// The keys that enter stage s's hash and differ between the config a stage folder recorded (its config.yaml,
// a valid experiment on its own) and the experiment now; empty when they are the same or the recorded one no
// longer parses (an older format: the caller then says only that the config changed).
std::vector<std::string> changed_stage_keys(const std::string& recorded_config_yaml, const Experiment& now, Stage s);

}  // namespace dv
