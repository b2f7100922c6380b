// experiment_yaml.h: an Experiment written back as YAML, every default filled in. Saved beside
// each stage's output so that a result says exactly what produced it; parsing the text again
// gives an equal Experiment (tests/experiment checks the round trip).
#pragma once

#include <string>

#include "pipeline/experiment/experiment.h"

namespace dv {

// The whole experiment: top-level fields, the stage list and every section.
std::string experiment_to_yaml(const Experiment& e);

// What determines one stage's output: model, device, dtype, seed, `stages: [<stage>]` and that
// stage's section; not the name or output_dir, so that renaming an experiment re-runs nothing.
// A valid experiment file on its own. hashed_only: what content_hash.h hashes: the options outside the hash
// (OptionInfo::hashed false) written at their defaults, so that changing one re-runs nothing and a config that
// leaves them at their defaults keeps the hash it had before they left the hash.
std::string stage_config_yaml(const Experiment& e, Stage stage, bool hashed_only = false);

}  // namespace dv
