// lowrank_predictor.cu: argument checks, workspace sizes, and the graph path's launches of the predictor's three
// ops (z, scores + histogram, selection; design in lowrank_predictor.cuh, the ops' plan in predictor_plan.cuh).
#include "kernels/lowrank_predictor/lowrank_predictor.cuh"

#include <algorithm>
#include <cstdint>

#include "kernels/common/cuda_check.h"
#include "kernels/common/work_units.cuh"
#include "kernels/lowrank_predictor/predictor_plan.cuh"

namespace dv::kernels {
namespace {

bool aligned(const void* p, int bytes) { return reinterpret_cast<std::uintptr_t>(p) % bytes == 0; }

template <int BT, bool kI8>
void launch_predictor_ops(const LowrankPredictorArgs& a, cudaStream_t stream) {
  const LowrankPredictorOps<BT, kI8> ops = make_lowrank_predictor_ops<BT, kI8>(a);
  launch_units(ops.z, stream, "lowrank_predictor z = x Wa^T");
  launch_units(ops.scores, stream, "lowrank_predictor scores = z Wb^T");
  launch_units(ops.select, stream, "lowrank_predictor select");
}

template <int BT>
void launch_for_tile(const LowrankPredictorArgs& a, cudaStream_t stream) {
  if (a.wa_i8 != nullptr) {
    launch_predictor_ops<BT, true>(a, stream);
  } else {
    launch_predictor_ops<BT, false>(a, stream);
  }
}

}  // namespace

size_t lowrank_predictor_workspace_bytes(int B, int d, int r, int n) {
  return lowrank_predictor_plan(B, d, r, n).total;
}
size_t lowrank_select_workspace_bytes(int rows, int n) { return lowrank_select_plan(rows, n).total; }
size_t lowrank_predictor_partials_floats(int B, int d, int r) {
  const int splits = lowrank_z_split_count(B, d);
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
  const LowrankWorkspacePlan p = lowrank_select_plan(a.rows, a.n);
  if (a.mode == SelectMode::kTopK) {
    LowrankHistOp h;
    h.hist = lowrank_workspace_piece<int>(a.workspace, p.hist);
    h.scores = a.scores;
    h.n = a.n;
    h.ld = lowrank_scores_ld(a.n);
    h.rows = a.rows;
    launch_units(h, stream, "lowrank_select histogram");
  }
  launch_units(make_lowrank_select_op(a, p), stream, "lowrank_select");
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
  switch (lowrank_batch_tile(a.B)) {
    case 8: launch_for_tile<8>(a, stream); break;
    case 16: launch_for_tile<16>(a, stream); break;
    default: launch_for_tile<32>(a, stream); break;
  }
}

}  // namespace dv::kernels
