// cmd_eval.cpp: `dejavu eval`: perplexity dense vs oracle-sparse vs predictor-sparse over a density
// sweep (the accuracy stage; on CPU the sparsity is applied with masks in LibTorch).
#include <cstdio>
#include <memory>

#include "pipeline/cli/commands.h"
#include "pipeline/cli/model_options.h"
#include "pipeline/stages/eval_stage.h"

namespace dv::cli {

void add_eval_command(CLI::App& app) {
  struct Args {
    ModelOptions model;
    EvalRunOptions eval;
  };
  auto a = std::make_shared<Args>();
  EvalRunOptions& e = a->eval;
  CLI::App* cmd = app.add_subcommand("eval", "Perplexity dense vs oracle vs predicted sparsity over a density sweep");
  add_model_options(cmd, a->model);
  cmd->add_option("--text", e.text, "UTF-8 text file to score")->required();
  cmd->add_option("--out", e.out, "output directory (eval.csv, eval.json, eval.png)")->required();
  cmd->add_option("--predictors", e.predictors, "predictor directory from `dejavu train` (enables 'predicted')");
  cmd->add_option("--max-tokens", e.max_tokens, "score the first N tokens (0 = all)")->capture_default_str()->check(kNonNegative);
  cmd->add_option("--seq-len", e.seq_len, "window length (0 = max_position_embeddings, capped at 2048)")
      ->capture_default_str()->check(kNonNegative);
  cmd->add_option("--batch", e.batch, "windows scored together")->capture_default_str()->check(kPositive);
  add_sweep_options(cmd, e.sweep);
  cmd->callback([a] {
    LoadedModel m = load_model(a->model);
    EvalRunOptions e = a->eval;
    e.model_dir = a->model.model_dir;
    e.device = a->model.device;
    e.dtype = a->model.dtype;
    const auto points = run_eval(*m.model, *m.tokenizer, e);
    std::printf("eval: %zu points written to %s/eval.csv\n", points.size(), e.out.c_str());
  });
}

}  // namespace dv::cli
