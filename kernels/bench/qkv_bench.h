// qkv_bench.h: kernel_bench's sparse_qkv rows: the selected-head Q/K/V projection in its steady state (every
// head's K/V valid up to pos, so nothing is caught up) against the dense step's cuBLAS GEMM of x [B, d] by the
// packed [3d, d] weight, plus the op's A/B variants (SparseQkvArgs: the fused layer norm, no L2 prefetch, 8 k
// chunks in flight, 3 units per SM) and the all_kv mode timed beside the default; every row validated against
// sparse_qkv_ref on sampled heads before it is timed.
#pragma once

#include <cublas_v2.h>

#include <vector>

#include "kernels/bench/bench_report.h"
#include "kernels/bench/bench_timer.h"
#include "kernels/bench/mlp_bench.h"

namespace dv::bench {

struct QkvBenchConfig {
  std::vector<int> batches;       // 1..kSparseQkvLnMaxRows
  std::vector<double> densities;  // fractions of the heads
  TimerConfig timer;
  double copy_gbps = 0;
};

void bench_qkv(const OptShape& shape, const QkvBenchConfig& cfg, cublasHandle_t cublas, std::vector<BenchRow>& rows);

// Per shape, batch and density: dense and every variant's time, % of copy and speedup over dense.
void print_qkv_summary(const BenchRun& run);

}  // namespace dv::bench
