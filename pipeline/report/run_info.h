// run_info.h: what a run folder says about itself: the experiment it ran (experiment.yaml, as `dejavu run`
// resolved it) and the model's shape (the checkpoint's config.json, else the one the activation store keeps).
// Shared by the report and the end-of-run summary.
#pragma once

#include <optional>
#include <string>

#include "engine/io/opt_config.h"
#include "pipeline/experiment/experiment.h"

namespace dv {

struct RunInfo {
  std::string dir;
  std::optional<Experiment> experiment;  // absent: no experiment.yaml (a folder of `dejavu eval --out` results)
  std::string model;                     // the checkpoint path as the experiment names it, or ""
  std::optional<OptConfig> model_config;
  std::string model_config_source;       // which file the shape came from
};

RunInfo load_run_info(const std::string& run_dir);

// "12 layers, d 256, 16 heads, ffn 1024, vocab 50272, 22.5M parameters"
std::string model_shape_summary(const OptConfig& c);

}  // namespace dv
