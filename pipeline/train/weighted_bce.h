// weighted_bce.h: the paper's labels and loss. Labels: an fc1 neuron is positive iff its ReLU
// output was > 0; a head is positive iff it is among the top floor(fraction * heads) output norms of
// its token. Loss: binary cross-entropy where positives weigh 1 and negatives weigh
// w = (positives / elements in the batch) + offset, which pushes the predictor towards recall
// (a missed active neuron costs far more than a spurious one; trainer_mlp.py, trainer_att.py).
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

namespace dv {

// bits: [n, ceil(ffn/8)] uint8 in the store's little bit order -> [n, ffn] float32 of 0/1, same device.
at::Tensor unpack_active_labels(const at::Tensor& bits, int64_t ffn);

// floor(fraction * heads) with a floor of 1 (trainer_att.py's int(heads * k)).
int64_t att_label_count(double fraction, int64_t heads);
// head_norm: [n, H] -> [n, H] float32 with 1 at each row's k largest norms.
at::Tensor top_head_labels(const at::Tensor& head_norm, int64_t k);

// Per-element weights labels * (1 - w) + w with w = mean(labels) + negative_offset (a 0-d tensor).
at::Tensor bce_weights(const at::Tensor& labels, double negative_offset);
// Mean over all elements of bce_weights * BCE(sigmoid(logits), labels), computed from the logits
// (numerically stable; the same value as the reference's binary_cross_entropy on probabilities).
at::Tensor weighted_bce_loss(const at::Tensor& logits, const at::Tensor& labels, double negative_offset);

}  // namespace dv
