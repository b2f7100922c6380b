// activity_check.cpp: see activity_check.h.
#include "pipeline/store/activity_check.h"

#include <algorithm>

#include <fmt/format.h>

#include "pipeline/store/bit_pack.h"

namespace dv {

std::vector<double> fc1_active_fractions(const ActivationReader& store, int64_t max_rows) {
  const StoreShape& shape = store.shape();
  const int64_t n = std::min(store.rows(), max_rows);
  if (n == 0 || !shape.has_field(LayerField::kFc1Active) || shape.ffn_dim == 0) return {};
  std::vector<double> out;
  std::vector<uint8_t> packed(static_cast<size_t>(n * shape.fc1_packed_bytes()));
  for (int64_t l = 0; l < shape.n_layers; ++l) {
    store.read_rows(l, LayerField::kFc1Active, 0, n, packed.data());
    out.push_back(static_cast<double>(count_active(packed.data(), n, shape.ffn_dim)) /
                  static_cast<double>(n * shape.ffn_dim));
  }
  return out;
}

std::string untrained_weights_warning(const std::vector<double>& active_per_layer, const std::string& what) {
  if (active_per_layer.empty()) return "";
  const auto [lo, hi] = std::minmax_element(active_per_layer.begin(), active_per_layer.end());
  if (*lo < 0.4 || *hi > 0.6) return "";
  double sum = 0;
  for (double a : active_per_layer) sum += a;
  return fmt::format("{}: the MLP is about 50% active in every layer ({:.0f}% on average): weights that were not "
                     "trained (e.g. random) have no contextual sparsity, so predictors and sparse eval cannot gain "
                     "here",
                     what, 100 * sum / static_cast<double>(active_per_layer.size()));
}

}  // namespace dv
