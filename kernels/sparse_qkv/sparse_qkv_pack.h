// sparse_qkv_pack.h: repacks Hugging Face OPT's separate q_proj/k_proj/v_proj weights and biases into the
// per-head contiguous layout that launch_sparse_qkv streams (see sparse_qkv.cuh). Host arrays; done once at
// load, before the upload.
#pragma once

#include <cuda_fp16.h>

namespace dv {

struct QkvPackArgs {
  __half* w_qkv = nullptr;     // out [H, 3, head_dim, d]
  __half* b_qkv = nullptr;     // out [H, 3, head_dim]
  const __half* wq = nullptr;  // [d, d] HF q_proj.weight (out features x in features)
  const __half* wk = nullptr;  // [d, d]
  const __half* wv = nullptr;  // [d, d]
  const __half* bq = nullptr;  // [d]
  const __half* bk = nullptr;  // [d]
  const __half* bv = nullptr;  // [d]
  int num_heads = 0;
  int head_dim = 0;  // sparse_qkv_supports_head_dim()
};

// Throws dv::Error on an unsupported head_dim or missing arrays.
void pack_qkv_weights(const QkvPackArgs& args);

}  // namespace dv
