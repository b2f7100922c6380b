// step_warmup.cpp: see step_warmup.h.
#include "engine/cuda/step_warmup.h"

#include "kernels/common/cuda_check.h"
#include "kernels/common/error.h"

namespace dv::engine {

StepWarmup::StepWarmup(WarmBranch& branch, int num_sms)
    : branch_(branch), num_sms_(num_sms), mode_(l2_warmup_mode()), budget_(l2_warmup_budget()),
      down_(budget_ > 0 && l2_warmup_down()) {}

kernels::L2Warmup StepWarmup::for_op(const kernels::L2Warmup& w, cudaStream_t main) {
  if (mode_ != L2WarmupMode::kBranch || !w.active()) return w;
  DV_CHECK(forks_ < branch_.forks.size(), "L2 warm-up: more than {} forks in one step", branch_.forks.size());
  const cudaEvent_t fork = branch_.forks[forks_++];
  DV_CUDA_CHECK(cudaEventRecord(fork, main));
  DV_CUDA_CHECK(cudaStreamWaitEvent(branch_.stream.get(), fork, 0));
  kernels::launch_l2_warmup(w, num_sms_, branch_.stream.get());
  return {};
}

void StepWarmup::join(cudaStream_t main) {
  if (forks_ == 0) return;
  DV_CUDA_CHECK(cudaEventRecord(branch_.join[0], branch_.stream.get()));
  DV_CUDA_CHECK(cudaStreamWaitEvent(main, branch_.join[0], 0));
}

}  // namespace dv::engine
