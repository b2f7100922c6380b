// weighted_bce.cpp: label construction and the imbalance-weighted BCE.
#include "pipeline/train/weighted_bce.h"

#include <algorithm>
#include <cmath>

#include "kernels/common/error.h"

namespace dv {

at::Tensor unpack_active_labels(const at::Tensor& bits, int64_t ffn) {
  DV_CHECK(bits.dim() == 2 && bits.scalar_type() == at::kByte && bits.size(1) == (ffn + 7) / 8,
           "unpack_active_labels: expected uint8 [n, {}], got {} of {} dims", (ffn + 7) / 8,
           c10::toString(bits.scalar_type()), bits.dim());
  // Bit j % 8 of byte j / 8 is neuron j: AND every byte with 1, 2, 4, ..., 128 and flatten.
  const at::Tensor masks = at::tensor({1, 2, 4, 8, 16, 32, 64, 128}, at::TensorOptions(at::kByte)).to(bits.device());
  const at::Tensor set = at::ne(at::bitwise_and(bits.unsqueeze(-1), masks), 0);
  return set.reshape({bits.size(0), bits.size(1) * 8}).narrow(1, 0, ffn).to(at::kFloat);
}

int64_t att_label_count(double fraction, int64_t heads) {
  const auto k = static_cast<int64_t>(std::floor(fraction * static_cast<double>(heads) + 1e-9));
  return std::clamp<int64_t>(k, 1, heads);
}

at::Tensor top_head_labels(const at::Tensor& head_norm, int64_t k) {
  DV_CHECK(head_norm.dim() == 2 && k >= 1 && k <= head_norm.size(1), "top_head_labels: k = {} for [n, {}] norms", k,
           head_norm.size(-1));
  const at::Tensor idx = std::get<1>(at::topk(head_norm, k, /*dim=*/1, /*largest=*/true, /*sorted=*/false));
  return at::zeros(head_norm.sizes(), head_norm.options().dtype(at::kFloat)).scatter_(1, idx, 1.0);
}

at::Tensor bce_weights(const at::Tensor& labels, double negative_offset) {
  const at::Tensor w = labels.mean() + negative_offset;
  return labels * (1 - w) + w;
}

at::Tensor weighted_bce_loss(const at::Tensor& logits, const at::Tensor& labels, double negative_offset) {
  return at::binary_cross_entropy_with_logits(logits, labels, bce_weights(labels, negative_offset), /*pos_weight=*/{},
                                              at::Reduction::Mean);
}

}  // namespace dv
