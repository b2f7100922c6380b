// step_warmup.h: the decode step's L2 warm-up (kernels/common/l2_warmup.cuh) as the step recorder uses it: the
// mode and budget read when a step is recorded (step_switches.h), and in branch mode the fork of each warm-up onto
// the buffers' low-priority warm stream and its join at the end of the step.
#pragma once

#include <cuda_runtime.h>

#include "engine/cuda/decode_buffers.h"
#include "engine/cuda/step_switches.h"
#include "kernels/common/l2_warmup.cuh"

namespace dv::engine {

class StepWarmup {
 public:
  StepWarmup(WarmBranch& branch, int num_sms);

  // Bytes a warm-up may name (0: off).
  long long budget() const { return budget_; }
  // Whether the sparse up projection warms the down projection's rows (on, unless DEJAVU_L2_WARMUP_DOWN=0).
  bool down() const { return down_; }
  // The warm-up `w` of the op about to launch on `main`: with the branch, launched now on the warm stream forked
  // from `main` (the op gets none, and nothing after it waits for the prefetches); with warm units, the op's own.
  kernels::L2Warmup for_op(const kernels::L2Warmup& w, cudaStream_t main);
  // End of the step: `main` waits for the branch (if anything was forked), so a replay starts with it idle.
  void join(cudaStream_t main);

 private:
  WarmBranch& branch_;
  const int num_sms_;
  const L2WarmupMode mode_;
  const long long budget_;
  const bool down_;
  size_t forks_ = 0;
};

}  // namespace dv::engine
