// causal_softmax.cuh: the masked softmax between the prefill's two attention GEMMs (cuBLAS strided-batched
// Q K^T and P V): row r of `scores` holds one query's fp32 scores against k_len keys; query i = r % q_len (its
// rows follow the queries of one head, heads follow each other) sees keys j <= i + (k_len - q_len), the rest
// of its row in `probs` is written 0 so that the P V GEMM can run over the full square.
//   probs[r, j] = exp(scale * s[r, j] - m) / sum_{j' visible} exp(scale * s[r, j'] - m),  m = the visible max,
// in fp32, rounded once to fp16. One block per row; the row is read from L2 three times (max, sum, write),
// which at prefill sizes (k_len <= 2048: 8 KB a row) costs less than the GEMMs around it.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

namespace dv {

struct CausalSoftmaxArgs {
  __half* probs = nullptr;         // [rows, ld] fp16 output
  const float* scores = nullptr;   // [rows, ld] fp32 input
  int rows = 0;                    // batch * heads * q_len; 0 launches nothing
  int q_len = 0;                   // queries per head (rows are grouped by head)
  int k_len = 0;                   // keys per row, k_len >= q_len (the last q_len keys are the queries')
  int ld = 0;                      // row stride of both buffers, >= k_len
  float scale = 1.f;               // applied to the scores before the softmax
};

void launch_causal_softmax(const CausalSoftmaxArgs& args, cudaStream_t stream);

}  // namespace dv
