// cmd_report.cpp: `dejavu report RUN_DIR`: report.md + self-contained report.html of a run folder.
#include <cstdio>
#include <memory>
#include <string>

#include "pipeline/cli/commands.h"
#include "pipeline/report/run_report.h"

namespace dv::cli {

void add_report_command(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "report", "Write RUN_DIR/report.md and a self-contained report.html: summary, model, commit, machine, stage "
                "times, every config, table and plot of the run");
  cmd->add_option("run_dir", *dir, "a run's output folder (runs/NAME), or a stage's --out folder")->required();
  cmd->callback([dir] { std::fputs(format_run_report(write_run_report(*dir)).c_str(), stdout); });
}

}  // namespace dv::cli
