// run_checks.h: what `dejavu run` checks about an experiment before any stage starts: problems that would
// otherwise surface only when a stage gets to them (an error) or never (a warning about what the results mean).
#pragma once

#include <string>

#include "pipeline/experiment/experiment.h"

namespace dv {

// dv::Error naming the file when `device:` asks for CUDA and no GPU is visible (not at collect's first batch).
void check_run_device(const Experiment& e, const std::string& experiment_file);

// Warnings (stderr): eval scoring the very text the predictors were trained on (collect.text), which
// measures fit, not generalisation.
void warn_about_experiment(const Experiment& e, const std::string& experiment_file);

}  // namespace dv
