// predictor_plan.cuh: the predictor's ops for one call, built on the host from its LowrankPredictorArgs: the batch
// tile, z's column splits, and the workspace pieces each op uses (histograms, union bitmask, arrival counters, all
// left at zero by every launch). The graph path (lowrank_predictor.cu) launches the three ops one after another;
// the persistent decode kernel puts the same op structs in its instruction lists.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/lowrank_predictor/lowrank_predictor.cuh"
#include "kernels/lowrank_predictor/predictor_ops.cuh"
#include "kernels/lowrank_predictor/select_op.cuh"

namespace dv::kernels {

// The batch tile the ops are instantiated for: 8, 16 or 32 rows of x.
inline int lowrank_batch_tile(int B) { return B <= 8 ? 8 : (B <= 16 ? 16 : 32); }

namespace predictor_plan_detail {

inline size_t up16(size_t bytes) { return (bytes + 15) / 16 * 16; }

template <int BT>
int z_splits(int d) {
  const int chunks = (d + 31) / 32, per = PredictorTile<BT>::kColsPerSplit / 32;
  return std::max(1, (chunks + per - 1) / per);
}

}  // namespace predictor_plan_detail

// Byte offsets of the workspace pieces, all of which every launch leaves at zero (so workspaces of other
// shapes may overlap them): histograms (one per batch row: the per-row union needs them all), the union
// bitmask, the selection's arrival counter, and the z op's per-tile arrival counters.
struct LowrankWorkspacePlan {
  int splits = 1, z_tiles = 0;
  size_t hist = 0, bits = 0, arrivals = 0, tile_count = 0, total = 0;
};

inline LowrankWorkspacePlan lowrank_select_plan(int rows, int n) {
  using predictor_plan_detail::up16;
  LowrankWorkspacePlan p;
  p.hist = 0;
  p.bits = p.hist + up16(static_cast<size_t>(rows) * kSelectHistBins * sizeof(int));
  p.arrivals = p.bits + up16(static_cast<size_t>(4) * ((n + 127) / 128) * sizeof(uint32_t));
  p.tile_count = p.arrivals + 16;
  p.total = p.tile_count;
  return p;
}

inline int lowrank_z_split_count(int B, int d) {
  using predictor_plan_detail::z_splits;
  const int bt = lowrank_batch_tile(B);
  return bt == 8 ? z_splits<8>(d) : (bt == 16 ? z_splits<16>(d) : z_splits<32>(d));
}

inline LowrankWorkspacePlan lowrank_predictor_plan(int B, int d, int r, int n) {
  const int rows = lowrank_batch_tile(B) == 32 ? PredictorTile<32>::kRows : PredictorTile<8>::kRows;
  LowrankWorkspacePlan p = lowrank_select_plan(B, n);
  p.splits = lowrank_z_split_count(B, d);
  p.z_tiles = (r + rows - 1) / rows;
  p.total = p.tile_count + predictor_plan_detail::up16(static_cast<size_t>(p.z_tiles) * sizeof(int));
  return p;
}

template <class T>
T* lowrank_workspace_piece(void* base, size_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

inline LowrankSelectOp make_lowrank_select_op(const LowrankSelectArgs& a, const LowrankWorkspacePlan& p) {
  LowrankSelectOp op;
  op.idx = a.idx;
  op.k_dev = a.k_dev;
  op.scores = a.scores;
  op.hist = lowrank_workspace_piece<int>(a.workspace, p.hist);
  op.union_bits = lowrank_workspace_piece<uint32_t>(a.workspace, p.bits);
  op.arrivals = lowrank_workspace_piece<int>(a.workspace, p.arrivals);
  op.n = a.n;
  op.ld = lowrank_scores_ld(a.n);
  op.rows = a.rows;
  op.top_k_mode = a.mode == SelectMode::kTopK;
  op.top_k = a.top_k;
  op.tau = a.mode == SelectMode::kThreshold ? select_threshold_logit(a.threshold) : 0.f;
  op.max_k = a.max_k;
  op.dense_above = a.dense_above;
  return op;
}

// The three ops of one predictor call, in order; BT = lowrank_batch_tile(a.B), kI8 = (a.wa_i8 != nullptr).
// The arguments must have passed check_lowrank_predictor_args.
template <int BT, bool kI8>
struct LowrankPredictorOps {
  LowrankZOp<BT, kI8> z;
  LowrankScoresOp<BT, kI8> scores;
  LowrankSelectOp select;
};

template <int BT, bool kI8>
LowrankPredictorOps<BT, kI8> make_lowrank_predictor_ops(const LowrankPredictorArgs& a) {
  const LowrankWorkspacePlan p = lowrank_predictor_plan(a.B, a.d, a.r, a.n);
  const LowrankSelectArgs sel = lowrank_selection_of(a);
  LowrankPredictorOps<BT, kI8> ops;
  ops.z.z = a.z;
  ops.z.zpart = a.z_partials;
  ops.z.tile_count = lowrank_workspace_piece<int>(a.workspace, p.tile_count);
  ops.z.x = a.x;
  ops.z.wa = kI8 ? static_cast<const void*>(a.wa_i8) : static_cast<const void*>(a.wa);
  ops.z.wa_scale = a.wa_scale;
  ops.z.B = a.B;
  ops.z.d = a.d;
  ops.z.r = a.r;
  ops.z.splits = p.splits;
  ops.scores.scores = a.scores;
  ops.scores.hist = a.mode == SelectMode::kTopK ? lowrank_workspace_piece<int>(a.workspace, p.hist) : nullptr;
  ops.scores.z = a.z;
  ops.scores.wb = kI8 ? static_cast<const void*>(a.wb_i8) : static_cast<const void*>(a.wb);
  ops.scores.wb_scale = a.wb_scale;
  ops.scores.B = a.B;
  ops.scores.r = a.r;
  ops.scores.n = a.n;
  ops.scores.ld = lowrank_scores_ld(a.n);
  ops.scores.per_row = sel.rows > 1;
  ops.select = make_lowrank_select_op(sel, p);
  return ops;
}

}  // namespace dv::kernels
