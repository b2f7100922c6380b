// bench_timer.h: times one device operation the way every kernel_bench figure is taken: warm-up calls,
// then per repetition an L2 flush (outside the timed region), CUDA events around the operation alone, all
// events read after one final synchronisation; median, minimum and 90th percentile.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <vector>

#include "kernels/bench/bench_device.cuh"
#include "kernels/common/cuda_check.h"

namespace dv::bench {

struct Timing {
  double median_us = 0;
  double min_us = 0;
  double p90_us = 0;
};

struct TimerConfig {
  cudaStream_t stream = nullptr;
  const void* flush_buf = nullptr;  // >= 2x the L2 size
  size_t flush_bytes = 0;
  unsigned* flush_sink = nullptr;
  int warmup = 3;
  int reps = 50;
};

template <class Op>
Timing time_op(const TimerConfig& cfg, Op&& op) {
  for (int i = 0; i < cfg.warmup; ++i) op();
  std::vector<cudaEvent_t> ev(2 * static_cast<size_t>(cfg.reps));
  for (auto& e : ev) DV_CUDA_CHECK(cudaEventCreate(&e));
  for (int i = 0; i < cfg.reps; ++i) {
    flush_l2(cfg.flush_buf, cfg.flush_bytes, cfg.flush_sink, cfg.stream);
    DV_CUDA_CHECK(cudaEventRecord(ev[2 * i], cfg.stream));
    op();
    DV_CUDA_CHECK(cudaEventRecord(ev[2 * i + 1], cfg.stream));
  }
  DV_CUDA_CHECK(cudaEventSynchronize(ev.back()));
  std::vector<double> us(static_cast<size_t>(cfg.reps));
  for (int i = 0; i < cfg.reps; ++i) {
    float ms = 0.f;
    DV_CUDA_CHECK(cudaEventElapsedTime(&ms, ev[2 * i], ev[2 * i + 1]));
    us[static_cast<size_t>(i)] = 1e3 * ms;
  }
  for (auto& e : ev) DV_CUDA_CHECK(cudaEventDestroy(e));
  std::sort(us.begin(), us.end());
  Timing t;
  t.median_us = us[us.size() / 2];
  t.min_us = us.front();
  t.p90_us = us[std::min(us.size() - 1, us.size() * 9 / 10)];
  return t;
}

}  // namespace dv::bench
