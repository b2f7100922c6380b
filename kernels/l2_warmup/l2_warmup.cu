// l2_warmup.cu: the L2 warm-up as a kernel of its own (kernels/common/l2_warmup.cuh), for a forked stream: the
// decode step's warm-up branch, where the op after the warmed one does not wait for the prefetches (warm units in
// front of an op make the next kernel's PDL wait cover them, which the first H100 run measured as a loss).
#include "kernels/common/cuda_check.h"
#include "kernels/common/l2_warmup.cuh"

namespace dv::kernels {
namespace {

__global__ void __launch_bounds__(kUnitThreads) l2_warmup_kernel(L2Warmup w) {
  l2_warmup<PdlSync<false>>(w, static_cast<int>(blockIdx.x), static_cast<int>(gridDim.x));
}

}  // namespace

void launch_l2_warmup(const L2Warmup& w, int num_sms, cudaStream_t stream) {
  check_l2_warmup(w, "l2_warmup");
  const int units = l2_warmup_units(w, num_sms);
  if (units == 0) return;
  l2_warmup_kernel<<<units, kUnitThreads, 0, stream>>>(w);
  DV_CUDA_LAUNCH_CHECK("l2_warmup_kernel");
}

}  // namespace dv::kernels
