// int8_rows.h: symmetric per-row int8 quantization of a weight matrix, the predictors' int8 format (the
// CUDA engine's int8 predictor weights, and measure / eval simulating them on the CPU). The rule is
// kernels/lowrank_predictor's quantize_rows_int8_ref, in LibTorch on any device:
//   scale[i] = max_j |w[i, j]| / 127,  q[i, j] = round-half-even(w[i, j] / scale[i]) in [-127, 127],
// an all-zero row giving scale 0 and q 0.
#pragma once

#include <ATen/ATen.h>

namespace dv::engine {

struct Int8Rows {
  at::Tensor q;      // int8 [rows, cols], on w's device
  at::Tensor scale;  // fp32 [rows]
};

// w: [rows, cols], any floating dtype (computed in fp32).
Int8Rows quantize_rows_int8(const at::Tensor& w);

// scale[i] * q[i, :] in fp32: the matrix the int8 kernels multiply by.
at::Tensor dequantize_rows_int8(const Int8Rows& rows);

}  // namespace dv::engine
