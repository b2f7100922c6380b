// sparse_mlp_down.cu: the plan and the graph path's launch of sparse_mlp_down (one CTA per unit of
// SparseMlpDownOp, sparse_mlp_down_op.cuh, with PDL); design and byte count in sparse_mlp_down.cuh.
#include "kernels/sparse_mlp_down/sparse_mlp_down.cuh"

#include <algorithm>
#include <cstdint>

#include "kernels/common/cuda_check.h"
#include "kernels/common/pdl.cuh"
#include "kernels/common/work_units.cuh"
#include "kernels/sparse_mlp_down/sparse_mlp_down_op.cuh"

namespace dv::kernels {
namespace {

// The minimum-units bound keeps ptxas at <= 128 registers for one batch tile (two units per SM, the plan's
// waves) without trading loads in flight for occupancy (see row_dot.cuh), and leaves room for the 64
// accumulators of two tiles.
template <class Op, int kMinUnits, bool kAfterJoin>
__global__ void __launch_bounds__(kUnitThreads, kMinUnits) sparse_mlp_down_kernel(Op op) {
  extern __shared__ __align__(16) char smem[];
  op.run(static_cast<int>(blockIdx.x), smem, PdlSync<kAfterJoin>{});
}

template <int MT, bool kUnitRows, bool kRowStats>
void launch_op(const SparseMlpDownArgs& a, const SparseMlpDownPlan& plan, cudaStream_t stream) {
  using Op = SparseMlpDownOp<MT, kUnitRows, kRowStats>;
  Op op;
  op.a = a;
  op.col_blocks = plan.col_blocks;
  op.splits = plan.splits;
  constexpr int kMinUnits = MT == 1 ? 2 : 1;
  // The fixed scheme needs only the flag (16 bytes), as before the ordered scheme's staging existed.
  launch_unit_kernel(sparse_mlp_down_kernel<Op, kMinUnits, false>, sparse_mlp_down_kernel<Op, kMinUnits, true>,
                     op.max_units(), a.ordered_sums || kRowStats ? Op::kSmemBytes : 16, stream, op);
}

template <int MT, bool kUnitRows>
void launch_stats_or_not(const SparseMlpDownArgs& a, const SparseMlpDownPlan& plan, cudaStream_t stream) {
  if (a.row_partials != nullptr) {
    launch_op<MT, kUnitRows, true>(a, plan, stream);
  } else {
    launch_op<MT, kUnitRows, false>(a, plan, stream);
  }
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

}  // namespace

SparseMlpDownPlan plan_sparse_mlp_down(int B, int d, int max_k, int rows_per_index, int target_units,
                                       bool ordered_sums) {
  SparseMlpDownPlan plan;
  plan.col_blocks = std::max(1, (d + kSparseMlpDownUnitCols - 1) / kSparseMlpDownUnitCols);
  const long long max_rows = static_cast<long long>(std::max(max_k, 0)) * std::max(rows_per_index, 1);
  const long long target = target_units > 0 ? target_units : kSparseMlpDownTargetUnits;
  // Rounded down: at most the target's whole waves of units, never a few stragglers in one more (a tail of a
  // handful of units has too few loads in flight to keep DRAM busy).
  const long long by_parallelism = target / plan.col_blocks;
  const long long by_rows = max_rows / (SparseMlpDownOp<1, true>::kStepRows * SparseMlpDownOp<1, true>::kUnroll);
  const long long by_bytes = max_rows / (8LL * std::max(B, 1));  // 8-byte reductions <= 1/2 of weight bytes
  plan.splits = static_cast<int>(std::max(1LL, std::min({by_parallelism, by_rows, by_bytes})));
  if (plan.splits > 1) {
    plan.workspace_bytes = static_cast<size_t>(kSplitSumMaxRows) * d * sizeof(FixedSum) + plan.col_blocks * sizeof(int);
    if (ordered_sums)
      plan.workspace_bytes = sparse_mlp_down_partials_offset(d, plan.col_blocks) +
                             static_cast<size_t>(plan.splits) * B * d * sizeof(float);
  }
  return plan;
}

void check_sparse_mlp_down_args(const SparseMlpDownArgs& a, const SparseMlpDownPlan& plan) {
  DV_CHECK(a.B >= 1 && a.B <= 32, "sparse_mlp_down: batch B = {} outside 1..32", a.B);
  DV_CHECK(a.d > 0 && a.d % 8 == 0, "sparse_mlp_down: d = {} must be a positive multiple of 8 (16-byte rows)",
           a.d);
  DV_CHECK(a.rows_per_index >= 1, "sparse_mlp_down: rows_per_index = {} must be >= 1", a.rows_per_index);
  DV_CHECK(a.max_k >= 0 && static_cast<long long>(a.ld_h) >= static_cast<long long>(a.max_k) * a.rows_per_index,
           "sparse_mlp_down: need ld_h ({}) >= max_k ({}) * rows_per_index ({})", a.ld_h, a.max_k,
           a.rows_per_index);
  DV_CHECK(a.ld_h % 4 == 0 && reinterpret_cast<std::uintptr_t>(a.h) % 8 == 0,
           "sparse_mlp_down: ld_h ({}) must be a multiple of 4 and h 8-byte aligned (4 halves per load)", a.ld_h);
  DV_CHECK(a.out != nullptr && a.w2t != nullptr && (a.max_k == 0 || (a.h != nullptr && a.idx != nullptr)),
           "sparse_mlp_down: out, w2t, h and idx must be device pointers, got a null one");
  DV_CHECK(aligned16(a.out) && aligned16(a.w2t) && aligned16(a.resid) && aligned16(a.b2),
           "sparse_mlp_down: out, w2t, resid and b2 must be 16-byte aligned");
  DV_CHECK(reinterpret_cast<std::uintptr_t>(a.row_partials) % 8 == 0,
           "sparse_mlp_down: row_partials must be 8-byte aligned (one float2 per slice and row)");
  DV_CHECK(plan.workspace_bytes == 0 || (a.workspace != nullptr && aligned16(a.workspace)),
           "sparse_mlp_down: this shape needs a 16-byte aligned workspace of {} bytes", plan.workspace_bytes);
}

void launch_sparse_mlp_down(const SparseMlpDownArgs& a, cudaStream_t stream) {
  DV_CHECK(a.target_units >= 0 && a.target_units <= kSparseMlpDownTargetUnits,
           "sparse_mlp_down: target_units = {} outside 0..{} (0: the default plan)", a.target_units,
           kSparseMlpDownTargetUnits);
  const SparseMlpDownPlan plan =
      plan_sparse_mlp_down(a.B, a.d, a.max_k, a.rows_per_index, a.target_units, a.ordered_sums);
  check_sparse_mlp_down_args(a, plan);
  const bool unit = a.rows_per_index == 1;
  if (a.B <= 16) {
    if (unit) {
      launch_stats_or_not<1, true>(a, plan, stream);
    } else {
      launch_stats_or_not<1, false>(a, plan, stream);
    }
  } else if (unit) {
    launch_stats_or_not<2, true>(a, plan, stream);
  } else {
    launch_stats_or_not<2, false>(a, plan, stream);
  }
  DV_CUDA_LAUNCH_CHECK("sparse_mlp_down");
}

}  // namespace dv::kernels
