// persistent_decoder.h: the persistent decode path of CudaEngine (issue 19 item 4): the step's op list
// (persistent_plan.h) scheduled once per shape and capacity onto every CTA the GPU holds at once
// (decode_schedule.h), its tables and counters in device memory, and one kernel launch per step
// (persistent_decode.cuh). The tables hold raw pointers into the engine's buffers, weights and sparse state,
// so a decoder is rebuilt whenever those are (the engine drops it as it drops a captured graph).
// Failure: the kernel's watchdog (persistent_sync.cuh) stops a step whose wait exceeds the bound and leaves its
// report in host-mapped memory; check() turns it into one dv::Error line naming the op, its layer and the
// counter it waited for. After a report every later launch returns at once until recover().
// DEJAVU_PERSISTENT_WATCHDOG_MS overrides the bound (default 1000 ms; raise it under compute-sanitizer).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <cuda_runtime.h>

#include "engine/cuda/decode_buffers.h"
#include "engine/cuda/engine_context.h"
#include "engine/cuda/gpu_weights.h"
#include "engine/cuda/persistent/persistent_plan.h"
#include "engine/cuda/sparse_state.h"
#include "kernels/persistent_decode/decode_schedule.h"
#include "kernels/persistent_decode/persistent_types.h"

namespace dv::engine {

class PersistentDecoder {
 public:
  // sparse == nullptr: the dense step.
  PersistentDecoder(const EngineContext& ctx, const GpuWeights& weights, DecodeBuffers& buffers,
                    const SparseState* sparse);
  ~PersistentDecoder();
  PersistentDecoder(const PersistentDecoder&) = delete;
  PersistentDecoder& operator=(const PersistentDecoder&) = delete;

  void enqueue(cudaStream_t stream);  // one decode step (throws first if an earlier step was stopped)
  void check() const;                 // throws the watchdog's report as one dv::Error line, if there is one
  bool failed() const;
  void recover(cudaStream_t stream);  // after a report: counters, control and report back to zero

  const std::vector<kernels::ScheduleOp>& ops() const { return plan_.ops; }
  const kernels::DecodeSchedule& schedule() const { return schedule_; }
  // Tests: the op's waits ask for one unit more than exists, so its first wait never returns.
  void plant_stuck_wait(int op) { stuck_op_ = op; }
  long long watchdog_ms() const { return watchdog_ms_; }
  // Tracing (kernels/persistent_decode/decode_trace.h): while on, every launch records each op's times, and
  // read_trace() returns the last launch's (it synchronizes the stream). Off by default: the kernel then reads
  // no clock.
  void set_trace(bool on);
  std::vector<kernels::PersistentOpTrace> read_trace(cudaStream_t stream) const;

 private:
  // The grid, read once (the buffers, plan and schedule all size from it): every CTA, those reserved for the
  // predictors' ops (or their select ops alone: DEJAVU_PERSISTENT_SIDE_CTAS / _SELECT_CTAS), and the rest.
  struct CtaSplit {
    int all = 0, side = 0;
    bool select_only = false;
    int main() const { return all - side; }
  };
  static CtaSplit split_ctas(const EngineContext& ctx, const SparseState* sparse);

  CtaSplit ctas_;
  PersistentBuffers buffers_;
  PersistentPlan plan_;
  kernels::DecodeSchedule schedule_;
  at::Tensor ops_dev_, headers_dev_, deps_dev_, instructions_dev_, cta_first_dev_, counters_, control_;
  kernels::PersistentError* error_host_ = nullptr;  // host-mapped
  kernels::PersistentError* error_dev_ = nullptr;
  int* pos_ = nullptr;
  int* positions_ = nullptr;
  int batch_ = 0;
  long long watchdog_ms_ = 1000;
  bool l1_inputs_ = true;  // the load policy (DEJAVU_PERSISTENT_LOADS, step_switches.h), read at construction
  int smem_bytes_ = 0;  // the schedule's largest op kind's; 0 (the largest op's) under DEJAVU_PERSISTENT_SMEM=max
  int stuck_op_ = -1;
  at::Tensor trace_;  // [ops] PersistentOpTrace while tracing
  std::vector<kernels::PersistentOpTrace> trace_init_;
};

}  // namespace dv::engine
