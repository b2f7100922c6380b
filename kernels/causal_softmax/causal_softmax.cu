// causal_softmax.cu: one block per row, block-wide max and sum reductions through warp shuffles.
#include "kernels/causal_softmax/causal_softmax.cuh"

#include <cfloat>

#include "kernels/common/cuda_check.h"

namespace dv {
namespace {

constexpr int kThreads = 256;

template <bool kMax>
__device__ float block_reduce(float v, float* shared) {
  for (int o = 16; o > 0; o >>= 1) {
    const float other = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, other) : v + other;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();  // `shared` may still be read by the previous reduction
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < kThreads / 32 ? shared[lane] : (kMax ? -FLT_MAX : 0.f);
  for (int o = 16; o > 0; o >>= 1) {
    const float other = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, other) : v + other;
  }
  return v;
}

__global__ void __launch_bounds__(kThreads) causal_softmax_kernel(CausalSoftmaxArgs a) {
  __shared__ float shared[kThreads / 32];
  const int r = blockIdx.x;
  const float* s = a.scores + static_cast<size_t>(r) * a.ld;
  __half* p = a.probs + static_cast<size_t>(r) * a.ld;
  const int visible = r % a.q_len + (a.k_len - a.q_len) + 1;
  float m = -FLT_MAX;
  for (int j = threadIdx.x; j < visible; j += kThreads) m = fmaxf(m, a.scale * s[j]);
  m = block_reduce<true>(m, shared);
  float sum = 0.f;
  for (int j = threadIdx.x; j < visible; j += kThreads) sum += __expf(a.scale * s[j] - m);
  sum = block_reduce<false>(sum, shared);
  const float inv = 1.f / sum;
  for (int j = threadIdx.x; j < a.k_len; j += kThreads)
    p[j] = __float2half(j < visible ? __expf(a.scale * s[j] - m) * inv : 0.f);
}

}  // namespace

void launch_causal_softmax(const CausalSoftmaxArgs& a, cudaStream_t stream) {
  DV_CHECK(a.rows >= 0 && a.q_len > 0 && a.k_len >= a.q_len && a.ld >= a.k_len,
           "causal_softmax: bad sizes rows={} q_len={} k_len={} ld={}", a.rows, a.q_len, a.k_len, a.ld);
  DV_CHECK(a.probs != nullptr && a.scores != nullptr, "causal_softmax: null buffer");
  if (a.rows == 0) return;
  causal_softmax_kernel<<<a.rows, kThreads, 0, stream>>>(a);
  DV_CUDA_LAUNCH_CHECK("causal_softmax_kernel");
}

}  // namespace dv
