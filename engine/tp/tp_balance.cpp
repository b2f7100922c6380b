// tp_balance.cpp: per-rank counts of the global top-k and the recall of per-rank top-k (see tp_balance.h).
#include "engine/tp/tp_balance.h"

#include <algorithm>
#include <cmath>

#include "kernels/common/error.h"

namespace dv {

TpBalance tp_selection_balance(const at::Tensor& scores, int k, int world) {
  DV_CHECK(scores.dim() == 2 && scores.size(0) >= 1, "tp balance: scores must be [rows >= 1, n]");
  const int n = static_cast<int>(scores.size(1));
  DV_CHECK(world >= 1 && n % world == 0, "tp balance: {} units do not split over {} ranks", n, world);
  DV_CHECK(k >= 1 && k <= n, "tp balance: k = {} outside [1, {}]", k, n);
  const at::Tensor s = scores.to(at::kFloat).contiguous();
  const int64_t rows = s.size(0), local = n / world;
  const auto [gscore, global] = s.topk(k, 1);  // [rows, k]
  const at::Tensor active = (gscore > 0).to(at::kFloat);
  const at::Tensor counts = at::zeros({rows, world}, at::kFloat).scatter_add_(1, at::floor_divide(global, local), active);
  const at::Tensor total = counts.sum(1);
  const at::Tensor used = total > 0;
  DV_CHECK(used.any().item<bool>(), "tp balance: no row has an active (score > 0) unit selected");
  const at::Tensor cost = (std::get<0>(counts.max(1)) / (total / world)).index({used});  // [used rows]
  // The engine's rule per rank: kept_count(density, local) = ceil(density * local) clamped to [1, local].
  const int k_local = std::clamp(static_cast<int>(std::ceil(static_cast<double>(k) / n * local - 1e-9)), 1,
                                 static_cast<int>(local));
  const at::Tensor per_rank = std::get<1>(s.view({rows, world, local}).topk(k_local, 2)) +
                              at::arange(world, at::kLong).view({1, world, 1}) * local;  // global ids
  at::Tensor kept = at::zeros({rows, n}, at::kBool);
  kept.scatter_(1, per_rank.view({rows, world * k_local}), true);
  const at::Tensor pos = gscore.clamp_min(0);
  const at::Tensor hit = ((kept.gather(1, global).to(at::kFloat) * pos).sum(1) / pos.sum(1)).index({used});
  TpBalance b;
  b.world = world;
  b.n = n;
  b.k = k;
  b.rows = cost.size(0);
  b.mean_active = total.index({used}).mean().item<double>();
  const at::Tensor sorted = std::get<0>(cost.sort());
  b.mean_cost = cost.mean().item<double>();
  b.p90_cost = sorted[std::min<int64_t>(b.rows - 1, static_cast<int64_t>(0.9 * (b.rows - 1) + 0.5))].item<double>();
  b.max_cost = sorted[b.rows - 1].item<double>();
  b.mean_recall = hit.mean().item<double>();
  return b;
}

}  // namespace dv
