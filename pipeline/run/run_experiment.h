// run_experiment.h: `dejavu run EXPERIMENT.yaml`: the stages an experiment lists, in pipeline order, each
// writing under <output_dir>/<stage>/ with its resolved config (config.yaml) beside its results. A stage
// whose resolved config and inputs hash to what its last successful run recorded (<stage>/stage.hash) is
// skipped; force re-runs every selected stage; only picks one stage; dry_run prints what each selected stage
// would do and why (stdout), and runs and writes nothing. A stage that cannot run on this machine (bench without
// a GPU) or that this build lacks (bench without CUDA) is skipped with a one-line reason. Each stage's wall
// time is printed and kept, with its start, end, CPU time, commit and machine, in <stage>/stage_run.json
// (pipeline/report/stage_record.h). The stages come in as RunStage implementations (run_stage.h).
#pragma once

#include <string>
#include <vector>

#include "pipeline/experiment/experiment.h"
#include "pipeline/run/run_stage.h"

namespace dv {

struct RunOptions {
  bool force = false;
  std::string only;  // a stage name, or empty for every stage the experiment lists
  bool dry_run = false;
};

// stages: the stages this build has, any order; a listed stage missing from them is skipped with a reason.
void run_experiment(const Experiment& experiment, const RunOptions& options, const std::vector<const RunStage*>& stages);

}  // namespace dv
