// engine_kernels.cuh: the glue launches the decode step needs between library kernels and cuBLAS calls,
// each tiny next to the weight streaming (bytes are B * d scale, not d * d):
//   kv_append       dense path: the QKV GEMM output [B, H, 3, hd] plus bias -> q [B, H, hd] and K/V cache
//                   rows at *pos (cuBLAS cannot address the cache row of a position held in device memory);
//   set/advance_position  the position lives on the device so that one CUDA graph serves every step;
//   fill_normal     random fp16 weights generated on the device (opt-30b's 60 GB in well under a second).
// Access pattern: one thread per 16-byte vector (8 halves), coalesced along hd.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace dv::engine {

struct KvAppendArgs {
  __half* q = nullptr;              // [B, H, hd]
  __half* k_cache = nullptr;        // [B, H, max_len, hd]
  __half* v_cache = nullptr;        // [B, H, max_len, hd]
  const __half* qkv = nullptr;      // [B, H, 3, hd] (GEMM with the packed w_qkv [H, 3, hd, d])
  const __half* b_qkv = nullptr;    // [H, 3, hd]
  const int* pos = nullptr;         // device scalar; pos outside [0, max_len) writes nothing
  int batch = 0, num_heads = 0, head_dim = 0, max_len = 0;  // head_dim a multiple of 8
};

// Prefill: the QKV GEMM over rows * T tokens -> q [rows, H, T, hd] (per head contiguous for the batched
// attention GEMMs) and the K/V cache rows 0..T-1 of batch rows 0..rows-1, bias added (kv_append for a block).
struct PrefillQkvArgs {
  __half* q = nullptr;              // [rows, H, T, hd]
  __half* k_cache = nullptr;        // [B, H, max_len, hd] (one layer)
  __half* v_cache = nullptr;
  const __half* qkv = nullptr;      // [rows, T, H, 3, hd]
  const __half* b_qkv = nullptr;    // [H, 3, hd]
  int rows = 0, tokens = 0, num_heads = 0, head_dim = 0, max_len = 0;  // tokens <= max_len, hd % 8 == 0
};

void launch_kv_append(const KvAppendArgs& args, cudaStream_t stream);
void launch_prefill_qkv(const PrefillQkvArgs& args, cudaStream_t stream);
// *pos = value; positions[b] = value (a new sequence, or a rewind).
void launch_set_position(int* pos, int* positions, int batch, int value, cudaStream_t stream);
// *pos += 1; positions[b] = *pos: the last node of every decode step.
void launch_advance_position(int* pos, int* positions, int batch, cudaStream_t stream);
// out[i] = mean + std * N(0, 1), a counter-based hash of (seed, i): the same values on every run and GPU.
void launch_fill_normal(__half* out, size_t n, uint64_t seed, float mean, float std, cudaStream_t stream);

}  // namespace dv::engine
