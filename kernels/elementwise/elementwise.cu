// elementwise.cu: bias + ReLU, bias + residual, embedding lookup and position add (see elementwise.cuh).
// Each thread handles 16-byte vectors in a grid-stride loop; the grid is capped so that large prefill
// shapes reuse threads instead of launching millions of blocks.
#include "kernels/elementwise/elementwise.cuh"

#include <algorithm>
#include <cstdint>

#include "kernels/common/cuda_check.h"

namespace dv {
namespace {

constexpr int kThreads = 256;
constexpr size_t kMaxBlocks = 8192;
// Eight fp16 quiet NaNs: the row written for an out-of-range token id or position.
constexpr unsigned kNaN2 = 0x7E007E00u;

union Vec8 {
  uint4 u;
  __half2 h2[4];
};

__global__ void bias_relu_kernel(BiasReluArgs a) {
  const size_t nvec = static_cast<size_t>(a.n) / 8, total = nvec * a.rows;
  uint4* x = reinterpret_cast<uint4*>(a.x);
  const uint4* bias = reinterpret_cast<const uint4*>(a.bias);
  const __half2 zero = __float2half2_rn(0.f);
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    Vec8 v, b;
    v.u = x[i];
    b.u = __ldg(bias + i % nvec);
#pragma unroll
    for (int j = 0; j < 4; ++j) v.h2[j] = __hmax2(__hadd2(v.h2[j], b.h2[j]), zero);
    x[i] = v.u;
  }
}

__global__ void bias_residual_kernel(BiasResidualArgs a) {
  const size_t nvec = static_cast<size_t>(a.n) / 8, total = nvec * a.rows;
  const uint4* x = reinterpret_cast<const uint4*>(a.x);
  const uint4* res = reinterpret_cast<const uint4*>(a.residual);
  const uint4* bias = reinterpret_cast<const uint4*>(a.bias);
  uint4* out = reinterpret_cast<uint4*>(a.out);
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    Vec8 v, r, b, o;
    v.u = x[i];
    r.u = res[i];
    b.u = bias ? __ldg(bias + i % nvec) : make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float2 fv = __half22float2(v.h2[j]), fr = __half22float2(r.h2[j]), fb = __half22float2(b.h2[j]);
      o.h2[j] = __floats2half2_rn(fv.x + fr.x + fb.x, fv.y + fr.y + fb.y);
    }
    out[i] = o.u;
  }
}

// Row r's position-table vector c, or nullptr when positions[r] is out of range.
__device__ __forceinline__ const uint4* position_row(const int* positions, const __half* table, int r,
                                                     int max_positions, size_t nvec) {
  const int p = positions[r];
  if (p < 0 || p >= max_positions) return nullptr;
  return reinterpret_cast<const uint4*>(table) + static_cast<size_t>(p + kOptPositionOffset) * nvec;
}

__global__ void embedding_kernel(EmbeddingArgs a) {
  const size_t nvec = static_cast<size_t>(a.d) / 8, total = nvec * a.rows;
  uint4* out = reinterpret_cast<uint4*>(a.out);
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const int r = static_cast<int>(i / nvec);
    const size_t c = i % nvec;
    const int tok = a.tokens[r];
    const uint4* prow = a.pos_embed ? position_row(a.positions, a.pos_embed, r, a.max_positions, nvec) : nullptr;
    if (tok < 0 || tok >= a.vocab || (a.pos_embed && !prow)) {
      out[i] = make_uint4(kNaN2, kNaN2, kNaN2, kNaN2);
      continue;
    }
    Vec8 w;
    w.u = __ldg(reinterpret_cast<const uint4*>(a.word_embed) + static_cast<size_t>(tok) * nvec + c);
    if (prow) {
      Vec8 p;
      p.u = __ldg(prow + c);
#pragma unroll
      for (int j = 0; j < 4; ++j) w.h2[j] = __hadd2(w.h2[j], p.h2[j]);
    }
    out[i] = w.u;
  }
}

__global__ void position_add_kernel(PositionAddArgs a) {
  const size_t nvec = static_cast<size_t>(a.d) / 8, total = nvec * a.rows;
  uint4* x = reinterpret_cast<uint4*>(a.x);
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const int r = static_cast<int>(i / nvec);
    const uint4* prow = position_row(a.positions, a.pos_embed, r, a.max_positions, nvec);
    if (!prow) {
      x[i] = make_uint4(kNaN2, kNaN2, kNaN2, kNaN2);
      continue;
    }
    Vec8 v, p;
    v.u = x[i];
    p.u = __ldg(prow + i % nvec);
#pragma unroll
    for (int j = 0; j < 4; ++j) v.h2[j] = __hadd2(v.h2[j], p.h2[j]);
    x[i] = v.u;
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

unsigned grid_for(int rows, int width) {
  const size_t total = static_cast<size_t>(rows) * (width / 8);
  return static_cast<unsigned>(std::min(kMaxBlocks, (total + kThreads - 1) / kThreads));
}

void check_shape(const char* op, int rows, int width) {
  DV_CHECK(rows >= 0, "{}: rows = {} is negative", op, rows);
  DV_CHECK(width > 0 && width % 8 == 0, "{}: width {} must be a positive multiple of 8", op, width);
}

}  // namespace

void launch_bias_relu(const BiasReluArgs& a, cudaStream_t stream) {
  check_shape("bias_relu", a.rows, a.n);
  DV_CHECK(a.x && a.bias && aligned16(a.x) && aligned16(a.bias),
           "bias_relu: x and bias must be non-null and 16-byte aligned");
  if (a.rows == 0) return;
  bias_relu_kernel<<<grid_for(a.rows, a.n), kThreads, 0, stream>>>(a);
  DV_CUDA_LAUNCH_CHECK("bias_relu_kernel");
}

void launch_bias_residual(const BiasResidualArgs& a, cudaStream_t stream) {
  check_shape("bias_residual", a.rows, a.n);
  DV_CHECK(
      a.out && a.x && a.residual && aligned16(a.out) && aligned16(a.x) && aligned16(a.residual) && aligned16(a.bias),
      "bias_residual: out, x, residual must be non-null; all pointers 16-byte aligned");
  if (a.rows == 0) return;
  bias_residual_kernel<<<grid_for(a.rows, a.n), kThreads, 0, stream>>>(a);
  DV_CUDA_LAUNCH_CHECK("bias_residual_kernel");
}

void launch_embedding(const EmbeddingArgs& a, cudaStream_t stream) {
  check_shape("embedding", a.rows, a.d);
  DV_CHECK(a.vocab > 0, "embedding: vocab = {} must be positive", a.vocab);
  DV_CHECK(a.out && a.tokens && a.word_embed && aligned16(a.out) && aligned16(a.word_embed) && aligned16(a.pos_embed),
           "embedding: out, tokens, word_embed must be non-null; tables and out 16-byte aligned");
  DV_CHECK(!a.pos_embed || (a.positions && a.max_positions > 0),
           "embedding: the fused position add needs positions and max_positions > 0 (got {})", a.max_positions);
  if (a.rows == 0) return;
  embedding_kernel<<<grid_for(a.rows, a.d), kThreads, 0, stream>>>(a);
  DV_CUDA_LAUNCH_CHECK("embedding_kernel");
}

void launch_position_add(const PositionAddArgs& a, cudaStream_t stream) {
  check_shape("position_add", a.rows, a.d);
  DV_CHECK(a.x && a.positions && a.pos_embed && aligned16(a.x) && aligned16(a.pos_embed),
           "position_add: x, positions, pos_embed must be non-null; x and pos_embed 16-byte aligned");
  DV_CHECK(a.max_positions > 0, "position_add: max_positions = {} must be positive", a.max_positions);
  if (a.rows == 0) return;
  position_add_kernel<<<grid_for(a.rows, a.d), kThreads, 0, stream>>>(a);
  DV_CUDA_LAUNCH_CHECK("position_add_kernel");
}

}  // namespace dv
