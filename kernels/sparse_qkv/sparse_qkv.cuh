// sparse_qkv.cuh: Q/K/V projections for the selected attention heads only, appending K/V to the cache and
// filling in the K/V positions a head missed while it was not selected, so the cache always equals what
// dense decoding would have written (Deja Vu's reference keeps only a 16-token window and flushes it).
// Two ops (device bodies in sparse_qkv_op.cuh, written as work units per kernels/common/work_units.cuh):
//   sparse_qkv   q of the selected heads at pos; K/V of the selected heads (or of every head: all_kv) for
//                every position they miss, from the input history; picks the heads the forced catch-up runs.
//   kv_catchup   K/V of the heads sparse_qkv forced (not selected, missing >= force_lag positions): low-priority
//                work, e.g. on a second stream joined at the end of the step, so the selected path never waits.
// The bound: each head's missing positions stay below force_lag + ceil(H / max_forced) (largest lag first,
// max_forced a launch), so one pass over a head's weights (kSparseQkvPassColumns = B x positions columns of
// the MMA) serves any selected head, and the input history can be a ring of kSparseQkvRing positions.
//
// Layouts (the engine allocates and repacks; see pack_qkv_weights in sparse_qkv_pack.h), hd = head_dim:
//   w_qkv    [H][3][hd][d] fp16: head h's q rows, then k rows, then v rows (HF {q,k,v}_proj.weight rows
//            h*hd .. h*hd+hd-1), so a head's 3*hd rows are one contiguous block of 3 * hd * d * 2 bytes.
//            d = H * hd, or the hidden size for a tensor-parallel rank's H heads (Args::d).
//   b_qkv    [H][3][hd] fp16.
//   x        [B, d] the layer-normed attention input at the current position; with ln_gamma set, the residual
//            stream instead (the attention block's input before its layer norm), which every unit normalizes
//            itself: per row fp32 mean and variance (one pass of sums of x and x^2 over the d values, from L2),
//            xn = (x - mean) * rstd * gamma + beta rounded to fp16, the value the layer_norm kernel writes up to
//            the last bit of the fp32 statistics. xn is what the projection reads and what enters x_hist, so the
//            separate layer_norm kernel before the op goes (B <= kSparseQkvLnMaxRows). With ln_row_partials
//            (the producer's per-slice sums of x, e.g. sparse_mlp_down's row_partials) the statistics are those
//            ln_partial_blocks pairs a row summed in slice order instead of the pass over x (qkv_layer_norm.cuh).
//   x_hist   [B, ring, d] ring of the layer-normed inputs: position t at row t % ring (row pos is written by
//            sparse_qkv). Positions older than pos - ring + 1 are gone; nullptr (ring 0): no history.
//   q        [B, H, hd] unscaled query of the current position (selected heads only; others untouched).
//   k_cache, v_cache [B, H, max_len, hd].
//   kv_valid [H][sparse_qkv_valid_slots(hd)] int32: slot s covers 16 rows of K (s < hd/16) or V (the rest),
//            rows 16*(s % (hd/16)) .. +15; its value n means positions [0, n) hold valid K/V. One slot per
//            writing unit, so no unit reads a value another unit of the same launch writes. Zero it at the
//            start of every sequence; after a dense prefill of T tokens set it to T (launch_kv_valid_fill).
//   heads [max_heads] (any order; entries outside [0, H) are skipped; duplicates allowed but wasted),
//   num_selected and pos: device scalars, so one CUDA graph serves every step.
//   forced   [2 * max_forced] (head, first missing position) pairs, forced_count: written by every sparse_qkv
//            launch with max_forced > 0 (which also sets those heads' kv_valid to pos + 1), read by kv_catchup.
//   catchup_counts [max_len][3] int32 (optional): at row pos, atomically added: positions recomputed for
//            selected heads (head-positions, all layers), positions handed to kv_catchup, and positions
//            that fell out of the ring (lost: the cache is then wrong there; zero whenever the plan holds).
//
// For a selected head h at position pos, with v = kv_valid[h][s]: K/V rows of slot s are computed for every
// position t in [max(min(v, pos), pos - ring + 1), pos] (x_hist for t < pos, x for t == pos), then
// kv_valid[h][s] = pos + 1. Positions pos < 0 or >= max_len make the launch a no-op.
// head_dim: 16, 32, 64 (OPT up to 1.3b), 80 (opt-2.7b) or 128 (opt-6.7b and larger).
//
// Access pattern: a unit (a CTA of 8 warps) owns 16 of a head's 3*hd weight rows, its warps split d, and each
// warp streams its 16 x d/8 slice once with 16-byte non-allocating loads into fp16 tensor-core MMAs
// (m16n8k16, fp32 accumulation) whose N dimension is the B x (missing positions + 1) input columns, up to
// 128 per pass. A sparse_qkv unit prefetches its weight slice into L2 before the wait for the previous kernel
// (a kv_catchup unit waits first: its slice comes from the forced list).
// Bytes per step with k heads and nothing missing: k * 3 * hd * d * 2 (weights) + 2 * B * d * 2 (x in, x_hist
// row out) + k * B * 3 * hd * 2 (q, K, V out); all_kv: + (H - k) * 2 * hd * (d + B) * 2. A catch-up of m
// positions adds m * B * d * 2 of x_hist reads per 16-row unit (from L2) and m * B * hd * 2 * 2 of K/V writes.
// The fused layer norm adds, per unit and from L2, one more read of x (B * d * 2, the statistics; with
// ln_row_partials B * ln_partial_blocks * 8 instead) and 2 * d * 2 of gamma / beta (L1).
// Inputs written earlier in the step (x, x_hist, the selection, the forced list) are read through the Sync's
// load policy (work_units.cuh), so the same ops run in the persistent decode kernel.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstddef>

namespace dv {

// Rows per kv_valid slot (and per unit): one m16 MMA tile.
constexpr int kSparseQkvSlotRows = 16;
constexpr int kSparseQkvPassColumns = 128;  // input columns (B x positions) one pass over the weights serves
constexpr int kSparseQkvRing = 128;         // input-history positions the engine keeps
constexpr int kSparseQkvMaxHeads = 256;     // H limit (the forced-head choice keeps one flag per head)
constexpr int kSparseQkvMaxForced = 8;
constexpr int kSparseQkvLnMaxRows = 64;     // batch rows the fused layer norm keeps statistics for
constexpr int sparse_qkv_valid_slots(int head_dim) { return 2 * head_dim / kSparseQkvSlotRows; }
constexpr bool sparse_qkv_supports_head_dim(int head_dim) {
  return head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 80 || head_dim == 128;
}

struct SparseQkvArgs {
  __half* q = nullptr;                // [B, H, hd]
  __half* k_cache = nullptr;          // [B, H, max_len, hd]
  __half* v_cache = nullptr;          // [B, H, max_len, hd]
  __half* x_hist = nullptr;           // [B, ring, d], or nullptr (ring 0)
  int* kv_valid = nullptr;            // [H, sparse_qkv_valid_slots(hd)], or nullptr (then x_hist is too)
  int* forced = nullptr;              // [2 * max_forced] (max_forced > 0)
  int* forced_count = nullptr;        // device scalar (max_forced > 0)
  int* catchup_counts = nullptr;      // [max_len, 3], or nullptr
  const __half* x = nullptr;          // [B, d]: normalized input, or the residual stream with ln_gamma
  const __half* ln_gamma = nullptr;   // [d] the attention layer norm's weight, or nullptr (x is normalized)
  const __half* ln_beta = nullptr;    // [d] its bias (with ln_gamma)
  float ln_eps = 1e-5f;               // OPT's layer_norm_eps
  const __half* w_qkv = nullptr;      // [H, 3, hd, d]
  const __half* b_qkv = nullptr;      // [H, 3, hd]
  const int* heads = nullptr;         // [max_heads] device
  const int* num_selected = nullptr;  // device scalar, clamped to [0, max_heads]
  const int* pos = nullptr;           // device scalar: the current position
  int batch = 0;                      // B >= 1
  int num_heads = 0;                  // H <= kSparseQkvMaxHeads
  int head_dim = 0;                   // hd: sparse_qkv_supports_head_dim(hd); the width d a multiple of 32
  int max_len = 0;                    // cache length
  int d = 0;                          // input width (x, x_hist, w_qkv rows); 0: H * head_dim. A tensor-parallel
                                      // rank holds H of the model's heads and reads the whole hidden state
  int max_heads = 0;                  // capacity of heads, 0..H
  int ring = 0;                       // x_hist positions (0 without x_hist)
  bool all_kv = false;                // K/V of every head at pos (q of the selected): nothing ever missing
  int max_forced = 0;                 // 0..kSparseQkvMaxForced heads handed to kv_catchup per launch
  int force_lag = 0;                  // >= 1 with max_forced > 0: a head missing this many positions is forced
  // A/B variants for kernel_bench (kernels/bench/qkv_bench.cpp); the defaults are the tuned behaviour and every
  // setting writes the same bits. launch_sparse_qkv only: the persistent decode kernel runs the defaults.
  // L2 prefetch of the unit's weight slice before the input wait. Off: kernel_bench timed every shape faster
  // without it (H100, 6800122: opt-13b heads 50 % B = 1 38.8 against 41.7 us; opt-66b B = 8 113 against 130).
  // The graph path launches sparse_qkv after the selection's event join, plainly, so nothing runs before its
  // wait to hide the prefetch behind. DEJAVU_QKV_PREFETCH=1 turns it on in the engine (an A/B switch).
  bool prefetch = false;
  int plain_unroll = 4;               // 4 or 8: weight chunks in flight per warp in a plain (<= 8 column) pass
  int units_per_sm = 2;               // 2 or 3: the launch's register bound (3: 80 registers a thread; the
                                      // catch-up pass then spills, the plain pass gains a third unit per SM)
  // With ln_gamma, optional (launch_sparse_qkv only, like the variants: the persistent kernel's op reads x):
  // [ln_partial_blocks][B][2] fp32 (sum, sum of squares) of x's column slices, written by x's producer
  // (sparse_mlp_down's row_partials); 8-byte aligned. Last in the struct so the other fields keep their offsets.
  const float* ln_row_partials = nullptr;
  int ln_partial_blocks = 0;          // slices in ln_row_partials (>= 1 when it is set)
  // More A/B variants (launch_sparse_qkv only, the same bits as the default; after the fields above so those
  // keep their offsets). The plain pass has each warp wait a memory latency every plain_unroll chunks, and every
  // unit starts and ends with none of its weight loads in flight (kernel_bench, H100 fa97b82: opt-13b heads
  // 100 % at 74 % of copy, where the dense cuBLAS GEMM reaches 92 %).
  bool pipelined = false;             // the plain pass's next round of weight loads issued before this round's
                                      // MMAs (registers, double-buffered: qkv_projection.cuh)
  bool loop_units = false;            // min(max units, 2 x sm_count) CTAs (units_per_sm 2), each looping over units with
                                      // the next unit's slice (and, pipelined, its first loads) ahead of this one's
                                      // epilogue (SparseQkvOp::run_looped)
  int sm_count = 0;                   // with loop_units: the device's multiprocessor count (the caller queries it
                                      // once per device)
  // w_qkv in the tiled layout (launch_tile_qkv_weights) instead of [H][3][hd][d]: every 16-row x 32-column block
  // one contiguous KB, so each weight load instruction of a warp reads 512 contiguous bytes instead of 8 rows x
  // 64 bytes. The same products in the same order: the same bits. Not with pipelined or loop_units.
  bool tiled_weights = false;
};

// The forced catch-up: K/V of the heads a sparse_qkv launch listed in forced / forced_count, for their
// missing positions up to pos, all from x_hist.
struct KvCatchupArgs {
  __half* k_cache = nullptr;          // [B, H, max_len, hd]
  __half* v_cache = nullptr;
  const __half* x_hist = nullptr;     // [B, ring, d] (row pos written by sparse_qkv)
  const __half* w_qkv = nullptr;
  const __half* b_qkv = nullptr;
  const int* forced = nullptr;        // [2 * max_forced]
  const int* forced_count = nullptr;  // device scalar
  const int* pos = nullptr;
  int batch = 0, num_heads = 0, head_dim = 0, max_len = 0, ring = 0, max_forced = 0;
  int d = 0;                          // as in SparseQkvArgs
  bool tiled_weights = false;         // as in SparseQkvArgs
};

// The forced catch-up that follows a sparse_qkv launch with these arguments.
inline KvCatchupArgs kv_catchup_args(const SparseQkvArgs& a) {
  KvCatchupArgs c;
  c.k_cache = a.k_cache;
  c.v_cache = a.v_cache;
  c.x_hist = a.x_hist;
  c.w_qkv = a.w_qkv;
  c.b_qkv = a.b_qkv;
  c.forced = a.forced;
  c.forced_count = a.forced_count;
  c.pos = a.pos;
  c.batch = a.batch;
  c.num_heads = a.num_heads;
  c.head_dim = a.head_dim;
  c.max_len = a.max_len;
  c.ring = a.ring;
  c.max_forced = a.max_forced;
  c.d = a.d;
  c.tiled_weights = a.tiled_weights;
  return c;
}

// The input width an Args struct means (d, or H * head_dim when d is 0).
template <class Args>
constexpr int sparse_qkv_width(const Args& a) {
  return a.d > 0 ? a.d : a.num_heads * a.head_dim;
}

// Forced catch-up settings that keep every head's missing positions m within one pass (B * (m + 1) <=
// kSparseQkvPassColumns) and within the ring: max_forced = max(2, ceil(H / 32)), force_lag = min(128 / B,
// ring) - ceil(H / max_forced). force_lag < 1: no such settings for this batch (compute K/V of all heads).
struct KvCatchupPlan {
  int max_forced = 0;
  int force_lag = 0;
};
KvCatchupPlan sparse_qkv_catchup_plan(int batch, int num_heads, int ring);

// Throw dv::Error on bad sizes, an unsupported head_dim or pointers not 16-byte aligned (the launches run them;
// the persistent decode path runs them on the ops it schedules).
void check_sparse_qkv_args(const SparseQkvArgs& args);
void check_kv_catchup_args(const KvCatchupArgs& args);
void launch_sparse_qkv(const SparseQkvArgs& args, cudaStream_t stream);
void launch_kv_catchup(const KvCatchupArgs& args, cudaStream_t stream);

// The tiled weight layout (SparseQkvArgs::tiled_weights) of a [rows, d] row-major w_qkv (rows a multiple of
// 16, d of 32): block (i, c) of rows 16i .. 16i + 15 and columns 32c .. 32c + 31 is stored row-major at
// ((i * d / 32 + c) * 16) * 32, so a 16-row slice keeps its place and size and only its inside is reordered.
constexpr size_t sparse_qkv_tiled_index(size_t row, size_t col, size_t d) {
  return ((row / 16 * (d / 32) + col / 32) * 16 + row % 16) * 32 + col % 32;
}
// dst (tiled) from src (row-major), both [rows, d] on the device; dst and src must not overlap.
void launch_tile_qkv_weights(__half* dst, const __half* src, int rows, int d, cudaStream_t stream);

// kv_valid[i] = value for every slot of every head (after a dense prefill of `value` tokens).
void launch_kv_valid_fill(int* kv_valid, int num_heads, int head_dim, int value, cudaStream_t stream);

}  // namespace dv
