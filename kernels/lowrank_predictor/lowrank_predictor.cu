// lowrank_predictor.cu: the predictor's two GEMVs (row_dot with an fp16 and a max-over-batch epilogue) and
// its selection, launched back to back on one stream (design in lowrank_predictor.cuh).
#include "kernels/lowrank_predictor/lowrank_predictor.cuh"

#include <cstdint>

#include "kernels/common/cuda_check.h"
#include "kernels/sparse_mlp_up/row_dot.cuh"

namespace dv::kernels {
namespace {

bool aligned(const void* p, int bytes) { return reinterpret_cast<std::uintptr_t>(p) % bytes == 0; }
bool aligned16(const void* p) { return aligned(p, 16); }

}  // namespace

void launch_lowrank_predictor(const LowrankPredictorArgs& a, cudaStream_t stream) {
  DV_CHECK(a.B >= 1 && a.B <= 32, "lowrank_predictor: batch B = {} outside 1..32", a.B);
  DV_CHECK(a.d > 0 && a.d % 8 == 0 && a.r > 0 && a.r % 8 == 0,
           "lowrank_predictor: d = {} and rank r = {} must be positive multiples of 8 (16-byte rows)", a.d, a.r);
  DV_CHECK(a.n >= 1, "lowrank_predictor: n = {} outputs", a.n);
  DV_CHECK(a.z != nullptr && a.scores != nullptr && a.x != nullptr,
           "lowrank_predictor: z, scores and x must be device pointers, got a null one");
  DV_CHECK(aligned16(a.x) && aligned16(a.z), "lowrank_predictor: x and z must be 16-byte aligned");
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
    DV_CHECK(aligned16(a.wa) && aligned16(a.wb), "lowrank_predictor: wa and wb must be 16-byte aligned");
  }

  LowrankSelectArgs sel;
  sel.idx = a.idx;
  sel.k_dev = a.k_dev;
  sel.scores = a.scores;
  sel.n = a.n;
  sel.mode = a.mode;
  sel.top_k = a.top_k;
  sel.threshold = a.threshold;
  sel.max_k = a.max_k;
  check_lowrank_select_args(sel);  // before any launch: a bad call leaves the stream untouched

  RowDotProblem first;
  first.w = a.wa;
  first.w_i8 = a.wa_i8;
  first.x = a.x;
  first.max_rows = a.r;
  first.B = a.B;
  first.d = a.d;
  HalfRowEpilogue to_z;
  to_z.out = a.z;
  to_z.ld = a.r;
  to_z.scale = a.wa_scale;
  if (i8) {
    launch_row_dot<true>(first, to_z, stream);
  } else {
    launch_row_dot(first, to_z, stream);
  }
  DV_CUDA_LAUNCH_CHECK("lowrank_predictor z = x Wa^T");

  RowDotProblem second;
  second.w = a.wb;
  second.w_i8 = a.wb_i8;
  second.x = a.z;
  second.max_rows = a.n;
  second.B = a.B;
  second.d = a.r;
  MaxOverBatchEpilogue to_scores;
  to_scores.scores = a.scores;
  to_scores.scale = a.wb_scale;
  if (i8) {
    launch_row_dot<true>(second, to_scores, stream);
  } else {
    launch_row_dot(second, to_scores, stream);
  }
  DV_CUDA_LAUNCH_CHECK("lowrank_predictor scores = max_b z Wb^T");

  launch_lowrank_select(sel, stream);
}

}  // namespace dv::kernels
