// run_experiment.cpp: the stage loop of `dejavu run`: selection, hashes and skipping, the partial folder,
// locks and records; each stage's own work is its RunStage (run_stage.h).
#include "pipeline/run/run_experiment.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/io/atomic_file.h"
#include "engine/io/interrupt.h"
#include "engine/io/output_lock.h"
#include "engine/io/warning_log.h"
#include "kernels/common/error.h"
#include "pipeline/experiment/config_diff.h"
#include "pipeline/experiment/content_hash.h"
#include "pipeline/experiment/experiment_yaml.h"
#include "pipeline/report/stage_record.h"
#include "pipeline/run/force_pending.h"
#include "pipeline/run/run_checks.h"
#include "pipeline/run/shared_model.h"
#include "pipeline/run/stage_folder.h"

namespace dv {
namespace {

namespace fs = std::filesystem;

// The implementation of stage s this build has, or null.
const RunStage* find_stage(const std::vector<const RunStage*>& stages, Stage s) {
  for (const RunStage* r : stages)
    if (r->stage() == s) return r;
  return nullptr;
}

// The experiment lists the stage and --only (when given) names it.
bool selected(const Experiment& e, const RunOptions& ro, Stage s) {
  return e.runs(s) && (ro.only.empty() || ro.only == stage_name(s));
}

void check_inputs_exist(Stage s, const std::vector<std::string>& inputs) {
  for (const auto& in : inputs)
    DV_CHECK(fs::exists(in), "stage {}: input {} does not exist (run the stage that makes it first)", stage_name(s),
             in);
}

// Why a selected stage cannot run here, or "": not in this build (bench without CUDA), or not on this machine.
std::string unavailable(const RunStage* stage) {
  if (stage == nullptr) return "this dejavu was built without the CUDA engine";
  return stage->unavailable();
}

bool unchanged(const std::string& hash_file, const std::string& hash) {
  return fs::exists(hash_file) && read_small_file(hash_file) == hash;
}

// Whether a selected stage whose inputs exist runs, and why, in words for the log and --dry-run.
struct StageDecision {
  bool run = false;
  bool discard_partial = false;  // --force: unfinished work of an earlier attempt is thrown away
  std::string why;
};

// "its config changed (eval.mlp_densities)" / "its inputs changed": what differs from the finished run in dir.
std::string change_reason(const Experiment& e, Stage s, const std::string& dir) {
  const std::string recorded = dir + "/config.yaml";
  if (!fs::exists(recorded)) return "its config or inputs changed since its last run";
  const std::string text = read_small_file(recorded);
  const std::vector<std::string> keys = changed_stage_keys(text, e, s);
  if (!keys.empty()) return fmt::format("its config changed since its last run: {}", fmt::join(keys, ", "));
  if (text == stage_config_yaml(e, s)) return "its inputs changed since its last run (config unchanged)";
  return "its config or inputs changed since its last run";
}

StageDecision decide(const Experiment& e, const RunOptions& ro, Stage s, const RunLayout& layout,
                     const std::string& hash, const ForcePending& pending) {
  const std::string dir = layout.stage_dir(s);
  StageDecision d;
  PartialFolder partial = partial_folder_state(dir, hash);
  if (ro.force) {
    d = {true, true, "--force"};
    if (partial == PartialFolder::kResumable) partial = PartialFolder::kStale;  // --force starts afresh
  } else if (pending.contains(stage_name(s))) {
    d = {true, false, "an interrupted --force run had not redone it yet (force.pending)"};
  } else if (!fs::exists(dir + "/stage.hash")) {
    d = {true, false, "no finished run in " + dir};
  } else if (!unchanged(dir + "/stage.hash", hash)) {
    d = {true, false, change_reason(e, s, dir)};
  } else if (partial == PartialFolder::kResumable) {
    d = {true, false, "unchanged, but an interrupted run with the same settings left unfinished work"};
  } else {
    d = {false, false, "unchanged since its last run"};
  }
  if (d.run && partial != PartialFolder::kNone) d.why += "; " + describe_partial_folder(dir, partial);
  return d;
}

// Every selected stage's inputs, before the first stage runs (run_checks.h).
void check_run_inputs(const Experiment& e, const RunOptions& ro, const RunLayout& layout,
                      const std::vector<const RunStage*>& stages) {
  InputCheck check;
  for (Stage s : kAllStages) {
    const RunStage* stage = find_stage(stages, s);
    if (selected(e, ro, s) && unavailable(stage).empty()) stage->check_inputs(e, layout, check);
  }
}

// --dry-run: one line per selected stage. A stage reading what an earlier stage of this run remakes would run
// too (unless that stage happened to write the same bytes again, which the real run then notices).
void print_plan(const Experiment& e, const RunOptions& ro, const RunLayout& layout,
                const std::vector<const RunStage*>& stages) {
  std::printf("dry run of %s (output %s): nothing is run or written\n", e.name.c_str(), layout.root.c_str());
  const ForcePending pending(layout.root);
  std::vector<std::string> remade;  // outputs of the stages that would run
  for (Stage s : kAllStages) {
    if (!selected(e, ro, s)) continue;
    const RunStage* stage = find_stage(stages, s);
    if (const std::string no = unavailable(stage); !no.empty()) {
      std::printf("  %-8s skip  %s\n", stage_name(s), no.c_str());
      continue;
    }
    const std::vector<std::string> inputs = stage->inputs(e, layout);
    std::string upstream;
    for (const auto& in : inputs)
      if (std::find(remade.begin(), remade.end(), in) != remade.end()) upstream = in;
    std::string why;
    if (!upstream.empty()) {
      why = fmt::format("reads {}, which an earlier stage remakes", upstream);
      if (fs::exists(partial_folder_path(layout.stage_dir(s))))
        why += fmt::format("; {} is resumed only if it was started with the same inputs, else discarded",
                           partial_folder_path(layout.stage_dir(s)));
    } else {
      check_inputs_exist(s, inputs);
      const StageDecision d = decide(e, ro, s, layout, run_stage_hash(e, s, inputs, layout.root), pending);
      if (!d.run) {
        std::printf("  %-8s skip  %s\n", stage_name(s), d.why.c_str());
        continue;
      }
      why = d.why;
    }
    std::printf("  %-8s run   %s\n", stage_name(s), why.c_str());
    for (const std::string& out : stage->outputs(layout)) remade.push_back(out);
  }
}

}  // namespace

void run_experiment(const Experiment& e, const RunOptions& ro, const std::vector<const RunStage*>& stages) {
  if (!ro.only.empty()) {
    bool known = false;
    std::string names, listed;
    for (Stage s : kAllStages) {
      known = known || ro.only == stage_name(s);
      names += std::string(names.empty() ? "" : ", ") + stage_name(s);
      if (e.runs(s)) listed += std::string(listed.empty() ? "" : ", ") + stage_name(s);
    }
    DV_CHECK(known, "--only {}: not a stage ({})", ro.only, names);
    bool listed_here = false;
    for (Stage s : kAllStages) listed_here = listed_here || (ro.only == stage_name(s) && e.runs(s));
    DV_CHECK(listed_here, "--only {}: experiment {} does not list a {} stage (its stages: {}); add it to `stages:`",
             ro.only, e.name, ro.only, listed);
  }
  const RunLayout layout{e.output_dir};
  check_run_inputs(e, ro, layout, stages);
  if (ro.dry_run) {
    print_plan(e, ro, layout, stages);
    return;
  }
  const OutputLock run_lock(layout.root);  // one `dejavu run` per output folder
  make_dirs(layout.root);
  write_file_atomic(layout.root + "/experiment.yaml", experiment_to_yaml(e));
  ForcePending pending(layout.root);
  if (ro.force) {
    std::set<std::string> forced;
    for (Stage s : kAllStages)
      if (selected(e, ro, s) && unavailable(find_stage(stages, s)).empty()) forced.insert(stage_name(s));
    pending.add(forced);
  }
  // One interruption policy for every stage: the first SIGINT/SIGTERM stops at the stage's next clean point
  // (collect: its next batch, train: its next batch, measure: its next chunk, eval: its next point) or before
  // the next stage; finished stages and the unfinished stage's resumable work are kept.
  const InterruptGuard interrupt_guard;
  SharedModel model(e);
  for (Stage s : kAllStages) {
    if (!selected(e, ro, s)) continue;
    const RunStage* stage = find_stage(stages, s);
    if (const std::string no = unavailable(stage); !no.empty()) {
      std::fprintf(stderr, "== %s: skipped: %s\n", stage_name(s), no.c_str());
      continue;
    }
    check_interrupt(fmt::format("run: before stage {}", stage_name(s)));
    const std::string dir = layout.stage_dir(s);
    const std::vector<std::string> inputs = stage->inputs(e, layout);
    check_inputs_exist(s, inputs);
    const std::string hash = run_stage_hash(e, s, inputs, layout.root);
    const StageDecision d = decide(e, ro, s, layout, hash, pending);
    if (!d.run) {
      std::fprintf(stderr, "== %s: unchanged since its last run, skipped (%s; --force re-runs)\n", stage_name(s),
                   dir.c_str());  // its stage_run.json still tells when and where its results were made
      continue;
    }
    std::fprintf(stderr, "== %s -> %s (%s)\n", stage_name(s), dir.c_str(), d.why.c_str());
    const auto stage_start = std::chrono::steady_clock::now();
    const std::string started_utc = utc_now_iso8601();
    const OutputLock stage_lock(dir);  // also keeps a plain stage command off this folder
    // The stage writes into <dir>.partial, which replaces <dir> whole once the stage is done.
    prepare_partial_folder(dir, hash, d.discard_partial);
    const std::string work = partial_folder_path(dir);
    write_file_atomic(work + "/config.yaml", stage_config_yaml(e, s));
    const double cpu_started = process_cpu_seconds();
    {
      const WarningLog stage_warnings;  // kept in <stage>/warnings.json for the summary and the report
      stage->run(StageContext{e, layout, work, d.discard_partial, model});
      write_warnings(work, stage_warnings.warnings());
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - stage_start).count();
    write_stage_record(work,
                       make_stage_record(stage_name(s), started_utc, seconds, process_cpu_seconds() - cpu_started));
    commit_partial_folder(dir, hash);
    pending.done(stage_name(s));
    std::fprintf(stderr, "== %s done in %.1f s\n", stage_name(s), seconds);
  }
}

}  // namespace dv
