// cmd_measure.cpp: `dejavu measure`: oracle vs predicted sparsity statistics of an activation store.
#include <cstdio>
#include <memory>

#include "engine/io/interrupt.h"
#include "engine/io/output_lock.h"
#include "pipeline/cli/commands.h"
#include "pipeline/cli/option_flags.h"
#include "pipeline/measure/measure_stage.h"

namespace dv::cli {

void add_measure_command(CLI::App& app) {
  auto o = std::make_shared<MeasureOptions>();
  CLI::App* cmd = app.add_subcommand("measure", "Oracle vs predicted sparsity per layer (CSV, JSON, plots)");
  cmd->add_option("--acts", o->acts, "activation store from `dejavu collect`")->required();
  cmd->add_option("--out", o->out, "output directory")->required();
  cmd->add_option("--predictors", o->predictors, "predictor directory from `dejavu train` (optional)");
  cmd->add_option("--predictor-dtype", o->predictor_dtype,
                  "predictor weights as trained (fp32) or per-row int8 as the CUDA engine's int8 predictors")
      ->capture_default_str();
  OptionFlags flags(cmd, "measure");
  visit_measure_options(o->sweeps, flags);
  cmd->add_option("--max-rows", o->max_rows, "use the first N rows (0 = all)")->capture_default_str();
  cmd->add_option("--device", o->device, "cpu or cuda (predictor sweeps)")->capture_default_str();
  cmd->callback([o] {
    const OutputLock lock(o->out);
    const InterruptGuard guard;  // a stop request ends measure at its next chunk, before anything is written
    run_measure(*o);
    std::printf("measure: results in %s\n", o->out.c_str());
  });
}

}  // namespace dv::cli
