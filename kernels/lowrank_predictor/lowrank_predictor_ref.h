// lowrank_predictor_ref.h: plain C++ reference of the predictor and of its selection, also the CPU path.
// Same Args as the kernels with host pointers. Matches the kernels' semantics exactly where they are
// exact: z rounded to fp16 once (from a double sum), scores in fp32 (from double sums, laid out as the kernel's:
// [rows, lowrank_scores_ld(n)]), selection ties to the lowest index, rows united, idx ascending, threshold
// compared as score >= select_threshold_logit(t), all n past dense_above. The workspace pointers are unused.
#pragma once

#include "kernels/lowrank_predictor/lowrank_predictor.cuh"

namespace dv::kernels {

void lowrank_select_ref(const LowrankSelectArgs& args);
void lowrank_predictor_ref(const LowrankPredictorArgs& args);

// Symmetric per-row int8 quantization, the predictor's int8 format: scale[i] = max_j |w[i, j]| / 127 and
// q[i, j] = round-to-nearest-even(w[i, j] / scale[i]) in [-127, 127]; an all-zero row has scale 0 and q 0.
// w: [rows, cols] row-major fp32. The engine's LibTorch version (engine/models/int8_rows.h) is the same rule.
void quantize_rows_int8_ref(const float* w, int rows, int cols, int8_t* q, float* scale);

}  // namespace dv::kernels
