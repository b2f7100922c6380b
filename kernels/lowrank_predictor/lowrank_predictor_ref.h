// lowrank_predictor_ref.h: plain C++ reference of the predictor and of its selection, also the CPU path.
// Same Args as the kernels with host pointers. Matches the kernels' semantics exactly where they are
// exact: z rounded to fp16 once (from a double sum), scores in fp32 (from double sums), selection ties to the
// lowest index, idx ascending, threshold compared as score >= select_threshold_logit(t).
#pragma once

#include "kernels/lowrank_predictor/lowrank_predictor.cuh"

namespace dv::kernels {

void lowrank_select_ref(const LowrankSelectArgs& args);
void lowrank_predictor_ref(const LowrankPredictorArgs& args);

}  // namespace dv::kernels
