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
#include "pipeline/cli/option_flags.h"
#include "pipeline/eval/eval_stage.h"
#include "pipeline/scoring/scorer_factory.h"

namespace dv::cli {

void add_eval_command(CLI::App& app) {
  struct Args {
    ModelOptions model;
    EvalSection section;  // the eval section's perplexity options, as flags named after its keys
    std::string out, predictors;
    int64_t batch = 1;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("eval", "Perplexity dense vs oracle vs predicted sparsity over a density sweep");
  add_model_options(cmd, a->model);
  OptionFlags flags(cmd, "eval", {"text", "max_tokens", "seq_len", "modes", "mlp_densities", "head_densities",
                                  "targets", "dense_layers", "engine"});
  visit_eval_options(a->section, flags);
  cmd->get_option("--text")->required();
  cmd->add_option("--out", a->out, "output directory (eval.csv, eval.json, eval.png)")->required();
  cmd->add_option("--predictors", a->predictors, "predictor directory from `dejavu train` (enables 'predicted')");
  cmd->add_option("--batch", a->batch, "windows scored together")->capture_default_str()->check(kPositive);
  cmd->callback([a] {
    const OutputLock lock(a->out);
    const InterruptGuard guard;  // a stop request ends eval at its next point, before anything is written
    EvalRunOptions e = eval_run_options(a->section, a->out);
    e.predictors = a->predictors;
    e.batch = a->batch;
    check_engine_available(e.engine, "--engine");
    LoadedModel m = load_model(a->model);
    e.model_dir = a->model.model_dir;
    e.device = e.engine == "cuda" ? "cuda" : a->model.device;
    e.dtype = e.engine == "cuda" ? "float16" : a->model.dtype;
    const size_t points = run_eval(*m.model, *m.tokenizer, e);
    std::printf("eval: %zu points written to %s/eval.csv\n", points, e.out.c_str());
  });
}

}  // namespace dv::cli
