// run_stage.h: the one interface through which `dejavu run` composes the stages. Each stage folder
// (pipeline/<stage>/) implements RunStage in its <stage>_run_stage.cpp: what it reads (the files its hash
// covers), what it makes that a later stage reads, why it cannot run on this machine, and how it runs one
// experiment section into a folder. run_experiment() (run_experiment.h) holds everything the stages share
// (hashes, skipping, the partial folder, locks, records) and knows no stage; the `dejavu run` command
// (cmd_run.cpp) hands it the table of stages this build has, so no library links the libraries above it.
#pragma once

#include <string>
#include <vector>

#include "pipeline/experiment/experiment.h"

namespace dv {

class InputCheck;   // run_checks.h: each input checked once
class SharedModel;  // shared_model.h: the experiment's checkpoint, loaded once for every stage that runs it

// Output layout of a run: <root>/<stage>/ per stage.
struct RunLayout {
  std::string root;
  std::string stage_dir(Stage s) const { return root + "/" + stage_name(s); }
  std::string acts() const { return stage_dir(Stage::kCollect) + "/acts.h5"; }
  std::string predictors() const { return stage_dir(Stage::kTrain); }
};

// What a stage's run() gets.
struct StageContext {
  const Experiment& experiment;
  const RunLayout& layout;
  std::string work;  // the folder it writes (<stage>.partial, which replaces <stage>/ once it returns)
  bool force;        // --force: start afresh rather than resume partial work
  SharedModel& model;
};

class RunStage {
 public:
  virtual ~RunStage() = default;
  virtual Stage stage() const = 0;
  // The files and folders whose content the stage's hash covers (what it reads).
  virtual std::vector<std::string> inputs(const Experiment& e, const RunLayout& layout) const = 0;
  // What it makes that later stages read (their inputs), for --dry-run's "an earlier stage remakes it".
  virtual std::vector<std::string> outputs(const RunLayout& layout) const { return {}; }
  // Opens every input it will read that the user provides (checkpoint, texts, task files, a store no earlier
  // stage of the run makes) far enough to find it malformed: called for every selected stage before the
  // first one starts, and by --dry-run. dv::Error naming the file and the key.
  virtual void check_inputs(const Experiment& e, const RunLayout& layout, InputCheck& check) const {}
  // Why it cannot run on this machine (the reason printed when it is skipped), or "" when it can.
  virtual std::string unavailable() const { return ""; }
  // Runs the experiment's section into ctx.work; dv::Interrupted at a clean point when a stop was requested.
  virtual void run(const StageContext& ctx) const = 0;
};

}  // namespace dv
