// sparse_qkv_pack.cpp: HF q/k/v_proj -> [H][3][head_dim][d] (see sparse_qkv_pack.h).
#include "kernels/sparse_qkv/sparse_qkv_pack.h"

#include <algorithm>

#include "kernels/common/error.h"
#include "kernels/sparse_qkv/sparse_qkv.cuh"

namespace dv {

void pack_qkv_weights(const QkvPackArgs& a) {
  DV_CHECK(sparse_qkv_supports_head_dim(a.head_dim), "pack_qkv_weights: head_dim {} unsupported", a.head_dim);
  DV_CHECK(a.num_heads > 0, "pack_qkv_weights: num_heads = {} must be positive", a.num_heads);
  DV_CHECK(a.w_qkv && a.b_qkv && a.wq && a.wk && a.wv && a.bq && a.bk && a.bv,
           "pack_qkv_weights: every weight and bias array must be given");
  const size_t d = static_cast<size_t>(a.num_heads) * a.head_dim;
  const __half* w[3] = {a.wq, a.wk, a.wv};
  const __half* b[3] = {a.bq, a.bk, a.bv};
  for (int h = 0; h < a.num_heads; ++h)
    for (int p = 0; p < 3; ++p) {
      const size_t src_row = static_cast<size_t>(h) * a.head_dim;
      const size_t dst_row = (static_cast<size_t>(h) * 3 + p) * a.head_dim;
      std::copy(w[p] + src_row * d, w[p] + (src_row + a.head_dim) * d, a.w_qkv + dst_row * d);
      std::copy(b[p] + src_row, b[p] + src_row + a.head_dim, a.b_qkv + dst_row);
    }
}

}  // namespace dv
