// qkv_op.cuh: the persistent decode kernel's Q/K/V projection for a list of heads (all heads on the dense
// path), writing q and appending K/V at the current position, with exact K/V catch-up for heads that were
// skipped (the same contract and buffers as kernels/sparse_qkv, so the graph and the persistent path can
// hand a sequence to each other):
//   for slot < *count (<= max_heads), h = heads[slot], each 16-row tile of h's [3, hd] rows (w_qkv [H,3,hd,d]):
//   q[b, h, :] (tile of part 0), K/V rows of positions t in [min(kv_valid[h][s], pos), pos] (parts 1, 2),
//   x_hist[b, pos, :] = x[b, :] (the position's input joins the history; x_hist == nullptr: no history, no
//   catch-up, the dense path), then kv_valid[h][s] = pos + 1 (s: the tile's slot, one writer each).
// Unit u = (slot, tile) = (u / tiles, u % tiles), tiles = 3 * hd / 16. A tile's weights (16 * d * 2 bytes)
// are read once per pass of 8 input columns (b, t) (gemv_tile.cuh): once when nothing is missing and B <= 8,
// ceil(B * (missing + 1) / 8) times for a head that was skipped. The units of slot 0 copy x into x_hist.
// Bytes with k heads and nothing missing: k * 3 * hd * d * 2 + 2 * B * d * 2 + k * B * 3 * hd * 2.
// MARKED FOR REPLACEMENT by the attention helper's QKV op (bounded catch-up, layer norm fused in).
#pragma once

#include <cuda_fp16.h>

#include "kernels/persistent_decode/gemv_tile.cuh"

namespace dv::kernels {

struct QkvOp {
  static constexpr int kSmemBytes = kTileSmemBytes;

  __half* q = nullptr;              // [B, H, hd]
  __half* k_cache = nullptr;        // [B, H, max_len, hd]
  __half* v_cache = nullptr;
  __half* x_hist = nullptr;         // [B, max_len, d] or nullptr (dense path)
  int* kv_valid = nullptr;          // [H, 2 * hd / 16] with x_hist
  const __half* x = nullptr;        // [B, d]
  const __half* w_qkv = nullptr;    // [H, 3, hd, d]
  const __half* b_qkv = nullptr;    // [H, 3, hd]
  const int* heads = nullptr;       // [max_heads]
  const int* count = nullptr;       // device scalar
  const int* pos = nullptr;         // device scalar
  int B = 0, num_heads = 0, head_dim = 0, max_len = 0, max_heads = 0;

  DV_OP_HD int tiles() const { return 3 * head_dim / kTileRows; }
  DV_OP_HD int max_units() const { return max_heads * tiles(); }

#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int unit, char* smem, const Sync& sync) const {
    float* red = reinterpret_cast<float*>(smem);
    const int d = num_heads * head_dim, hd = head_dim, per_part = hd / kTileRows;
    const int slot = unit / tiles(), tile = unit - slot * tiles();
    const int p = *pos;  // written by the previous launch only
    if (p < 0 || p >= max_len) return;
    sync.indices();
    bool waited = false;
    if (slot == 0 && x_hist != nullptr) {
      sync.inputs();
      waited = true;
      const int nvec = d / 8;
      for (int i = tile * kOpThreads + threadIdx.x; i < B * nvec; i += tiles() * kOpThreads) {
        const int b = i / nvec;
        reinterpret_cast<uint4*>(x_hist + (static_cast<size_t>(b) * max_len + p) * d)[i - b * nvec] =
            __ldcg(reinterpret_cast<const uint4*>(x) + i);
      }
    }
    const int n = min(max(__ldcg(count), 0), max_heads);
    if (slot >= n) return;
    const int h = __ldcg(heads + slot);
    if (h < 0 || h >= num_heads) return;

    const int part = tile / per_part, r0 = (tile - part * per_part) * kTileRows;
    const int valid_slot = h * 2 * per_part + tile - per_part;  // parts 1, 2 only
    const int t_begin = part == 0 || x_hist == nullptr ? p : min(max(kv_valid[valid_slot], 0), p);
    const int ncols = (p - t_begin + 1) * B;  // column c = (t - t_begin) * B + b

    const int lane = threadIdx.x & 31, g = lane >> 2, t4 = lane & 3;
    const size_t row0 = (static_cast<size_t>(h) * 3 + part) * hd + r0;
    const __half* w0 = w_qkv + (row0 + g) * d + 8 * t4;
    const __half* w1 = w0 + static_cast<size_t>(8) * d;
    for (int c0 = 0; c0 < ncols; c0 += kTileCols) {
      const int c = c0 + g;
      const __half* xc = nullptr;
      if (c < ncols) {
        const int ti = c / B, b = c - ti * B, t = t_begin + ti;
        xc = t == p ? x + static_cast<size_t>(b) * d : x_hist + (static_cast<size_t>(b) * max_len + t) * d;
      }
      gemv_tile(w0, w1, xc, d, red, [&] {
        if (!waited) sync.inputs();
        waited = true;
      });
      if (threadIdx.x < kTileRows * kTileCols) {
        const int r = threadIdx.x % kTileRows, cc = c0 + threadIdx.x / kTileRows;
        if (cc < ncols) {
          const int ti = cc / B, b = cc - ti * B, t = t_begin + ti;
          const float v = red[r * kTileCols + threadIdx.x / kTileRows] + __half2float(b_qkv[row0 + r]);
          const size_t bh = static_cast<size_t>(b) * num_heads + h;
          if (part == 0) {
            q[bh * hd + r0 + r] = __float2half(v);
          } else {
            __half* cache = part == 1 ? k_cache : v_cache;
            cache[(bh * max_len + t) * hd + r0 + r] = __float2half(v);
          }
        }
      }
      __syncthreads();  // red is rewritten by the next pass
    }
    // Every thread read kv_valid before the last pass's barriers.
    if (part != 0 && x_hist != nullptr && threadIdx.x == 0) kv_valid[valid_slot] = p + 1;
  }
#endif  // __CUDACC__
};

}  // namespace dv::kernels
