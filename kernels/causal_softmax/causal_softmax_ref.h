// causal_softmax_ref.h: plain C++ reference of launch_causal_softmax (host pointers in the same Args
// struct), statistics in double.
#pragma once

#include "kernels/causal_softmax/causal_softmax.cuh"

namespace dv {

void causal_softmax_ref(const CausalSoftmaxArgs& args);

}  // namespace dv
