// cmd_eval.cpp: `dejavu eval`: perplexity dense vs oracle-sparse vs predictor-sparse over a density
// sweep (the accuracy stage; on CPU the sparsity is applied with masks in LibTorch).
#include "pipeline/cli/commands.h"

#include <algorithm>
#include <memory>

#include <nlohmann/json.hpp>

#include "engine/tokenizer/encode_file.h"
#include "pipeline/cli/model_options.h"
#include "pipeline/stages/eval_stage.h"
#include "pipeline/stages/predicted_scorers.h"

namespace dv::cli {

namespace {
struct EvalArgs {
  ModelOptions model;
  std::string text;
  std::string out;
  std::string predictors;
  int64_t max_tokens = 8192;
  int64_t seq_len = 0;
  int64_t batch = 1;
  EvalSweep sweep;
};

void run_eval(const EvalArgs& a) {
  LoadedModel m = load_model(a.model);
  const std::vector<int32_t> ids =
      encode_text_file(*m.tokenizer, a.text, /*add_bos=*/true, static_cast<size_t>(std::max<int64_t>(0, a.max_tokens)));
  EvalSweep sweep = a.sweep;
  Scorers scorers;
  if (!a.predictors.empty()) {
    scorers = load_predicted_scorers(a.predictors, *m.model);
  } else {
    sweep.modes.erase(std::remove(sweep.modes.begin(), sweep.modes.end(), "predicted"), sweep.modes.end());
  }
  PerplexityOptions ppl;
  ppl.seq_len = a.seq_len;
  ppl.batch = a.batch;
  const auto points = run_eval_sweep(*m.model, ids, ppl, sweep, scorers);
  nlohmann::json context = {{"model", a.model.model_dir}, {"text", a.text},        {"predictors", a.predictors},
                            {"device", a.model.device},   {"dtype", a.model.dtype}, {"max_tokens", a.max_tokens},
                            {"seq_len", points.empty() ? 0 : points[0].ppl.seq_len}};
  write_eval_results(a.out, points, context.dump());
  std::printf("eval: %zu points written to %s/eval.csv\n", points.size(), a.out.c_str());
}
}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "Perplexity dense vs oracle vs predicted sparsity over a density sweep");
  add_model_options(cmd, a->model);
  cmd->add_option("--text", a->text, "UTF-8 text file to score")->required();
  cmd->add_option("--out", a->out, "output directory (eval.csv, eval.json, eval.png)")->required();
  cmd->add_option("--predictors", a->predictors, "predictor directory from `dejavu train` (enables 'predicted')");
  cmd->add_option("--max-tokens", a->max_tokens, "score the first N tokens (0 = all)")->capture_default_str();
  cmd->add_option("--seq-len", a->seq_len, "window length (0 = max_position_embeddings, capped at 2048)")
      ->capture_default_str();
  cmd->add_option("--batch", a->batch, "windows scored together")->capture_default_str();
  cmd->add_option("--modes", a->sweep.modes, "dense, oracle, predicted")->capture_default_str()->delimiter(',');
  cmd->add_option("--targets", a->sweep.targets, "mlp, heads, both")->capture_default_str()->delimiter(',');
  cmd->add_option("--mlp-densities", a->sweep.mlp_densities, "fractions of fc1 neurons kept")
      ->capture_default_str()->delimiter(',');
  cmd->add_option("--head-densities", a->sweep.head_densities, "fractions of heads kept")
      ->capture_default_str()->delimiter(',');
  cmd->callback([a] { run_eval(*a); });
}

}  // namespace dv::cli
