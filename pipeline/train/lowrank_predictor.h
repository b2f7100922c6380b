// lowrank_predictor.h: Deja Vu's sparsity predictor: two bias-free linear maps d -> rank -> n,
// logits = (x w1^T) w2^T, one sigmoid per neuron (n = ffn) or head (n = heads). The composite is a
// rank-limited linear map; the factorisation is what makes it cheap (d*rank + rank*n multiply-adds
// per token instead of d*n). Weights are kept in fp32 for training and saving; eval may cast them.
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

namespace dv {

class LowRankPredictor {
 public:
  LowRankPredictor() = default;  // empty(): no predictor (a layer that was not trained)
  // w1: [rank, d], w2: [n, rank], same dtype and device; dv::Error on inconsistent shapes.
  LowRankPredictor(at::Tensor w1, at::Tensor w2);
  // torch.nn.Linear's default initialisation (uniform in +-1/sqrt(fan_in)), the paper's starting
  // point, drawn on the CPU from `seed` so that a layer's initial weights do not depend on the device.
  static LowRankPredictor init(int64_t d, int64_t rank, int64_t n, uint64_t seed);

  bool empty() const { return !w1_.defined(); }
  int64_t in_dim() const { return w1_.size(1); }
  int64_t rank() const { return w1_.size(0); }
  int64_t out_dim() const { return w2_.size(0); }
  const at::Tensor& w1() const { return w1_; }
  const at::Tensor& w2() const { return w2_; }

  // x: [..., d] of any floating dtype on the weights' device -> logits [..., n] in the weights' dtype.
  at::Tensor logits(const at::Tensor& x) const;
  LowRankPredictor to(at::Device device, at::ScalarType dtype) const;
  LowRankPredictor clone() const;

 private:
  at::Tensor w1_;  // [rank, d]
  at::Tensor w2_;  // [n, rank]
};

}  // namespace dv
