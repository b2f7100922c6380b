// decode_attention.cuh: single-query attention over the KV cache for the selected heads of one decode step,
// split over the sequence (flash-decoding) so that a batch-1 step with few heads still fills the GPU.
//
//   out[b, h] = softmax(q[b, h] . K[b, h, 0..len)^T / sqrt(hd)) V[b, h, 0..len),  len = *pos + 1
//
// for h = heads[slot], slot < min(*num_selected, max_heads), written compact in selection order:
// out[b, slot * hd .. slot * hd + hd) (row stride ld_out), the layout the out-projection over the selected heads
// reads (sparse_mlp_down with rows_per_index = hd; with every head in order 0..H-1 it is the dense [B, H * hd]).
// Slots past the count, or holding a head outside [0, H), are not written. Scores, softmax and the weighted sum
// are fp32; q, K, V, out fp16.
// pos and the head list live in device memory so one CUDA graph serves every step; pos >= max_len (or < 0)
// makes the launch a no-op.
//
// Layouts (hd = head_dim: 16, 32, 64, 80 or 128): q [B, H, hd], out [B, ld_out], k_cache, v_cache
// [B, H, max_len, hd] as written by launch_sparse_qkv.
// Split: units (B, max_heads, max_splits), one CTA of 256 threads each on the graph path; the persistent decode
// kernel runs the same op (decode_attention_op.cuh). At run time a head's len positions are cut into
// n = min(max_splits, ceil(len / 64)) chunks of at most 1024 keys; each block writes its chunk's
// (max, sum, unnormalised output) to `partials`, and the last block of a head (an atomic ticket in
// `tickets`, which it resets to zero) merges them. With n == 1 the block writes out directly.
//
// Access pattern: hd/8 threads read one key's 2*hd bytes as 16-byte vectors (coalesced, whole keys per warp
// load), scores go to shared memory, then the same layout reads V. Bytes: 2 * len * hd * 2 per (b, head)
// plus q and out (2 * hd bytes each) plus the split partials (hd + 2 floats per split, L2 resident). Writing the compact layout here
// replaces a separate gather of the selected heads (a kernel boundary and a B * k * hd * 2 * 2 byte copy).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstddef>

#include "kernels/common/l2_warmup.cuh"

namespace dv {

constexpr int kDecodeAttentionMaxSplits = 64;
constexpr int kDecodeAttentionMinChunk = 64;    // no split gets fewer keys than this (unless len is shorter)
constexpr int kDecodeAttentionMaxChunk = 1024;  // keys per split at most (the shared-memory score buffer)

struct DecodeAttentionArgs {
  __half* out = nullptr;              // [B, ld_out]: slot j's head at columns j * hd .. j * hd + hd - 1
  float* partials = nullptr;          // decode_attention_partials_floats(B, max_heads, max_splits, hd) floats
  int* tickets = nullptr;             // [B * max_heads], zero before the first launch (cudaMemsetAsync)
  const __half* q = nullptr;          // [B, H, hd], unscaled
  const __half* k_cache = nullptr;    // [B, H, max_len, hd]
  const __half* v_cache = nullptr;    // [B, H, max_len, hd]
  const int* heads = nullptr;         // [max_heads] device, any order
  const int* num_selected = nullptr;  // device scalar, clamped to [0, max_heads]
  const int* pos = nullptr;           // device scalar: the current position; len = pos + 1
  int batch = 0;
  int num_heads = 0;
  int head_dim = 0;    // hd: 16, 32, 64, 80 or 128
  int max_len = 0;     // at most kDecodeAttentionMaxSplits * 1024
  int max_heads = 0;   // 0..H
  int max_splits = 0;  // from decode_attention_max_splits()
  int ld_out = 0;      // >= max_heads * hd
};

// Splits per head that give about two units per SM for this shape, at least enough that no chunk exceeds
// 1024 keys at max_len. num_sms: the SMs the units spread over (cudaDevAttrMultiProcessorCount; the persistent
// decode path passes its CTA count: two units per CTA).
int decode_attention_max_splits(int batch, int max_heads, int max_len, int num_sms);

// Size of DecodeAttentionArgs::partials in floats.
size_t decode_attention_partials_floats(int batch, int max_heads, int max_splits, int head_dim);

// Throw dv::Error on bad sizes, an unsupported head_dim, too few splits for max_len, or misaligned pointers.
void check_decode_attention_args(const DecodeAttentionArgs& args);
void launch_decode_attention(const DecodeAttentionArgs& args, cudaStream_t stream);
// The same with warm units in front that prefetch `warm_next` into L2 (kernels/common/l2_warmup.cuh): the step
// passes the out-projection's weights at the selected heads, which DRAM can fetch while attention reads little.
void launch_decode_attention(const DecodeAttentionArgs& args, const kernels::L2Warmup& warm_next, int num_sms,
                             cudaStream_t stream);

}  // namespace dv
