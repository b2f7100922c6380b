// sparse_qkv.cu: the graph path's launches of sparse_qkv and kv_catchup (one CTA per unit of the ops in
// sparse_qkv_op.cuh, with PDL), their argument checks, the catch-up plan and the kv_valid fill.
#include "kernels/sparse_qkv/sparse_qkv.cuh"

#include <algorithm>
#include <cstdint>

#include "kernels/common/cuda_check.h"
#include "kernels/common/pdl.cuh"
#include "kernels/common/work_units.cuh"
#include "kernels/sparse_qkv/sparse_qkv_op.cuh"

namespace dv {
namespace {

// Two units per SM (128 registers a thread): the 16-tile catch-up pass keeps 64 fp32 accumulators, the
// plain pass four 16-byte weight loads per row in flight; work_units' unit_kernel sets no register bound.
// The plain launch of sparse_qkv honours its A/B variant fields (sparse_qkv_op.cuh, run_as).
// kLooped (SparseQkvArgs::loop_units) and kTiled (tiled_weights): kernels of their own, so the unit loop's
// state and the other weight layout cost the default kernel no registers.
template <bool kLooped, bool kTiled, class Sync>
__device__ __forceinline__ void run_unit(const kernels::KvCatchupOp& op, char* smem, const Sync& sync) {
  op.template run_as<Sync, kTiled>(static_cast<int>(blockIdx.x), smem, sync);
}
template <bool kLooped, bool kTiled, class Sync>
__device__ __forceinline__ void run_unit(const kernels::SparseQkvOp& op, char* smem, const Sync& sync) {
  if constexpr (kLooped)
    op.template run_looped<Sync>(smem, sync);
  else
    op.template run_as<Sync, true, kTiled>(static_cast<int>(blockIdx.x), smem, sync);
}

// kUnitsPerSm 3 (SparseQkvArgs::units_per_sm, an A/B variant): 80 registers, and three units' shared memory
// (3 x 68 KB) still fit an SM.
template <class Op, bool kAfterJoin, int kUnitsPerSm = 2, bool kLooped = false, bool kTiled = false>
__global__ void __launch_bounds__(kernels::kUnitThreads, kUnitsPerSm) qkv_unit_kernel(Op op) {
  extern __shared__ __align__(16) char smem[];
  run_unit<kLooped, kTiled>(op, smem, kernels::PdlSync<kAfterJoin>{});
}

// ctas: the grid (0: one CTA per unit); kLooped: the CTAs loop over the units (SparseQkvOp::run_looped).
template <class Op, int kUnitsPerSm = 2, bool kLooped = false, bool kTiled = false>
void launch_op(const Op& op, cudaStream_t stream, const char* name, int ctas = 0) {
  static_assert(kUnitsPerSm * (Op::kSmemBytes + 1024) <= 228 * 1024, "units per SM exceed an SM's shared memory");
  static_assert(Op::kSmemBytes <= kernels::kUnitSmemMax, "op needs more shared memory than a unit may have");
  kernels::launch_unit_kernel(qkv_unit_kernel<Op, false, kUnitsPerSm, kLooped, kTiled>,
                              qkv_unit_kernel<Op, true, kUnitsPerSm, kLooped, kTiled>,
                              ctas > 0 ? ctas : op.max_units(), Op::kSmemBytes, stream, op);
  DV_CUDA_LAUNCH_CHECK(name);
}

// One thread per 8 columns (16 bytes) of a row.
__global__ void tile_qkv_weights_kernel(__half* dst, const __half* src, int rows, int d) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x, per_row = d / 8;
  if (i >= static_cast<size_t>(rows) * per_row) return;
  const size_t r = i / per_row, c = (i % per_row) * 8;
  *reinterpret_cast<uint4*>(dst + sparse_qkv_tiled_index(r, c, d)) = *reinterpret_cast<const uint4*>(src + r * d + c);
}

__global__ void kv_valid_fill_kernel(int* kv_valid, int n, int value) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) kv_valid[i] = value;
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Checks shared by both ops: shapes, head_dim, the width, the ring.
void check_shape(const char* op, int batch, int num_heads, int head_dim, int max_len, int ring, int d) {
  DV_CHECK(sparse_qkv_supports_head_dim(head_dim), "{}: head_dim {} unsupported (16, 32, 64, 80 or 128)", op,
           head_dim);
  DV_CHECK(num_heads > 0 && num_heads <= kSparseQkvMaxHeads && batch > 0 && max_len > 0,
           "{}: num_heads = {} (at most {}), batch = {}, max_len = {} must be positive", op, num_heads,
           kSparseQkvMaxHeads, batch, max_len);
  DV_CHECK(d % 32 == 0 && d >= num_heads * head_dim, "{}: width d = {} must be a multiple of 32 and >= {} heads x {}",
           op, d, num_heads, head_dim);
  DV_CHECK(ring >= 0, "{}: ring = {} is negative", op, ring);
}

}  // namespace

KvCatchupPlan sparse_qkv_catchup_plan(int batch, int num_heads, int ring) {
  DV_CHECK(batch > 0 && num_heads > 0 && ring >= 0, "sparse_qkv_catchup_plan: batch {}, heads {}, ring {}", batch,
           num_heads, ring);
  KvCatchupPlan p;
  p.max_forced = std::min(kSparseQkvMaxForced, std::max(2, (num_heads + 31) / 32));
  const int wait = (num_heads + p.max_forced - 1) / p.max_forced;  // steps a head may queue at force_lag and beyond
  p.force_lag = std::min(kSparseQkvPassColumns / batch, ring) - wait;
  return p;
}

void check_sparse_qkv_args(const SparseQkvArgs& a) {
  check_shape("sparse_qkv", a.batch, a.num_heads, a.head_dim, a.max_len, a.ring, sparse_qkv_width(a));
  DV_CHECK(a.max_heads >= 0 && a.max_heads <= a.num_heads, "sparse_qkv: max_heads = {} outside [0, {}]", a.max_heads,
           a.num_heads);
  DV_CHECK(a.q && a.k_cache && a.v_cache && a.x && a.w_qkv && a.b_qkv && a.heads && a.num_selected && a.pos,
           "sparse_qkv: q, k_cache, v_cache, x, w_qkv, b_qkv, heads, num_selected and pos must be non-null");
  DV_CHECK((a.x_hist == nullptr) == (a.ring == 0) && (a.x_hist == nullptr || a.kv_valid != nullptr),
           "sparse_qkv: x_hist ({}) needs ring > 0 (ring = {}) and kv_valid", static_cast<const void*>(a.x_hist),
           a.ring);
  DV_CHECK(a.max_forced >= 0 && a.max_forced <= kSparseQkvMaxForced, "sparse_qkv: max_forced = {} outside [0, {}]",
           a.max_forced, kSparseQkvMaxForced);
  DV_CHECK(a.max_forced == 0 || (a.forced && a.forced_count && a.x_hist && a.force_lag >= 1 && !a.all_kv),
           "sparse_qkv: max_forced = {} needs forced, forced_count, x_hist, force_lag >= 1 (is {}) and no all_kv",
           a.max_forced, a.force_lag);
  DV_CHECK(aligned16(a.x) && aligned16(a.x_hist) && aligned16(a.w_qkv),
           "sparse_qkv: x, x_hist and w_qkv must be 16-byte aligned (16-byte vector access)");
  DV_CHECK((a.ln_gamma == nullptr) == (a.ln_beta == nullptr) && aligned16(a.ln_gamma) && aligned16(a.ln_beta),
           "sparse_qkv: the fused layer norm needs ln_gamma and ln_beta together, 16-byte aligned");
  DV_CHECK((a.plain_unroll == 4 || a.plain_unroll == 8) && (a.units_per_sm == 2 || a.units_per_sm == 3),
           "sparse_qkv: plain_unroll = {} (4 or 8), units_per_sm = {} (2 or 3)", a.plain_unroll, a.units_per_sm);
  DV_CHECK(!a.tiled_weights || (!a.pipelined && !a.loop_units && a.units_per_sm == 2),
           "sparse_qkv: tiled_weights has a kernel of its own: not pipelined, loop_units or units_per_sm 3");
  DV_CHECK(!a.loop_units || (a.sm_count > 0 && a.units_per_sm == 2),
           "sparse_qkv: loop_units needs sm_count > 0 (is {}) and units_per_sm 2 (is {})", a.sm_count, a.units_per_sm);
  DV_CHECK(a.ln_row_partials == nullptr ||
               (a.ln_gamma != nullptr && a.ln_partial_blocks >= 1 &&
                reinterpret_cast<uintptr_t>(a.ln_row_partials) % 8 == 0),
           "sparse_qkv: ln_row_partials needs ln_gamma, ln_partial_blocks >= 1 (is {}) and 8-byte alignment",
           a.ln_partial_blocks);
  DV_CHECK(a.ln_gamma == nullptr || a.batch <= kSparseQkvLnMaxRows,
           "sparse_qkv: the fused layer norm keeps statistics for {} rows, batch is {} (normalize first)",
           kSparseQkvLnMaxRows, a.batch);
}

void launch_sparse_qkv(const SparseQkvArgs& a, cudaStream_t stream) {
  check_sparse_qkv_args(a);
  const kernels::SparseQkvOp op{a};
  if (a.tiled_weights) {
    launch_op<kernels::SparseQkvOp, 2, false, true>(op, stream, "sparse_qkv");
  } else if (a.loop_units) {  // one wave of CTAs (two an SM), or fewer where there are fewer units
    launch_op<kernels::SparseQkvOp, 2, true>(op, stream, "sparse_qkv", std::min(op.max_units(), 2 * a.sm_count));
  } else if (a.units_per_sm == 3) {
    launch_op<kernels::SparseQkvOp, 3>(op, stream, "sparse_qkv");
  } else {
    launch_op(op, stream, "sparse_qkv");
  }
}

void check_kv_catchup_args(const KvCatchupArgs& a) {
  check_shape("kv_catchup", a.batch, a.num_heads, a.head_dim, a.max_len, a.ring, sparse_qkv_width(a));
  DV_CHECK(a.max_forced >= 0 && a.max_forced <= kSparseQkvMaxForced, "kv_catchup: max_forced = {} outside [0, {}]",
           a.max_forced, kSparseQkvMaxForced);
  if (a.max_forced == 0) return;
  DV_CHECK(a.ring > 0 && a.k_cache && a.v_cache && a.x_hist && a.w_qkv && a.b_qkv && a.forced && a.forced_count &&
               a.pos,
           "kv_catchup: ring = {} must be positive and every pointer non-null", a.ring);
  DV_CHECK(aligned16(a.x_hist) && aligned16(a.w_qkv), "kv_catchup: x_hist and w_qkv must be 16-byte aligned");
}

void launch_kv_catchup(const KvCatchupArgs& a, cudaStream_t stream) {
  check_kv_catchup_args(a);
  if (a.max_forced == 0) return;
  if (a.tiled_weights)
    launch_op<kernels::KvCatchupOp, 2, false, true>(kernels::KvCatchupOp{a}, stream, "kv_catchup");
  else
    launch_op(kernels::KvCatchupOp{a}, stream, "kv_catchup");
}

void launch_tile_qkv_weights(__half* dst, const __half* src, int rows, int d, cudaStream_t stream) {
  DV_CHECK(dst && src && rows > 0 && rows % 16 == 0 && d > 0 && d % 32 == 0 && aligned16(dst) && aligned16(src),
           "tile_qkv_weights: rows = {} (a multiple of 16), d = {} (of 32), 16-byte aligned non-null pointers", rows,
           d);
  const size_t n = static_cast<size_t>(rows) * (d / 8);
  tile_qkv_weights_kernel<<<static_cast<unsigned>((n + 255) / 256), 256, 0, stream>>>(dst, src, rows, d);
  DV_CUDA_LAUNCH_CHECK("tile_qkv_weights_kernel");
}

void launch_kv_valid_fill(int* kv_valid, int num_heads, int head_dim, int value, cudaStream_t stream) {
  DV_CHECK(kv_valid && num_heads > 0 && sparse_qkv_supports_head_dim(head_dim) && value >= 0,
           "kv_valid_fill: bad arguments (num_heads {}, head_dim {}, value {})", num_heads, head_dim, value);
  const int n = num_heads * sparse_qkv_valid_slots(head_dim);
  kv_valid_fill_kernel<<<(n + 255) / 256, 256, 0, stream>>>(kv_valid, n, value);
  DV_CUDA_LAUNCH_CHECK("kv_valid_fill_kernel");
}

}  // namespace dv
