// selection.cpp: top-k and threshold masks over the last dimension.
#include "pipeline/predictors/selection.h"

#include <algorithm>
#include <cmath>

#include "kernels/common/error.h"

namespace dv {

int64_t topk_count(double fraction, int64_t n) {
  DV_CHECK(fraction > 0 && fraction <= 1, "top-k fraction {} is outside (0, 1]", fraction);
  const auto k = static_cast<int64_t>(std::ceil(fraction * static_cast<double>(n) - 1e-9));
  return std::clamp<int64_t>(k, 1, n);
}

at::Tensor select_topk(const at::Tensor& logits, int64_t k) {
  const int64_t n = logits.size(-1);
  DV_CHECK(k >= 0 && k <= n, "select_topk: k = {} is outside [0, {}]", k, n);
  at::Tensor mask = at::zeros_like(logits);
  if (k == 0) return mask;
  if (k == n) return mask.fill_(1);
  const at::Tensor idx = std::get<1>(at::topk(logits, k, /*dim=*/-1, /*largest=*/true, /*sorted=*/false));
  return mask.scatter_(-1, idx, 1.0);
}

at::Tensor select_threshold(const at::Tensor& logits, double probability) {
  DV_CHECK(probability > 0 && probability < 1, "select_threshold: probability {} is outside (0, 1)", probability);
  // sigmoid(z) >= p  <=>  z >= log(p / (1 - p)); comparing logits avoids a sigmoid over [.., n].
  const double cut = std::log(probability / (1.0 - probability));
  return at::ge(logits, cut).to(logits.scalar_type());
}

}  // namespace dv
