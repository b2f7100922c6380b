// task_stage.h: zero-shot task evaluation over the eval stage's sweep (dense / oracle / predicted, MLP,
// heads, both, dense_layers): each task's requests are tokenized once, lm-eval-harness's way, then scored
// at every point of the sweep through a LoglikelihoodScorer over a WindowScorer (--engine reference|cuda, whose
// set_plan takes each point's plan, as the eval stage's sweep does). Results: tasks.csv (one row per point, task and
// metric; value_vs_dense = value - the dense point's) and tasks.json (with the context), and with
// write_requests requests.jsonl (every request's tokens, log-likelihood and greedy flag at every point).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tokenizer/bpe_tokenizer.h"
#include "pipeline/scoring/sweep.h"
#include "pipeline/tasks/loglikelihood_scorer.h"
#include "pipeline/tasks/task_docs.h"
#include "pipeline/tasks/task_metrics.h"

namespace dv {

// lm-eval's HFLM._encode_pair: trailing whitespace of the context moves to the continuation; context +
// continuation are encoded together and split where the context's own encoding ends. add_bos: prepend the
// tokenizer's BOS to both encodings, which lm-eval 0.4.13 does for OPT (its tokenizer adds </s> by default;
// add_bos_token=False, or lm-eval <= 0.4.9, does not).
TokenRequest encode_request(BpeTokenizer& tokenizer, const TaskRequest& request, bool add_bos);

struct TaskPoint {
  PlannedPoint point;
  std::vector<TaskMetrics> tasks;
  double seconds = 0;
  SelectionStats kept;  // what the point's selections kept over every request's tokens (the scorer's stats())
};

struct TaskRunOptions {
  std::vector<TaskSpec> tasks;
  std::string out, predictors;   // predictors empty: the 'predicted' mode is dropped
  int64_t max_docs = 0;          // documents per task; 0 = all
  int64_t batch = 16;            // sequences per forward
  bool add_bos = true;
  int64_t bootstrap_iters = 1000;  // perplexity's bootstrap stderr (lm-eval: 100000)
  uint64_t seed = 1234;
  bool write_requests = false;
  EvalSweep sweep;
  std::string model_dir, device, dtype;  // recorded in tasks.json
  std::string engine = "reference";      // reference | cuda: who scores (--engine, eval.engine)
};

// Scores the tasks at every point of the sweep with `scorer` (set_plan per point; 'predicted' needs its
// predictors), options.batch requests per score() call.
std::vector<TaskPoint> run_task_sweep(WindowScorer& scorer, const std::vector<Task>& tasks,
                                      const std::vector<std::vector<TokenRequest>>& requests, const EvalSweep& sweep,
                                      const TaskRunOptions& options);

// The whole stage: reads and tokenizes the tasks, builds the options.engine scorer from the model (and the
// predictors), runs the sweep and writes the results; what `dejavu tasks` and `dejavu run` (eval.tasks) call.
std::vector<TaskPoint> run_tasks(const OptModel& model, BpeTokenizer& tokenizer, const TaskRunOptions& options);

}  // namespace dv
