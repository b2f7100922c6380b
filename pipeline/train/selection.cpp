// selection.cpp: top-k and threshold masks over the last dimension.
#include "pipeline/train/selection.h"

#include "kernels/common/error.h"

namespace dv {

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
  return at::ge(logits, threshold_logit(probability)).to(logits.scalar_type());
}

}  // namespace dv
