// mlp_bench.h: kernel_bench's per-shape driver: sparse up / down / up+down against dense cuBLAS fc1 / fc2 /
// fc1+fc2 for every batch and density, each validated before it is timed (the predictor: predictor_bench.h).
#pragma once

#include <cublas_v2.h>

#include <string>
#include <vector>

#include "kernels/bench/bench_report.h"
#include "kernels/bench/bench_timer.h"

namespace dv::bench {

struct OptShape {
  std::string name;
  int d = 0;
  int ffn = 0;
  int heads = 0;  // attention heads (head_dim d / heads)
};

// opt-1.3b, opt-6.7b, opt-13b, opt-30b, opt-66b (hidden size, 4x MLP width, heads).
const std::vector<OptShape>& opt_shapes();

// A result row of this shape, batch, selection and op, not yet timed.
BenchRow make_row(const OptShape& s, int B, double density, int k, const std::string& op);

struct MlpBenchConfig {
  std::vector<int> batches;
  std::vector<double> densities;  // fractions of ffn
  bool unsorted = false;          // idx in random order instead of ascending (the predictor's order)
  TimerConfig timer;
  double copy_gbps = 0;
};

void bench_shape(const OptShape& shape, const MlpBenchConfig& cfg, cublasHandle_t cublas,
                 std::vector<BenchRow>& rows);

}  // namespace dv::bench
