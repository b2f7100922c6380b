// layer_norm.cu: the fused residual-add + LayerNorm declared in layer_norm.cuh. Rows up to 12288 wide (every
// OPT) run the persistent decode kernel's LayerNormOp (kernels/persistent_decode/row_ops.cuh) as one unit a
// row, so both decode paths give the same bits; wider rows run the kernel below.
// One block per row (at most 512 threads), VPT 16-byte vectors per thread held in registers: a single
// read of each input and a two-pass (mean, then centred variance) reduction without a second trip to memory.
#include "kernels/layer_norm/layer_norm.cuh"

#include <cstdint>

#include "kernels/common/cuda_check.h"
#include "kernels/common/l2_warmup.cuh"
#include "kernels/common/pdl.cuh"
#include "kernels/persistent_decode/row_ops.cuh"

namespace dv {
namespace {

union Vec8 {
  uint4 u;
  __half2 h2[4];
};

__device__ __forceinline__ float block_sum(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nwarps = blockDim.x >> 5;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : 0.f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();  // scratch is reused by the next reduction
  return v;
}

template <int VPT>
__global__ void __launch_bounds__(512) layer_norm_kernel(LayerNormArgs a) {
  kernels::pdl_begin();
  __shared__ float scratch[32];
  const int nvec = a.d >> 3;
  const size_t row = static_cast<size_t>(blockIdx.x) * nvec;
  const uint4* x = reinterpret_cast<const uint4*>(a.x) + row;
  const uint4* res = a.residual ? reinterpret_cast<const uint4*>(a.residual) + row : nullptr;
  const uint4* bias = reinterpret_cast<const uint4*>(a.bias);
  const bool add = res != nullptr || bias != nullptr;

  float v[VPT][8];
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < VPT; ++i) {
    const int c = threadIdx.x + i * blockDim.x;
    if (c < nvec) {
      Vec8 in;
      in.u = x[c];
      float f[8];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 p = __half22float2(in.h2[j]);
        f[2 * j] = p.x;
        f[2 * j + 1] = p.y;
      }
      if (add) {
        Vec8 r, b;
        r.u = res ? res[c] : make_uint4(0, 0, 0, 0);
        b.u = bias ? __ldg(bias + c) : make_uint4(0, 0, 0, 0);
        Vec8 s;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const float2 pr = __half22float2(r.h2[j]), pb = __half22float2(b.h2[j]);
          s.h2[j] = __floats2half2_rn(f[2 * j] + pr.x + pb.x, f[2 * j + 1] + pr.y + pb.y);
          const float2 ps = __half22float2(s.h2[j]);
          f[2 * j] = ps.x;
          f[2 * j + 1] = ps.y;
        }
        if (a.sum_out) reinterpret_cast<uint4*>(a.sum_out)[row + c] = s.u;
      }
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        v[i][j] = f[j];
        sum += f[j];
      }
    }
  }
  const float inv_d = 1.f / static_cast<float>(a.d);
  const float mean = block_sum(sum, scratch) * inv_d;
  float sq = 0.f;
#pragma unroll
  for (int i = 0; i < VPT; ++i) {
    if (threadIdx.x + i * blockDim.x < nvec) {
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const float c = v[i][j] - mean;
        sq += c * c;
      }
    }
  }
  const float rstd = rsqrtf(block_sum(sq, scratch) * inv_d + a.eps);

  const uint4* gamma = reinterpret_cast<const uint4*>(a.gamma);
  const uint4* beta = reinterpret_cast<const uint4*>(a.beta);
  uint4* y = reinterpret_cast<uint4*>(a.y) + row;
#pragma unroll
  for (int i = 0; i < VPT; ++i) {
    const int c = threadIdx.x + i * blockDim.x;
    if (c < nvec) {
      Vec8 g, b, out;
      g.u = __ldg(gamma + c);
      b.u = __ldg(beta + c);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 pg = __half22float2(g.h2[j]), pb = __half22float2(b.h2[j]);
        out.h2[j] =
            __floats2half2_rn((v[i][2 * j] - mean) * rstd * pg.x + pb.x, (v[i][2 * j + 1] - mean) * rstd * pg.y + pb.y);
      }
      y[c] = out.u;
    }
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace

void launch_layer_norm(const LayerNormArgs& a, cudaStream_t stream) {
  launch_layer_norm(a, kernels::L2Warmup{}, 0, stream);
}

void launch_layer_norm(const LayerNormArgs& a, const kernels::L2Warmup& warm_next, int num_sms,
                       cudaStream_t stream) {
  DV_CHECK(a.rows >= 0, "layer_norm: rows = {} is negative", a.rows);
  DV_CHECK(a.d > 0 && a.d % 8 == 0 && a.d <= kLayerNormMaxWidth,
           "layer_norm: width d = {} must be a positive multiple of 8 and at most {}", a.d, kLayerNormMaxWidth);
  DV_CHECK(a.y && a.x && a.gamma && a.beta, "layer_norm: y, x, gamma and beta must be non-null");
  DV_CHECK(aligned16(a.y) && aligned16(a.x) && aligned16(a.gamma) && aligned16(a.beta) && aligned16(a.sum_out) &&
               aligned16(a.residual) && aligned16(a.bias),
           "layer_norm: every pointer must be 16-byte aligned (16-byte vector access)");
  kernels::check_l2_warmup(warm_next, "layer_norm");
  if (a.rows == 0) return;
  if (a.d <= kernels::kRowOpMaxVecs * kernels::kOpThreads * 8) {
    // Every OPT width: the persistent decode kernel's own LayerNormOp, one unit a row, so the graph and
    // persistent paths round the statistics in the same order and their logits and threshold selections
    // agree to the bit (the first GPU runs differed by an ulp here, enough to flip a neuron at the threshold).
    kernels::LayerNormOp op;
    op.y = a.y;
    op.sum_out = a.sum_out;
    op.x = a.x;
    op.residual = a.residual;
    op.bias = a.bias;
    op.gamma = a.gamma;
    op.beta = a.beta;
    op.B = a.rows;
    op.d = a.d;
    op.eps = a.eps;
    kernels::launch_units_warmed(op, warm_next, num_sms, stream, "layer_norm (LayerNormOp)");
    return;
  }
  const int nvec = a.d / 8;
  // Fewest vectors per thread that fit one block: short rows get a single warp-multiple of threads.
  int vpt = 1;
  while (vpt < 8 && (nvec + vpt - 1) / vpt > 512) vpt *= 2;
  const int threads = ((nvec + vpt - 1) / vpt + 31) / 32 * 32;
  switch (vpt) {
    case 1:
      kernels::launch_kernel_pdl(layer_norm_kernel<1>, a.rows, threads, 0, stream, a);
      break;
    case 2:
      kernels::launch_kernel_pdl(layer_norm_kernel<2>, a.rows, threads, 0, stream, a);
      break;
    case 4:
      kernels::launch_kernel_pdl(layer_norm_kernel<4>, a.rows, threads, 0, stream, a);
      break;
    default:
      kernels::launch_kernel_pdl(layer_norm_kernel<8>, a.rows, threads, 0, stream, a);
      break;
  }
  DV_CUDA_LAUNCH_CHECK("layer_norm_kernel");
}

}  // namespace dv
