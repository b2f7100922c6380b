// sparse_mlp_up.cu: host launch of the gathered fc1 + bias + ReLU kernel (device code in row_dot.cuh).
#include "kernels/sparse_mlp_up/sparse_mlp_up.cuh"

#include <cstdint>

#include "kernels/common/cuda_check.h"
#include "kernels/sparse_mlp_up/row_dot.cuh"

namespace dv::kernels {
namespace {

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

}  // namespace

void launch_sparse_mlp_up(const SparseMlpUpArgs& a, cudaStream_t stream) {
  DV_CHECK(a.B >= 1 && a.B <= 32, "sparse_mlp_up: batch B = {} outside 1..32", a.B);
  DV_CHECK(a.d > 0 && a.d % 8 == 0, "sparse_mlp_up: d = {} must be a positive multiple of 8 (16-byte rows)", a.d);
  DV_CHECK(a.max_k >= 0 && a.ld_h >= a.max_k, "sparse_mlp_up: need 0 <= max_k ({}) <= ld_h ({})", a.max_k, a.ld_h);
  DV_CHECK(a.h != nullptr && a.x != nullptr && a.w1 != nullptr && a.idx != nullptr,
           "sparse_mlp_up: h, x, w1 and idx must be device pointers, got a null one");
  DV_CHECK(aligned16(a.x) && aligned16(a.w1), "sparse_mlp_up: x and w1 must be 16-byte aligned");
  DV_CHECK((a.ln_gamma == nullptr) == (a.ln_beta == nullptr),
           "sparse_mlp_up: ln_gamma and ln_beta must both be set (the fused layer norm) or both be null");
  DV_CHECK(a.ln_gamma == nullptr || (aligned16(a.ln_gamma) && aligned16(a.ln_beta)),
           "sparse_mlp_up: ln_gamma and ln_beta must be 16-byte aligned");
  DV_CHECK(a.ln_row_partials == nullptr ||
               (a.ln_gamma != nullptr && a.ln_partial_blocks >= 1 &&
                reinterpret_cast<std::uintptr_t>(a.ln_row_partials) % 8 == 0),
           "sparse_mlp_up: ln_row_partials needs ln_gamma, ln_partial_blocks >= 1 (is {}) and 8-byte alignment",
           a.ln_partial_blocks);
  if (a.max_k == 0) return;
  RowDotProblem p;
  p.w = a.w1;
  p.idx = a.idx;
  p.k_dev = a.k_dev;
  p.x = a.x;
  p.max_rows = a.max_k;
  p.B = a.B;
  p.d = a.d;
  p.ln_gamma = a.ln_gamma;
  p.ln_beta = a.ln_beta;
  p.ln_eps = a.ln_eps;
  p.ln_row_partials = a.ln_row_partials;
  p.ln_partial_blocks = a.ln_partial_blocks;
  check_l2_warmup(a.warm_next, "sparse_mlp_up");
  p.warm = a.warm_next;
  p.warm_blocks = l2_warmup_units(a.warm_next, a.warm_sms);
  HalfRowEpilogue ep;
  ep.out = a.h;
  ep.ld = a.ld_h;
  ep.bias = a.b1;
  ep.idx = a.idx;
  ep.relu = true;
  if (a.ln_gamma != nullptr && a.pipelined) {
    launch_row_dot<false, true, true>(p, ep, stream);
  } else if (a.ln_gamma != nullptr) {
    launch_row_dot<false, true>(p, ep, stream);
  } else if (a.pipelined) {
    launch_row_dot<false, false, true>(p, ep, stream);
  } else {
    launch_row_dot(p, ep, stream);
  }
  DV_CUDA_LAUNCH_CHECK("sparse_mlp_up");
}

}  // namespace dv::kernels
