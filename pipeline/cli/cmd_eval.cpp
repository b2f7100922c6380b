// cmd_eval.cpp: `dejavu eval`: perplexity dense vs oracle-sparse vs predictor-sparse over a density
// sweep (the accuracy stage), through a WindowScorer: the reference model with masks (--engine reference) or
// the CUDA engine with its own per-token selections (--engine cuda).
#include <cstdio>
#include <memory>

#include "engine/io/interrupt.h"
#include "engine/io/output_lock.h"
#include "pipeline/cli/commands.h"
#include "pipeline/cli/engine_options.h"
#include "pipeline/cli/model_options.h"
#include "pipeline/stages/eval_stage.h"
#include "pipeline/stages/scorer_factory.h"

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
  add_engine_option(cmd, e.engine);
  cmd->add_option("--text", e.text, "UTF-8 text file to score")->required();
  cmd->add_option("--out", e.out, "output directory (eval.csv, eval.json, eval.png)")->required();
  cmd->add_option("--predictors", e.predictors, "predictor directory from `dejavu train` (enables 'predicted')");
  cmd->add_option("--max-tokens", e.max_tokens, "score the first N tokens (0 = all)")->capture_default_str()->check(kNonNegative);
  cmd->add_option("--seq-len", e.seq_len, "window length (0 = max_position_embeddings, capped at 2048)")
      ->capture_default_str()->check(kNonNegative);
  cmd->add_option("--batch", e.batch, "windows scored together")->capture_default_str()->check(kPositive);
  add_sweep_options(cmd, e.sweep);
  cmd->callback([a] {
    const OutputLock lock(a->eval.out);
    const InterruptGuard guard;  // a stop request ends eval at its next point, before anything is written
    EvalRunOptions e = a->eval;
    check_engine_available(e.engine, "--engine");
    LoadedModel m = load_model(a->model);
    e.model_dir = a->model.model_dir;
    e.device = e.engine == "cuda" ? "cuda" : a->model.device;
    e.dtype = e.engine == "cuda" ? "float16" : a->model.dtype;
    const auto points = run_eval(*m.model, *m.tokenizer, e);
    std::printf("eval: %zu points written to %s/eval.csv\n", points.size(), e.out.c_str());
  });
}

}  // namespace dv::cli
