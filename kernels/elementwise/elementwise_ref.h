// elementwise_ref.h: plain C++ references of the ops in elementwise.cuh (host pointers in the same Args).
// Sums in fp32, rounded once to fp16 like the kernels; out-of-range ids give NaN rows like the kernels.
// Also the CPU path for fp16 tensors.
#pragma once

#include "kernels/elementwise/elementwise.cuh"

namespace dv {

void bias_relu_ref(const BiasReluArgs& args);
void bias_residual_ref(const BiasResidualArgs& args);
void embedding_ref(const EmbeddingArgs& args);
void position_add_ref(const PositionAddArgs& args);

}  // namespace dv
