// bench_tp.h: `dejavu bench --tp N`: the tensor-parallel decode bench (engine/tp/tp_bench.h). Launched by
// torchrun / mpirun (ranks in the environment) it runs this process's rank; otherwise --tp 1 runs in this
// process and --tp N > 1 starts N ranks of this same command line (engine/tp/tp_launch.h), one per GPU, and
// waits for them; more ranks than GPUs is an error (exit 2). Rank 0 writes tp_bench.json and tp_bench.csv.
#pragma once

#include <string>

#include "engine/tp/tp_bench.h"

namespace dv::cli {

struct TpBenchArgs {
  int tp = 1;
  std::string out = "runs/bench";
  double launch_timeout_s = 1800;
  TpBenchOptions bench;
};

void run_tp_bench_command(const TpBenchArgs& args);

}  // namespace dv::cli
