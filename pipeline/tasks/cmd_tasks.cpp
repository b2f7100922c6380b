// cmd_tasks.cpp: `dejavu tasks`: zero-shot task accuracy (lm-eval-harness's loglikelihood protocol) dense vs
// oracle-sparse vs predictor-sparse over the eval stage's density sweep, through a WindowScorer: the reference
// model with masks (--engine reference) or the CUDA engine with its own per-token selections (--engine cuda).
#include <cstdio>
#include <memory>

#include "pipeline/cli/commands.h"
#include "pipeline/cli/engine_options.h"
#include "pipeline/cli/model_options.h"
#include "pipeline/scoring/scorer_factory.h"
#include "pipeline/tasks/task_stage.h"

namespace dv::cli {

void add_tasks_command(CLI::App& app) {
  struct Args {
    ModelOptions model;
    TaskRunOptions run;
    std::vector<std::string> tasks;
    bool no_bos = false;
  };
  auto a = std::make_shared<Args>();
  TaskRunOptions& o = a->run;
  CLI::App* cmd = app.add_subcommand("tasks", "Zero-shot task accuracy (lm-eval-harness protocol) dense vs oracle vs predicted");
  add_model_options(cmd, a->model);
  add_engine_option(cmd, o.engine);
  cmd->add_option("--task", a->tasks,
                  "FORMAT=FILE or NAME:FORMAT=FILE (formats: cb, copa, hellaswag, lambada, openbookqa, piqa, rte, "
                  "winogrande, jsonl; layouts in pipeline/tasks/README.md); repeatable")
      ->required();
  cmd->add_option("--out", o.out,
                  "output directory: tasks.csv and tasks.json (every point's metrics, stderr, value_vs_dense = value "
                  "- dense's, chance level), tasks.png (accuracy against density, with error bars)")
      ->required();
  cmd->add_option("--predictors", o.predictors, "predictor directory from `dejavu train` (enables 'predicted')");
  cmd->add_option("--max-docs", o.max_docs, "documents per task (0 = all)")->capture_default_str()->check(kNonNegative);
  cmd->add_option("--batch", o.batch, "sequences per forward")->capture_default_str()->check(kPositive);
  cmd->add_flag("--no-bos", a->no_bos, "do not prepend BOS (lm-eval <= 0.4.9, or add_bos_token=False)");
  cmd->add_option("--bootstrap-iters", o.bootstrap_iters, "resamples for perplexity's stderr")
      ->capture_default_str()->check(kNonNegative);
  cmd->add_flag("--write-requests", o.write_requests, "also write requests.jsonl (tokens, log-likelihood per request)");
  add_sweep_options(cmd, o.sweep);
  cmd->callback([a] {
    TaskRunOptions o = a->run;
    for (const std::string& spec : a->tasks) o.tasks.push_back(parse_task_spec(spec));
    o.add_bos = !a->no_bos;
    check_engine_available(o.engine, "--engine");  // before the model loads: the error comes at once
    o.model_dir = a->model.model_dir;
    o.device = o.engine == "cuda" ? "cuda" : a->model.device;
    o.dtype = o.engine == "cuda" ? "float16" : a->model.dtype;
    LoadedModel m = load_model(a->model);
    const auto points = run_tasks(*m.model, *m.tokenizer, o);
    std::printf("tasks: %zu points x %zu tasks written to %s/tasks.csv\n", points.size(), o.tasks.size(), o.out.c_str());
  });
}

}  // namespace dv::cli
