// run_experiment.h: `dejavu run EXPERIMENT.yaml`: the stages an experiment lists, in pipeline order, each
// writing under <output_dir>/<stage>/ with its resolved config (config.yaml) beside its results. A stage
// whose resolved config and inputs hash to what its last successful run recorded (<stage>/stage.hash) is
// skipped; force re-runs every selected stage; only picks one stage; dry_run prints what each selected stage
// would do and why (stdout), and runs and writes nothing. A stage that cannot run on this machine (bench without
// a GPU) is skipped with a one-line reason. Each stage's wall time is printed and kept, with its start, end,
// CPU time, commit and machine, in <stage>/stage_run.json (pipeline/report/stage_record.h).
#pragma once

#include <functional>
#include <string>

#include "pipeline/experiment/experiment.h"

namespace dv {

// The bench stage needs the CUDA engine, which this library does not link: the `dejavu` command hands it in.
struct BenchRunner {
  std::function<std::string()> unavailable;  // why the stage cannot run here (no GPU), or "" when it can
  // Times what the experiment's bench section lists into out_dir; predictors_dir is "" without a train stage.
  std::function<void(const Experiment&, const std::string& out_dir, const std::string& predictors_dir)> run;
};

struct RunOptions {
  bool force = false;
  std::string only;  // a stage name, or empty for every stage the experiment lists
  bool dry_run = false;
  BenchRunner bench;  // unset: the bench stage is skipped (a build without CUDA)
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
