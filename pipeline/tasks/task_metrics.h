// task_metrics.h: lm-eval-harness's per-task metrics from the requests' log-likelihoods.
//   acc       multiple choice: argmax of the choices' log-likelihoods is the gold choice;
//             last word: greedy decoding reproduces the continuation (lambada's acc)
//   acc_norm  argmax of log-likelihood / len(choice) (code points of the choice text, as lm-eval's
//             `float(len(i)) for i in choices`)
//   perplexity  last word: exp(-mean log-likelihood of the target word)
//   f1        CB: mean over its three labels of the one-vs-rest F1 (super_glue/cb/aggregate.py)
// Standard errors as the harness computes them: mean_stderr (sample stddev / sqrt(n)) for the means; a
// bootstrap for perplexity (the harness's bootstrap_stderr; here `bootstrap_iters` resamples from a seeded
// generator, so the value agrees statistically, not digit for digit). No stderr for f1 (the harness has none).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "pipeline/tasks/loglikelihood_scorer.h"
#include "pipeline/tasks/task_docs.h"

namespace dv {

struct TaskMetrics {
  static constexpr double kNone = std::numeric_limits<double>::quiet_NaN();  // a metric the task does not have
  std::string task, format;
  int64_t docs = 0;
  double acc = kNone, acc_stderr = kNone;
  double acc_norm = kNone, acc_norm_stderr = kNone;
  double perplexity = kNone, perplexity_stderr = kNone;
  double f1 = kNone;
};

// results: one per request, in the order of task.docs[*].requests.
TaskMetrics score_task(const Task& task, const std::vector<LoglikelihoodResult>& results, int64_t bootstrap_iters,
                       uint64_t seed);

double mean_stderr(const std::vector<double>& xs);  // the harness's mean_stderr

}  // namespace dv
