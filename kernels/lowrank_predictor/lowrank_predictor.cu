// lowrank_predictor.cu: argument checks, the workspace plan, and the graph path's launches of the predictor's
// three ops (z, scores + histogram, selection; design in lowrank_predictor.cuh).
#include "kernels/lowrank_predictor/lowrank_predictor.cuh"

#include <algorithm>
#include <cstdint>

#include "kernels/common/cuda_check.h"
#include "kernels/common/work_units.cuh"
#include "kernels/lowrank_predictor/predictor_ops.cuh"
#include "kernels/lowrank_predictor/select_op.cuh"

namespace dv::kernels {
namespace {

bool aligned(const void* p, int bytes) { return reinterpret_cast<std::uintptr_t>(p) % bytes == 0; }
size_t up16(size_t bytes) { return (bytes + 15) / 16 * 16; }

int batch_tile(int B) { return B <= 8 ? 8 : (B <= 16 ? 16 : 32); }

template <int BT>
int z_splits(int d) {
  const int chunks = (d + 31) / 32, per = PredictorTile<BT>::kColsPerSplit / 32;
  return std::max(1, (chunks + per - 1) / per);
}

// Byte offsets of the workspace pieces, all of which every launch leaves at zero (so workspaces of other
// shapes may overlap them): histograms (one per batch row: the per-row union needs them all), the union
// bitmask, the selection's arrival counter, and the z op's per-tile arrival counters.
struct WorkspacePlan {
  int splits = 1, z_tiles = 0;
  size_t hist = 0, bits = 0, arrivals = 0, tile_count = 0, total = 0;
};

WorkspacePlan select_plan(int rows, int n) {
  WorkspacePlan p;
  p.hist = 0;
  p.bits = p.hist + up16(static_cast<size_t>(rows) * kSelectHistBins * sizeof(int));
  p.arrivals = p.bits + up16(static_cast<size_t>(4) * ((n + 127) / 128) * sizeof(uint32_t));
  p.tile_count = p.arrivals + 16;
  p.total = p.tile_count;
  return p;
}

int z_rows(int B) { return batch_tile(B) == 32 ? PredictorTile<32>::kRows : PredictorTile<8>::kRows; }

int z_split_count(int B, int d) {
  const int bt = batch_tile(B);
  return bt == 8 ? z_splits<8>(d) : (bt == 16 ? z_splits<16>(d) : z_splits<32>(d));
}

WorkspacePlan predictor_plan(int B, int d, int r, int n) {
  WorkspacePlan p = select_plan(B, n);
  p.splits = z_split_count(B, d);
  p.z_tiles = (r + z_rows(B) - 1) / z_rows(B);
  p.total = p.tile_count + up16(static_cast<size_t>(p.z_tiles) * sizeof(int));
  return p;
}

template <class T>
T* piece(void* base, size_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

LowrankSelectOp make_select_op(const LowrankSelectArgs& a, void* ws, const WorkspacePlan& p) {
  LowrankSelectOp op;
  op.idx = a.idx;
  op.k_dev = a.k_dev;
  op.scores = a.scores;
  op.hist = piece<int>(ws, p.hist);
  op.union_bits = piece<uint32_t>(ws, p.bits);
  op.arrivals = piece<int>(ws, p.arrivals);
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

template <int BT, bool kI8>
void launch_predictor_ops(const LowrankPredictorArgs& a, const LowrankSelectArgs& sel, const WorkspacePlan& p,
                          cudaStream_t stream) {
  LowrankZOp<BT, kI8> zop;
  zop.z = a.z;
  zop.zpart = a.z_partials;
  zop.tile_count = piece<int>(a.workspace, p.tile_count);
  zop.x = a.x;
  zop.wa = kI8 ? static_cast<const void*>(a.wa_i8) : static_cast<const void*>(a.wa);
  zop.wa_scale = a.wa_scale;
  zop.B = a.B;
  zop.d = a.d;
  zop.r = a.r;
  zop.splits = p.splits;
  launch_units(zop, stream, "lowrank_predictor z = x Wa^T");

  LowrankScoresOp<BT, kI8> sop;
  sop.scores = a.scores;
  sop.hist = a.mode == SelectMode::kTopK ? piece<int>(a.workspace, p.hist) : nullptr;
  sop.z = a.z;
  sop.wb = kI8 ? static_cast<const void*>(a.wb_i8) : static_cast<const void*>(a.wb);
  sop.wb_scale = a.wb_scale;
  sop.B = a.B;
  sop.r = a.r;
  sop.n = a.n;
  sop.ld = lowrank_scores_ld(a.n);
  sop.per_row = sel.rows > 1;
  launch_units(sop, stream, "lowrank_predictor scores = z Wb^T");

  launch_units(make_select_op(sel, a.workspace, p), stream, "lowrank_predictor select");
}

template <int BT>
void launch_for_tile(const LowrankPredictorArgs& a, const LowrankSelectArgs& sel, const WorkspacePlan& p,
                     cudaStream_t stream) {
  if (a.wa_i8 != nullptr) {
    launch_predictor_ops<BT, true>(a, sel, p, stream);
  } else {
    launch_predictor_ops<BT, false>(a, sel, p, stream);
  }
}

}  // namespace

size_t lowrank_predictor_workspace_bytes(int B, int d, int r, int n) { return predictor_plan(B, d, r, n).total; }
size_t lowrank_select_workspace_bytes(int rows, int n) { return select_plan(rows, n).total; }
size_t lowrank_predictor_partials_floats(int B, int d, int r) {
  const int splits = z_split_count(B, d);
  return splits > 1 ? static_cast<size_t>(splits) * B * r : 0;
}

void check_lowrank_select_args(const LowrankSelectArgs& a) {
  DV_CHECK(a.n >= 0 && a.n <= kSelectMaxN && a.max_k >= 0,
           "lowrank_select: bad sizes n = {} (at most {}), max_k = {}", a.n, kSelectMaxN, a.max_k);
  DV_CHECK(a.rows >= 1 && a.rows <= 32, "lowrank_select: rows = {} outside 1..32", a.rows);
  DV_CHECK(a.idx != nullptr && a.k_dev != nullptr && a.workspace != nullptr && (a.n == 0 || a.scores != nullptr),
           "lowrank_select: idx, k_dev, workspace and scores must be device pointers, got a null one");
  DV_CHECK(aligned(a.scores, 16) && aligned(a.workspace, 16),
           "lowrank_select: scores and workspace must be 16-byte aligned");
  if (a.mode == SelectMode::kTopK) {
    DV_CHECK(a.top_k >= 0 && std::min(a.top_k, a.n) <= a.max_k,
             "lowrank_select: top_k = {} (n = {}) exceeds the idx capacity max_k = {}", a.top_k, a.n, a.max_k);
  } else {
    DV_CHECK(a.threshold > 0.f && a.threshold < 1.f, "lowrank_select: threshold t = {} must lie in (0, 1)",
             a.threshold);
    DV_CHECK(a.rows == 1, "lowrank_select: threshold mode unites batch rows by their max: rows must be 1, got {}",
             a.rows);
  }
  DV_CHECK(a.dense_above >= a.n || a.max_k >= a.n,
           "lowrank_select: dense_above = {} < n = {} may select all n, but max_k = {}", a.dense_above, a.n, a.max_k);
}

void launch_lowrank_select(const LowrankSelectArgs& a, cudaStream_t stream) {
  check_lowrank_select_args(a);
  if (a.n == 0) {
    DV_CUDA_CHECK(cudaMemsetAsync(a.k_dev, 0, sizeof(int), stream));
    return;
  }
  const WorkspacePlan p = select_plan(a.rows, a.n);
  if (a.mode == SelectMode::kTopK) {
    LowrankHistOp h;
    h.hist = piece<int>(a.workspace, p.hist);
    h.scores = a.scores;
    h.n = a.n;
    h.ld = lowrank_scores_ld(a.n);
    h.rows = a.rows;
    launch_units(h, stream, "lowrank_select histogram");
  }
  launch_units(make_select_op(a, a.workspace, p), stream, "lowrank_select");
}

void check_lowrank_predictor_args(const LowrankPredictorArgs& a) {
  DV_CHECK(a.B >= 1 && a.B <= 32, "lowrank_predictor: batch B = {} outside 1..32", a.B);
  DV_CHECK(a.d > 0 && a.d % 8 == 0 && a.r > 0 && a.r % 8 == 0,
           "lowrank_predictor: d = {} and rank r = {} must be positive multiples of 8 (16-byte rows)", a.d, a.r);
  DV_CHECK(a.n >= 1, "lowrank_predictor: n = {} outputs", a.n);
  DV_CHECK(a.z != nullptr && a.scores != nullptr && a.x != nullptr &&
               (a.z_partials != nullptr || lowrank_predictor_partials_floats(a.B, a.d, a.r) == 0),
           "lowrank_predictor: z, z_partials, scores and x must be device pointers, got a null one");
  DV_CHECK(aligned(a.x, 16) && aligned(a.z, 16), "lowrank_predictor: x and z must be 16-byte aligned");
  const bool i8 = a.wa_i8 != nullptr;
  if (i8) {
    DV_CHECK(a.wa == nullptr && a.wb == nullptr && a.wb_i8 != nullptr && a.wa_scale != nullptr &&
                 a.wb_scale != nullptr,
             "lowrank_predictor: int8 weights need wa_i8, wb_i8, wa_scale and wb_scale (and no fp16 wa / wb)");
    DV_CHECK(aligned(a.wa_i8, 8) && aligned(a.wb_i8, 8) && aligned(a.wa_scale, 4) && aligned(a.wb_scale, 4),
             "lowrank_predictor: int8 weights must be 8-byte aligned and their scales 4-byte aligned");
  } else {
    DV_CHECK(a.wa != nullptr && a.wb != nullptr && a.wb_i8 == nullptr,
             "lowrank_predictor: wa and wb must be device pointers (or both int8 weights given), got a null one");
    DV_CHECK(aligned(a.wa, 16) && aligned(a.wb, 16), "lowrank_predictor: wa and wb must be 16-byte aligned");
  }
  check_lowrank_select_args(lowrank_selection_of(a));
}

void launch_lowrank_predictor(const LowrankPredictorArgs& a, cudaStream_t stream) {
  check_lowrank_predictor_args(a);  // before any launch: a bad call leaves the stream untouched
  const LowrankSelectArgs sel = lowrank_selection_of(a);
  const WorkspacePlan p = predictor_plan(a.B, a.d, a.r, a.n);
  switch (batch_tile(a.B)) {
    case 8: launch_for_tile<8>(a, sel, p, stream); break;
    case 16: launch_for_tile<16>(a, sel, p, stream); break;
    default: launch_for_tile<32>(a, sel, p, stream); break;
  }
}

}  // namespace dv::kernels
