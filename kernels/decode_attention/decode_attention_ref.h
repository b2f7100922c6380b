// decode_attention_ref.h: plain C++ reference of launch_decode_attention (host pointers in the same Args;
// partials, tickets and max_splits are ignored). Double-precision softmax. Also the CPU path.
#pragma once

#include "kernels/decode_attention/decode_attention.cuh"

namespace dv {

void decode_attention_ref(const DecodeAttentionArgs& args);

}  // namespace dv
