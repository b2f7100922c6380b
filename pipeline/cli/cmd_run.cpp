// cmd_run.cpp: `dejavu run EXPERIMENT.yaml [--out DIR] [--force] [--only STAGE] [--dry-run]`.
#include <cstdio>
#include <memory>

#include "engine/io/interrupt.h"
#include "pipeline/cli/commands.h"
#include "pipeline/experiment/experiment.h"
#include "pipeline/stages/run_checks.h"
#include "pipeline/report/run_report.h"
#include "pipeline/stages/run_command.h"
#include "pipeline/stages/run_experiment.h"
#ifdef DEJAVU_HAVE_CUDA
#include "pipeline/cli/bench_stage.h"
#endif

namespace dv::cli {

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
    warn_about_experiment(e, a->file);
#ifdef DEJAVU_HAVE_CUDA
    a->run.bench = cuda_bench_runner();
#endif
    try {
      run_experiment(e, a->run);
    } catch (const Interrupted& stopped) {
      throw Interrupted(fmt::format("{}; finished stages are kept: run `{}` again to resume", stopped.what(),
                                    resume_command(a->file, a->out, a->run)));
    }
    if (a->run.dry_run) return;
    std::printf("run: %s finished; results under %s\n", e.name.c_str(), e.output_dir.c_str());
    std::fputs(format_run_report(write_run_report(e.output_dir)).c_str(), stdout);  // e.output_dir honours --out
  });
}

}  // namespace dv::cli
