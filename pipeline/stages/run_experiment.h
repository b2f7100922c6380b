// run_experiment.h: `dejavu run EXPERIMENT.yaml`: the stages an experiment lists, in pipeline order, each
// writing under <output_dir>/<stage>/ with its resolved config (config.yaml) beside its results. A stage
// whose resolved config and inputs hash to what its last successful run recorded (<stage>/stage.hash) is
// skipped; force re-runs every selected stage; only picks one stage; dry_run prints what each selected stage
// would do and why (stdout), and runs and writes nothing.
#pragma once

#include <string>

#include "pipeline/experiment/experiment.h"

namespace dv {

struct RunOptions {
  bool force = false;
  std::string only;  // a stage name, or empty for every stage the experiment lists
  bool dry_run = false;
};

// Output layout of a run (also used by tests and docs).
struct RunLayout {
  std::string root;
  std::string stage_dir(Stage s) const { return root + "/" + stage_name(s); }
  std::string acts() const { return stage_dir(Stage::kCollect) + "/acts.h5"; }
  std::string predictors() const { return stage_dir(Stage::kTrain); }
};

void run_experiment(const Experiment& experiment, const RunOptions& options);

}  // namespace dv
