// tp_bench.h: one rank's part of `dejavu bench --tp N`: per-token decode latency of the tensor-parallel engine
// (tp_engine.h), dense vs sparse, after a dense prompt, on random weights of built-in shapes (each rank draws
// its own slice on its GPU) or a checkpoint (each rank maps its slice). Per configuration:
//   - the step time with the all-reduces, and again with them switched off (recaptured): their share of a
//     step is 1 - without / with;
//   - every rank's median (NCCL sums / maxima of the ranks' figures): slowest rank / mean rank;
//   - the weight-bytes floor of one rank (its slice of the layers plus the replicated embedding and LM head,
//     bench_bytes.h) over the copy bandwidth measured on its GPU, and the fraction of it reached;
//   - per-rank selection counts (top-k = density x the local count: equal on every rank by construction);
//   - the largest logit difference between ranks (0 when every rank computed the same logits).
// Every rank runs the same steps in the same order (the collectives need it); rank 0 returns the rows.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/cuda/decode_bench.h"
#include "engine/tp/nccl_comm.h"

namespace dv {

struct TpBenchOptions {
  std::vector<std::string> shapes = {"opt-66b"};
  std::string model_dir;    // a checkpoint instead of the random shapes
  double mlp_density = 0.1;
  double head_density = 0.5;
  bool predictors = true;   // also random low-rank predictors (ranks below), each rank's rows of them
  int rank_mlp = 1000, rank_att = 512;
  int prompt_len = 128, warmup = 5, iters = 40;
  int max_layers = 0;       // 0: every layer that fits next to the buffers
  double reserve_gib = 4;
  bool use_graph = true;
  uint64_t seed = 1;
};

struct TpBenchRow {
  engine::BenchRow row;     // rank 0's timing, bytes and floor (per rank: its slice)
  int world = 1;
  double no_reduce_ms = 0;  // median step with the all-reduces off
  double all_reduce_share = 0;
  double max_rank_ms = 0, mean_rank_ms = 0;  // over the ranks' medians
  double logits_spread = 0;
  int mlp_kept_max = 0, heads_kept_max = 0;  // per rank, max over ranks (mean: row.mlp_kept)
};

struct TpBenchReport {
  std::string device;
  int world = 1;
  double copy_gbps = 0;  // rank 0's GPU
  std::vector<TpBenchRow> rows;
  std::vector<std::string> notes;
};

// Collective over the ranks of `env` (every rank calls it); on_row is called on rank 0 as rows complete.
TpBenchReport run_tp_bench(const TpRankEnv& env, const TpBenchOptions& options,
                           const std::function<void(const TpBenchRow&)>& on_row);

}  // namespace dv
