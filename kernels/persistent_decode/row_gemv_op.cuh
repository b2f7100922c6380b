// row_gemv_op.cuh: the persistent decode kernel's matrix-vector op over weight rows (nn.Linear layout),
// optionally gathered by a selection, with the epilogues the decode step needs:
//   s[b][j] = dot(W[row(j), :], x[b, :])   j < rows, b < B <= 8,   row(j) = idx ? idx[j] : j,
//   rows = count ? min(*count, max_rows) : max_rows (the selection's run-time length, capacity max_rows)
//   kHalf:   out[b * ld_out + row(j)] = fp16(act(s + bias[row(j)]))  (+ pos_embed[positions[b] + 2][row(j)],
//            rounded again, when pos_embed is set: the embedding's position add after project_in); with
//            compact, at out[b * ld_out + j] (the persistent path's split MLP: sparse_mlp_down's compact h)
//   kLogits: out_f32[b * ld_out + row(j)] = s, and argmax[b] = max over j of (order_key(s) << 32 | ~row(j))
//            by atomicMax (the LM head with the greedy token fused in; ties go to the lowest row)
// Uses: project_in (+ the position add) / project_out and the LM head (the layers run the graph path's ops:
// decode_op.cuh); bias and ReLU are general (the op's kernel tests hold them against sparse_mlp_up_ref); the split
// MLP's up projection, optionally with the MLP layer norm folded in (ln_gamma: x is the residual stream, every unit
// computes its B rows' statistics after the input wait and normalizes x as it loads it, qkv_layer_norm.cuh's
// row_stats and formula: no layer norm op and no normalized copy of x; DEJAVU_PERSISTENT_MLP_LN=fold).
// Unit u owns entries [16u, 16u + 16) (gemv_tile.cuh: each weight row is read once, for all B columns).
// Bytes: rows * K * 2 (weights) + rows * 4 (idx) + B * K * 2 (x, from L2) + the outputs.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/lowrank_predictor/lowrank_predictor.cuh"
#include "kernels/persistent_decode/gemv_tile.cuh"
#include "kernels/sparse_qkv/sparse_qkv.cuh"
#if defined(__CUDACC__)
#include "kernels/common/half8.cuh"
#include "kernels/sparse_qkv/qkv_layer_norm.cuh"
#endif

namespace dv::kernels {

enum class RowEpilogue : int { kHalf, kLogits };

#if defined(__CUDACC__)
// The packed argmax value: larger score first, then the smaller index.
__device__ __forceinline__ unsigned long long argmax_key(float s, int row) {
  return (static_cast<unsigned long long>(score_order_key(s)) << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(row));
}

#endif  // __CUDACC__
struct RowGemvOp {
  // The tile's reduction, then (ln_gamma) the rows' mean and rstd [2][kSparseQkvLnMaxRows] and row_stats' warp
  // partials [2 * kTileCols].
  static constexpr int kStatsOff = kTileSmemBytes;
  static constexpr int kSmemBytes = kStatsOff + (2 * kSparseQkvLnMaxRows + 2 * kTileCols) * 4;

  const __half* w = nullptr;          // [n_rows, K] row-major, 16-byte aligned
  const __half* x = nullptr;          // [B, ldx]
  const int* idx = nullptr;           // [max_rows] or nullptr (row(j) = j)
  const int* count = nullptr;         // device count of idx entries, or nullptr (max_rows)
  int max_rows = 0, B = 0, K = 0, ldx = 0;
  RowEpilogue epilogue = RowEpilogue::kHalf;
  const __half* bias = nullptr;       // kHalf: [n_rows] or nullptr
  bool relu = false;
  __half* out = nullptr;              // kHalf: [B, ld_out]
  float* out_f32 = nullptr;           // kLogits: [B, ld_out]
  int ld_out = 0;
  bool compact = false;               // kHalf: out at the entry j instead of row(j) (the split MLP's activations)
  unsigned long long* argmax = nullptr;  // kLogits: [B], zero before the step (ArgmaxOp resets it)
  const __half* pos_embed = nullptr;  // kHalf: [max_positions + 2, ld_out] or nullptr
  const int* positions = nullptr;     // [B] with pos_embed
  const __half* ln_gamma = nullptr;   // RowGemvLnOp only: [K], x normalized on load (with ln_beta [K]; ldx == K)
  const __half* ln_beta = nullptr;
  float ln_eps = 1e-5f;               // OPT's

  DV_OP_HD int max_units() const { return (max_rows + kTileRows - 1) / kTileRows; }

#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int unit, char* smem, const Sync& sync) const {
    run_as<Sync, false>(unit, smem, sync);
  }

  // kLn: the folded layer norm (RowGemvLnOp below); a separate instantiation, so the plain op's code and
  // registers do not change.
  template <class Sync, bool kLn>
  __device__ void run_as(int unit, char* smem, const Sync& sync) const {
    float* red = reinterpret_cast<float*>(smem);
    const int g = (threadIdx.x & 31) >> 2;
    const int j0 = unit * kTileRows;
    if (idx != nullptr || count != nullptr) sync.indices();
    const int rows = count != nullptr ? min(max(__ldcg(count), 0), max_rows) : max_rows;
    if (j0 >= rows) return;  // CTA-uniform
    const int ja = j0 + g, jb = j0 + g + 8;
    const int ra = ja < rows ? (idx != nullptr ? __ldcg(idx + ja) : ja) : -1;
    const int rb = jb < rows ? (idx != nullptr ? __ldcg(idx + jb) : jb) : -1;
    // Row starts: gemv_tile adds the lane's column offset 8t itself (as it does for x).
    const __half* w0 = ra >= 0 ? w + static_cast<size_t>(ra) * K : nullptr;
    const __half* w1 = rb >= 0 ? w + static_cast<size_t>(rb) * K : nullptr;
    const __half* xc = g < B ? x + static_cast<size_t>(g) * ldx : nullptr;
    if constexpr (!kLn) {
      gemv_tile(w0, w1, xc, K, red, [&] { sync.inputs(); });
    } else {
      float* stats = reinterpret_cast<float*>(smem + kStatsOff);
      auto ready = [&] {
        sync.inputs();
        qkv::row_stats<Sync>(x, B, K, ln_eps, stats, stats + 2 * kSparseQkvLnMaxRows);
      };
      auto load_x = [&](const __half* xr, int col) {  // xr: batch row g's start (gemv_tile's lane column)
        return layer_norm8(ld_coherent_u4(xr + col), __ldg(reinterpret_cast<const uint4*>(ln_gamma + col)),
                           __ldg(reinterpret_cast<const uint4*>(ln_beta + col)), stats[g],
                           stats[kSparseQkvLnMaxRows + g]);
      };
      gemv_tile(w0, w1, xc, K, red, ready, load_x);
    }

    // red[r * 8 + b]: entry j0 + r, batch row b.
    if (threadIdx.x < kTileRows * kTileCols) {
      const int r = threadIdx.x % kTileRows, b = threadIdx.x / kTileRows, j = j0 + r;
      const bool ok = j < rows && b < B;
      const int row = ok ? (idx != nullptr ? __ldcg(idx + j) : j) : 0;
      const float s = red[r * kTileCols + b];
      if (epilogue == RowEpilogue::kLogits) {
        if (ok) out_f32[static_cast<size_t>(b) * ld_out + row] = s;
        // Max over the tile's 16 rows inside each group of 16 lanes (one batch row), then one atomic.
        unsigned long long key = ok ? argmax_key(s, row) : 0ull;
#pragma unroll
        for (int o = 8; o > 0; o >>= 1) {
          const unsigned long long other = __shfl_xor_sync(0xFFFFFFFFu, key, o);
          key = other > key ? other : key;
        }
        if (r == 0 && b < B && key != 0ull) atomicMax(argmax + b, key);
      } else if (ok) {
        float v = s + (bias != nullptr ? __half2float(bias[row]) : 0.f);
        if (relu) v = v < 0.f ? 0.f : v;  // NaN propagates, like torch.relu
        __half h = __float2half_rn(v);
        if (pos_embed != nullptr) {
          const int p = __ldcg(positions + b) + 2;
          h = __float2half_rn(__half2float(h) + __half2float(pos_embed[static_cast<size_t>(p) * ld_out + row]));
        }
        out[static_cast<size_t>(b) * ld_out + (compact ? j : row)] = h;
      }
    }
  }
#endif  // __CUDACC__
};

// RowGemvOp with the layer norm folded in (ln_gamma / ln_beta set): its own op kind and code.
struct RowGemvLnOp : RowGemvOp {
#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int unit, char* smem, const Sync& sync) const {
    run_as<Sync, true>(unit, smem, sync);
  }
#endif  // __CUDACC__
};

}  // namespace dv::kernels
