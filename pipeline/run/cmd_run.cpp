// cmd_run.cpp: `dejavu run EXPERIMENT.yaml [--out DIR] [--force] [--only STAGE] [--dry-run]`.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "engine/io/interrupt.h"
#include "engine/io/warning_log.h"
#include "pipeline/cli/commands.h"
#include "pipeline/experiment/experiment.h"
#include "pipeline/run/run_checks.h"
#include "pipeline/report/run_report.h"
#include "pipeline/run/run_command.h"
#include "pipeline/run/run_experiment.h"
#include "pipeline/collect/collect_run_stage.h"
#include "pipeline/eval/eval_run_stage.h"
#include "pipeline/measure/measure_run_stage.h"
#include "pipeline/train/train_run_stage.h"
#ifdef DEJAVU_HAVE_CUDA
#include "pipeline/bench/bench_run_stage.h"
#endif

namespace dv::cli {
namespace {

// The stages this build has; run_experiment skips a listed stage that is not here, with the reason.
std::vector<const RunStage*> run_stages() {
  std::vector<const RunStage*> stages = {&collect_run_stage(), &train_run_stage(), &measure_run_stage(),
                                         &eval_run_stage()};
#ifdef DEJAVU_HAVE_CUDA
  stages.push_back(&bench_run_stage());
#endif
  return stages;
}

}  // namespace

void add_run_command(CLI::App& app) {
  struct Args {
    std::string file;
    std::string out;
    RunOptions run;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("run", "Run the stages an experiment YAML lists (skipping unchanged ones)");
  cmd->add_option("experiment", a->file, "experiments/NAME.yaml")->required();
  cmd->add_option("--out", a->out, "output directory (overrides the experiment's output_dir)");
  cmd->add_flag("--force", a->run.force, "re-run stages even when their inputs and config are unchanged");
  cmd->add_option("--only", a->run.only, "run only this stage (collect, train, measure, eval, bench)");
  cmd->add_flag("--dry-run", a->run.dry_run, "print which stages would run and why; run and write nothing");
  cmd->callback([a] {
    Experiment e = load_experiment(a->file);
    if (!a->out.empty()) e.output_dir = a->out;
    check_run_device(e, a->file);
    const WarningLog run_warnings;  // the run's own (not a stage's): <output_dir>/warnings.json
    warn_about_experiment(e, a->file);
    auto keep_warnings = [&] {
      if (!a->run.dry_run && std::filesystem::is_directory(e.output_dir))
        write_warnings(e.output_dir, run_warnings.warnings());
    };
    try {
      run_experiment(e, a->run, run_stages());
      keep_warnings();
    } catch (const Interrupted& stopped) {
      keep_warnings();
      throw Interrupted(fmt::format("{}; finished stages are kept: run `{}` again to resume", stopped.what(),
                                    resume_command(a->file, a->out, a->run)));
    }
    if (a->run.dry_run) return;
    std::printf("run: %s finished; results under %s\n", e.name.c_str(), e.output_dir.c_str());
    std::fputs(format_run_report(write_run_report(e.output_dir)).c_str(), stdout);  // e.output_dir honours --out
  });
}

}  // namespace dv::cli
