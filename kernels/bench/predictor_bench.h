// predictor_bench.h: kernel_bench's predictor rows: the previous three-launch chain (row_dot z, row_dot scores,
// one-block select) and the work-unit ops (split-K z, scores + key histogram, multi-row select) side by side,
// fp16 and int8 weights, at every batch (and the per-row union for B > 1), plus each version's selection alone;
// every row validated before it is timed (z and scores on samples, the selection exactly).
#pragma once

#include <vector>

#include "kernels/bench/bench_report.h"
#include "kernels/bench/bench_timer.h"
#include "kernels/bench/mlp_bench.h"

namespace dv::bench {

struct PredictorBenchConfig {
  std::vector<int> batches;
  int rank = 1000;        // r (multiple of 8)
  double density = 0.1;   // top-k fraction of ffn
  TimerConfig timer;
  double copy_gbps = 0;
};

void bench_predictor(const OptShape& shape, const PredictorBenchConfig& cfg, std::vector<BenchRow>& rows);

// Per shape and batch: chain vs ops times, % of copy, speedup.
void print_predictor_summary(const BenchRun& run);

}  // namespace dv::bench
