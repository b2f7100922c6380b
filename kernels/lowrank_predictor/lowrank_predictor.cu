// lowrank_predictor.cu: the predictor's two GEMVs (row_dot with an fp16 and a max-over-batch epilogue) and
// its selection, launched back to back on one stream (design in lowrank_predictor.cuh).
#include "kernels/lowrank_predictor/lowrank_predictor.cuh"

#include <cstdint>

#include "kernels/common/cuda_check.h"
#include "kernels/sparse_mlp_up/row_dot.cuh"

namespace dv::kernels {
namespace {

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

}  // namespace

void launch_lowrank_predictor(const LowrankPredictorArgs& a, cudaStream_t stream) {
  DV_CHECK(a.B >= 1 && a.B <= 32, "lowrank_predictor: batch B = {} outside 1..32", a.B);
  DV_CHECK(a.d > 0 && a.d % 8 == 0 && a.r > 0 && a.r % 8 == 0,
           "lowrank_predictor: d = {} and rank r = {} must be positive multiples of 8 (16-byte rows)", a.d, a.r);
  DV_CHECK(a.n >= 1, "lowrank_predictor: n = {} outputs", a.n);
  DV_CHECK(a.z != nullptr && a.scores != nullptr && a.x != nullptr && a.wa != nullptr && a.wb != nullptr,
           "lowrank_predictor: z, scores, x, wa and wb must be device pointers, got a null one");
  DV_CHECK(aligned16(a.x) && aligned16(a.wa) && aligned16(a.wb) && aligned16(a.z),
           "lowrank_predictor: x, wa, wb and z must be 16-byte aligned");

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
  first.x = a.x;
  first.max_rows = a.r;
  first.B = a.B;
  first.d = a.d;
  HalfRowEpilogue to_z;
  to_z.out = a.z;
  to_z.ld = a.r;
  launch_row_dot(first, to_z, stream);
  DV_CUDA_LAUNCH_CHECK("lowrank_predictor z = x Wa^T");

  RowDotProblem second;
  second.w = a.wb;
  second.x = a.z;
  second.max_rows = a.n;
  second.B = a.B;
  second.d = a.r;
  MaxOverBatchEpilogue to_scores;
  to_scores.scores = a.scores;
  launch_row_dot(second, to_scores, stream);
  DV_CUDA_LAUNCH_CHECK("lowrank_predictor scores = max_b z Wb^T");

  launch_lowrank_select(sel, stream);
}

}  // namespace dv::kernels
