// sparse_qkv.cuh: Q/K/V projections for the selected attention heads only, appending K/V to the cache and
// filling in the K/V positions a head missed while it was not selected, so the cache always equals what
// dense decoding would have written (Deja Vu's reference keeps only a 16-token window and flushes it).
//
// Layouts (the engine allocates and repacks; see pack_qkv_weights in sparse_qkv_pack.h), hd = head_dim:
//   w_qkv    [H][3][hd][d] fp16: head h's q rows, then k rows, then v rows (HF {q,k,v}_proj.weight rows
//            h*hd .. h*hd+hd-1), so a head's 3*hd rows are one contiguous block of 3 * hd * d * 2 bytes.
//   b_qkv    [H][3][hd] fp16.
//   x        [B, d] the layer-normed attention input at the current position.
//   x_hist   [B, max_len, d] the layer-normed inputs of every position of this layer; row pos is written here.
//   q        [B, H, hd] unscaled query of the current position (selected heads only; others untouched).
//   k_cache, v_cache [B, H, max_len, hd].
//   kv_valid [H][sparse_qkv_valid_slots(hd)] int32: slot s covers 16 rows of K (s < hd/16) or V (the rest),
//            rows 16*(s % (hd/16)) .. +15; its value n means positions [0, n) hold valid K/V. One slot per
//            writing block, so no block reads a value another block of the same launch writes. Zero it
//            (cudaMemsetAsync) at the start of every sequence; after a dense prefill of T tokens set it to T
//            (launch_kv_valid_fill).
//   heads [max_heads] (any order; entries outside [0, H) are skipped; duplicates allowed but wasted),
//   num_selected and pos: device scalars, so one CUDA graph serves every step.
//
// For a selected head h at position pos, with v = kv_valid[h][s]: K/V rows of slot s are computed for every
// position t in [min(v, pos), pos] (x_hist for t < pos, x for t == pos), then kv_valid[h][s] = pos + 1.
// Positions pos < 0 or >= max_len make the launch a no-op (the engine guarantees 0 <= pos < max_len).
// Costs of exactness: x_hist takes as much memory as the K cache, and a head selected again after m skipped
// steps reads its weights ceil(B * (m + 1) / 32) times in that step (once while B * (m + 1) <= 32).
// head_dim: 64 (OPT up to 1.3b), 80 (opt-2.7b) or 128 (opt-6.7b and larger).
//
// Access pattern: grid (3 * hd / 16, max(max_heads, 1)); a block owns 16 of a head's 3*hd weight rows, its 4
// warps split d, and each warp streams its 16 x d/4 slice once with 16-byte non-allocating loads into fp16
// tensor-core MMAs (m16n8k16, fp32 accumulation) whose N dimension is the B x (missing positions + 1) input
// columns, 32 per pass over the weights. Bytes per step with k heads and nothing missing:
// k * 3 * hd * d * 2 (weights) + 2 * B * d * 2 (x in, x_hist row out) + k * B * 3 * hd * 2 (q, K, V out).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

namespace dv {

// Rows per kv_valid slot (and per block): one m16 MMA tile.
constexpr int kSparseQkvSlotRows = 16;
constexpr int sparse_qkv_valid_slots(int head_dim) { return 2 * head_dim / kSparseQkvSlotRows; }
constexpr bool sparse_qkv_supports_head_dim(int head_dim) {
  return head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 80 || head_dim == 128;
}

struct SparseQkvArgs {
  __half* q = nullptr;                // [B, H, hd]
  __half* k_cache = nullptr;          // [B, H, max_len, hd]
  __half* v_cache = nullptr;          // [B, H, max_len, hd]
  __half* x_hist = nullptr;           // [B, max_len, d]
  int* kv_valid = nullptr;            // [H, sparse_qkv_valid_slots(hd)]
  const __half* x = nullptr;          // [B, d]
  const __half* w_qkv = nullptr;      // [H, 3, hd, d]
  const __half* b_qkv = nullptr;      // [H, 3, hd]
  const int* heads = nullptr;         // [max_heads] device
  const int* num_selected = nullptr;  // device scalar, clamped to [0, max_heads]
  const int* pos = nullptr;           // device scalar: the current position
  int batch = 0;                      // B >= 1
  int num_heads = 0;                  // H; d = H * head_dim
  int head_dim = 0;                   // hd: sparse_qkv_supports_head_dim(hd), d = H * hd a multiple of 32
  int max_len = 0;                    // cache length
  int max_heads = 0;                  // capacity of heads, 0..H
};

// Throws dv::Error on bad sizes, an unsupported head_dim or pointers not 16-byte aligned.
void launch_sparse_qkv(const SparseQkvArgs& args, cudaStream_t stream);

// kv_valid[i] = value for every slot of every head (after a dense prefill of `value` tokens).
void launch_kv_valid_fill(int* kv_valid, int num_heads, int head_dim, int value, cudaStream_t stream);

}  // namespace dv
