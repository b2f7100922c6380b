// tp_balance.h: how a Deja Vu selection falls on tensor-parallel ranks, measurable without several GPUs.
// A layer's units (fc1 neurons or heads) are split into N equal contiguous slices (tp_partition.h). If the
// model's top-k were kept as one global selection, rank r would run c_r of them and the step would wait for
// the busiest rank: the slowest-rank cost of a token is max_r c_r / mean_r c_r (1 = perfectly even, N = all
// on one rank). The sharded engine instead keeps top-(k/N) within each rank (even by construction); what that
// costs is the part of the global top-k it misses, weighted by score: recall = sum of the global top-k's
// scores the per-rank top-k also keeps / sum of the global top-k's scores.
// Only units with a score > 0 count as selected: in OPT most fc1 neurons are silent for a token (ReLU 0), and
// a top-k larger than the active set would otherwise fill up with ties broken by index, not by the model.
// Rows without any active selected unit are left out.
#pragma once

#include <ATen/ATen.h>

namespace dv {

struct TpBalance {
  int world = 1;
  int n = 0, k = 0;           // units per layer, kept by the global top-k
  int64_t rows = 0;           // tokens (x layers) measured (with an active unit selected)
  double mean_cost = 0;       // mean over rows of max_r c_r / (k / N)
  double p90_cost = 0, max_cost = 0;
  double mean_recall = 0;     // score-weighted: per-rank top-kept_count(k/n, n/N) against the global top-k
  double mean_active = 0;     // active units among the global top-k, mean over rows
};

// scores: [rows, n] (fp32; higher = more important: post-ReLU fc1 values, head output norms); k in [1, n];
// n % world == 0. dv::Error otherwise.
TpBalance tp_selection_balance(const at::Tensor& scores, int k, int world);

}  // namespace dv
