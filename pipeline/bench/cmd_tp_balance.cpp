// cmd_tp_balance.cpp: `dejavu tp-balance`: how Deja Vu's selections would fall on tensor-parallel ranks, from
// real per-token selections on the CPU (engine/tp/tp_balance.h). The model runs dense over windows of a text;
// each token's oracle selection is the top-k of its post-ReLU fc1 values (MLP) and of its heads' output norms
// (attention), as the predictors are trained to reproduce. For N = 2, 4, 8 (where the units split): the
// slowest-rank cost of one global top-k (max over ranks / mean) and the recall of the engine's per-rank top-k.
// Writes tp_balance.json and tp_balance.csv (one schema, atomically) to --out.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "engine/io/progress.h"
#include "engine/tp/tp_balance.h"
#include "kernels/common/error.h"
#include "kernels/common/sparsity_rule.h"
#include "pipeline/cli/commands.h"
#include "pipeline/cli/model_options.h"
#include "pipeline/report/result_table.h"

namespace dv::cli {
namespace {

// tp_balance.csv and .json's rows: one block (mlp, heads) at one world size (pipeline/report/result_table.h).
struct TpBalanceRow {
  std::string block;
  int world = 0, n = 0, k = 0;
  double density = 0;
  int64_t rows = 0;
  double mean_active = 0, mean_cost = 0, p90_cost = 0, max_cost = 0, per_rank_recall = 0;
};
DV_RESULT_ROW(TpBalanceRow, block, world, n, k, density, rows, mean_active, mean_cost, p90_cost, max_cost,
              per_rank_recall)

struct TpBalanceArgs {
  ModelOptions model;
  std::string text;
  std::string out = "runs/tp_balance";
  std::vector<int> worlds = {2, 4, 8};
  double mlp_density = 0.1, head_density = 0.5;
  int seq_len = 128, windows = 8;
};

void run_tp_balance(const TpBalanceArgs& a) {
  DV_CHECK(a.seq_len >= 1 && a.windows >= 1, "tp-balance: --seq-len and --windows must be >= 1");
  for (const auto& [name, v] :
       {std::make_pair("--mlp-density", a.mlp_density), std::make_pair("--head-density", a.head_density)})
    DV_CHECK(v > 0 && v <= 1, "tp-balance: {} {} outside (0, 1]", name, v);
  for (int w : a.worlds) DV_CHECK(w >= 1, "tp-balance: --worlds {} must be >= 1", w);
  LoadedModel m = load_model(a.model);
  const OptConfig& c = m.model->config();
  const std::vector<int32_t> ids = m.tokenizer->encode(read_small_file(a.text), false);
  const int64_t windows = std::min<int64_t>(a.windows, static_cast<int64_t>(ids.size()) / a.seq_len);
  DV_CHECK(windows >= 1, "{}: {} tokens, fewer than one window of --seq-len {}", a.text, ids.size(), a.seq_len);
  // Scores of every token and layer: [windows * T * L, n] per block.
  std::vector<at::Tensor> mlp_scores, head_scores;
  ForwardHooks hooks;
  hooks.on_layer = [&](const LayerActivations& act) {
    mlp_scores.push_back(act.fc1_act.reshape({-1, act.fc1_act.size(-1)}).to(at::kCPU, at::kFloat));
    head_scores.push_back(act.head_out.to(at::kFloat).norm(2, {-1}).reshape({-1, act.head_out.size(2)}).to(at::kCPU));
  };
  Progress progress("tp-balance windows", windows, "win");
  for (int64_t w = 0; w < windows; ++w) {
    std::vector<int64_t> win(ids.begin() + w * a.seq_len, ids.begin() + (w + 1) * a.seq_len);
    const at::Tensor x = at::tensor(win, at::kLong).view({1, a.seq_len}).to(m.model->device());
    c10::InferenceMode inference_mode;
    (void)m.model->forward(x, nullptr, &hooks);
    progress.update(w + 1);
  }
  progress.finish();
  const at::Tensor mlp = at::cat(mlp_scores), heads = at::cat(head_scores);
  std::vector<TpBalanceRow> rows;
  std::printf("tp-balance: %s, %lld tokens x %lld layers; cost = busiest rank / mean rank under one global top-k\n",
              c.name.c_str(), static_cast<long long>(windows * a.seq_len), static_cast<long long>(c.num_hidden_layers));
  for (const auto& [block, scores, density] : {std::make_tuple(std::string("mlp"), mlp, a.mlp_density),
                                               std::make_tuple(std::string("heads"), heads, a.head_density)}) {
    const int n = static_cast<int>(scores.size(1));
    const int k = static_cast<int>(kept_count(density, n));  // the one rule (sparsity_rule.h)
    for (int world : a.worlds) {
      if (n % world != 0) {
        std::printf("  %-5s N=%d: skipped, %d units do not split over %d ranks\n", block.c_str(), world, n, world);
        continue;
      }
      const TpBalance b = tp_selection_balance(scores, k, world);
      std::printf("  %-5s N=%d: k=%d of %d (%.1f active), slowest-rank cost mean %.3f p90 %.3f max %.3f; per-rank "
                  "top-k recall (score-weighted) %.3f\n",
                  block.c_str(), world, k, n, b.mean_active, b.mean_cost, b.p90_cost, b.max_cost, b.mean_recall);
      rows.push_back({block, world, n, k, density, b.rows, b.mean_active, b.mean_cost, b.p90_cost, b.max_cost,
                      b.mean_recall});
    }
  }
  const nlohmann::json doc = {{"model", a.model.model_dir}, {"text", a.text}, {"selection", "oracle top-k"},
                              {"seq_len", a.seq_len}, {"windows", windows}};
  write_result_table(a.out, "tp_balance", rows, doc, "rows");
  std::printf("tp-balance: results in %s (tp_balance.json, tp_balance.csv)\n", a.out.c_str());
}

}  // namespace

void add_tp_balance_command(CLI::App& app) {
  auto a = std::make_shared<TpBalanceArgs>();
  CLI::App* cmd = app.add_subcommand(
      "tp-balance", "How oracle selections spread over tensor-parallel ranks (slowest-rank cost, per-rank recall; CPU)");
  add_model_options(cmd, a->model);
  cmd->add_option("--text", a->text, "UTF-8 text whose tokens are run (e.g. WikiText-2 valid.txt)")->required();
  cmd->add_option("--out", a->out, "output directory")->capture_default_str();
  cmd->add_option("--worlds", a->worlds, "tensor-parallel sizes")->capture_default_str()->delimiter(',');
  cmd->add_option("--mlp-density", a->mlp_density, "fraction of fc1 neurons kept")->capture_default_str();
  cmd->add_option("--head-density", a->head_density, "fraction of heads kept")->capture_default_str();
  cmd->add_option("--seq-len", a->seq_len, "tokens per window")->capture_default_str()->check(kPositive);
  cmd->add_option("--windows", a->windows, "windows of the text run")->capture_default_str()->check(kPositive);
  cmd->callback([a] { run_tp_balance(*a); });
}

}  // namespace dv::cli
