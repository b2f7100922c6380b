// lowrank_predictor.cpp: construction, initialisation and the forward of the low-rank predictor.
#include "pipeline/train/lowrank_predictor.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <utility>

#include "kernels/common/error.h"

namespace dv {

LowRankPredictor::LowRankPredictor(at::Tensor w1, at::Tensor w2) : w1_(std::move(w1)), w2_(std::move(w2)) {
  DV_CHECK(w1_.defined() && w2_.defined() && w1_.dim() == 2 && w2_.dim() == 2,
           "low-rank predictor: w1 and w2 must be 2-D tensors");
  DV_CHECK(w2_.size(1) == w1_.size(0), "low-rank predictor: w1 is [{}, {}] but w2 is [{}, {}] (w2's columns must equal w1's rows)",
           w1_.size(0), w1_.size(1), w2_.size(0), w2_.size(1));
  DV_CHECK(w1_.scalar_type() == w2_.scalar_type() && w1_.device() == w2_.device(),
           "low-rank predictor: w1 and w2 differ in dtype or device");
}

LowRankPredictor LowRankPredictor::init(int64_t d, int64_t rank, int64_t n, uint64_t seed) {
  DV_CHECK(d > 0 && rank > 0 && n > 0, "low-rank predictor: sizes must be positive (d={}, rank={}, n={})", d, rank, n);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const double b1 = 1.0 / std::sqrt(static_cast<double>(d));
  const double b2 = 1.0 / std::sqrt(static_cast<double>(rank));
  at::Tensor w1 = at::empty({rank, d}, at::kFloat).uniform_(-b1, b1, gen);
  at::Tensor w2 = at::empty({n, rank}, at::kFloat).uniform_(-b2, b2, gen);
  return LowRankPredictor(std::move(w1), std::move(w2));
}

at::Tensor LowRankPredictor::logits(const at::Tensor& x) const {
  DV_CHECK(!empty(), "low-rank predictor: logits() of an empty predictor");
  DV_CHECK(x.size(-1) == in_dim(), "low-rank predictor: input has {} features, the predictor expects d = {}",
           x.size(-1), in_dim());
  const at::Tensor h = at::matmul(x.to(w1_.scalar_type()), w1_.t());
  return at::matmul(h, w2_.t());
}

LowRankPredictor LowRankPredictor::to(at::Device device, at::ScalarType dtype) const {
  if (empty()) return {};
  return LowRankPredictor(w1_.to(device, dtype), w2_.to(device, dtype));
}

LowRankPredictor LowRankPredictor::clone() const {
  if (empty()) return {};
  return LowRankPredictor(w1_.clone(), w2_.clone());
}

}  // namespace dv
