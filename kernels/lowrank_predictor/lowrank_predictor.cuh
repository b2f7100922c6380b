// lowrank_predictor.cuh: the Deja Vu low-rank predictor for decode, fused into three launches and no host
// round trip, so it can sit on a side stream inside the decode CUDA graph:
//   1. z = x Wa^T                 [B, r] fp16      (Wa: [r, d], the first Linear's weight as PyTorch stores it)
//   2. scores[j] = max_b (z Wb^T)[b, j]  [n] fp32  (Wb: [n, r], the second Linear's weight as stored)
//   3. selection over scores -> idx (ascending), k_dev
// Both weights stay in nn.Linear layout because that is already the fastest one here: each output is a dot
// product of one contiguous weight row with a row of the input, the row_dot access pattern (16-byte loads,
// every weight byte read once for the whole batch). Bytes: (r*d + n*r)*2 weights + B*(d + 2r)*2 + n*4*(few
// passes, L2) + k*4.
// The batch's selections are united by scoring each neuron with its largest logit over the batch rows
// (score = max_b logit): top-k then picks k neurons for the whole batch, and the threshold rule
// sigmoid(logit) >= t for any row is exactly max_b logit >= log(t / (1 - t)).
// Selection (one block): top-k by a 3-pass radix select (12 + 12 + 8 bits) of order-preserving keys of the
// fp32 scores in a shared-memory histogram, stopping early once a digit bin holds exactly the remainder;
// ties at the k-th score go to the lowest indices. Output idx is in ascending index order (deterministic;
// also the friendliest order for the sparse kernels' DRAM streams). NaN scores rank above +inf for top-k
// and never pass the threshold.
// int8 weights (wa_i8/wb_i8 with per-row fp32 scales, instead of wa/wb): W[j, :] = scale[j] * Q[j, :], Q in
// [-127, 127] (quantize_rows_int8_ref); the same kernels with 8-byte loads converted exactly to fp16, the
// scale applied to each row's fp32 sum. Halves the weight bytes: (r*d + n*r) * 1 + (r + n) * 4.
// Requirements (checked, dv::Error): 1 <= B <= 32; d, r multiples of 8; x, Wa, Wb, z 16-byte aligned (int8
// rows and scales: 8- and 4-byte aligned); either both fp16 weights or both int8 weights with their scales;
// top-k: top_k <= max_k. Threshold: 0 < t < 1; at most max_k indices are written (the lowest ones) and
// k_dev = min(count, max_k).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <cstring>

namespace dv::kernels {

enum class SelectMode { kTopK, kThreshold };

struct LowrankSelectArgs {
  int* idx = nullptr;            // out: [max_k] selected indices, ascending
  int* k_dev = nullptr;          // out: device int, number of indices written
  const float* scores = nullptr; // [n]
  int n = 0;
  SelectMode mode = SelectMode::kTopK;
  int top_k = 0;                 // kTopK: how many to select (clamped to [0, n])
  float threshold = 0.5f;        // kThreshold: probability t, selects sigmoid(score) >= t
  int max_k = 0;                 // capacity of idx
};

struct LowrankPredictorArgs {
  int* idx = nullptr;            // out: [max_k]
  int* k_dev = nullptr;          // out: device int
  float* scores = nullptr;       // out (workspace): [n] max-over-batch logits
  __half* z = nullptr;           // workspace: [B, r]
  const __half* x = nullptr;     // [B, d]
  const __half* wa = nullptr;    // [r, d]
  const __half* wb = nullptr;    // [n, r]
  const int8_t* wa_i8 = nullptr; // int8 variant: [r, d] with wa_scale [r] (then wa = wb = nullptr)
  const float* wa_scale = nullptr;
  const int8_t* wb_i8 = nullptr; // int8 variant: [n, r] with wb_scale [n]
  const float* wb_scale = nullptr;
  int B = 0;
  int d = 0;
  int r = 0;
  int n = 0;
  SelectMode mode = SelectMode::kTopK;
  int top_k = 0;
  float threshold = 0.5f;
  int max_k = 0;
};

void launch_lowrank_predictor(const LowrankPredictorArgs& args, cudaStream_t stream);
// Stage 3 alone: selection over precomputed scores (oracle masks, tests).
void launch_lowrank_select(const LowrankSelectArgs& args, cudaStream_t stream);
// Throws dv::Error on arguments launch_lowrank_select would reject (host-only check, no launch).
void check_lowrank_select_args(const LowrankSelectArgs& args);

// The selection's shared conventions, for the kernel and the reference alike.
#if defined(__CUDACC__)
#define DV_SELECT_HD __host__ __device__
#else
#define DV_SELECT_HD
#endif

// Monotone map of fp32 to uint32: a < b as floats (and -0 < +0) iff key(a) < key(b).
DV_SELECT_HD inline uint32_t score_order_key(float f) {
#if defined(__CUDA_ARCH__)
  const uint32_t u = __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
#endif
  return u ^ ((u >> 31) != 0u ? 0xFFFFFFFFu : 0x80000000u);
}

#undef DV_SELECT_HD

// The logit the threshold rule compares against: sigmoid(s) >= t  <=>  s >= log(t / (1 - t)).
inline float select_threshold_logit(float t) {
  return static_cast<float>(std::log(static_cast<double>(t) / (1.0 - static_cast<double>(t))));
}

}  // namespace dv::kernels
