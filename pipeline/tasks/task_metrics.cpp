// task_metrics.cpp: argmax choices, means, standard errors.
#include "pipeline/tasks/task_metrics.h"

#include <cmath>
#include <numeric>
#include <random>

#include "kernels/common/error.h"

namespace dv {
namespace {

double mean(const std::vector<double>& xs) { return std::accumulate(xs.begin(), xs.end(), 0.0) / xs.size(); }

// First index of the maximum (numpy.argmax breaks ties the same way).
size_t argmax(const std::vector<double>& xs) {
  size_t best = 0;
  for (size_t i = 1; i < xs.size(); ++i)
    if (xs[i] > xs[best]) best = i;
  return best;
}

double perplexity(const std::vector<double>& lls) { return std::exp(-mean(lls)); }

double bootstrap_stderr(const std::vector<double>& lls, int64_t iters, uint64_t seed) {
  if (iters < 2 || lls.size() < 2) return TaskMetrics::kNone;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, lls.size() - 1);
  std::vector<double> sample(lls.size()), stats;
  for (int64_t i = 0; i < iters; ++i) {
    for (double& x : sample) x = lls[pick(rng)];
    stats.push_back(perplexity(sample));
  }
  const double mu = mean(stats);
  double ss = 0;
  for (double s : stats) ss += (s - mu) * (s - mu);
  return std::sqrt(ss / static_cast<double>(stats.size() - 1));
}

// super_glue/cb/aggregate.py: mean of the binary F1 of each label against the rest (0 when undefined).
double macro_f1(const std::vector<int>& gold, const std::vector<int>& pred, int n_labels) {
  double sum = 0;
  for (int k = 0; k < n_labels; ++k) {
    double tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < gold.size(); ++i) {
      tp += gold[i] == k && pred[i] == k;
      fp += gold[i] != k && pred[i] == k;
      fn += gold[i] == k && pred[i] != k;
    }
    sum += tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : 0.0;
  }
  return sum / n_labels;
}

}  // namespace

double mean_stderr(const std::vector<double>& xs) {
  if (xs.size() < 2) return TaskMetrics::kNone;
  const double mu = mean(xs);
  double ss = 0;
  for (double x : xs) ss += (x - mu) * (x - mu);
  return std::sqrt(ss / static_cast<double>(xs.size() - 1)) / std::sqrt(static_cast<double>(xs.size()));
}

TaskMetrics score_task(const Task& task, const std::vector<LoglikelihoodResult>& results, int64_t bootstrap_iters,
                       uint64_t seed) {
  TaskMetrics m;
  m.task = task.name;
  m.format = task.format;
  m.docs = static_cast<int64_t>(task.docs.size());
  std::vector<double> acc, acc_norm, lls;
  std::vector<int> gold, pred;
  size_t next = 0;
  for (const TaskDoc& d : task.docs) {
    DV_CHECK(next + d.requests.size() <= results.size(), "score_task: {} results for task {}", results.size(), task.name);
    if (task.kind == TaskKind::kLastWord) {
      lls.push_back(results[next].logprob);
      acc.push_back(results[next].greedy ? 1.0 : 0.0);
    } else {
      std::vector<double> ll, norm;
      for (size_t c = 0; c < d.requests.size(); ++c) {
        ll.push_back(results[next + c].logprob);
        norm.push_back(results[next + c].logprob / d.choice_lengths[c]);
      }
      const int p = static_cast<int>(argmax(ll));
      acc.push_back(p == d.gold ? 1.0 : 0.0);
      acc_norm.push_back(static_cast<int>(argmax(norm)) == d.gold ? 1.0 : 0.0);
      gold.push_back(d.gold);
      pred.push_back(p);
    }
    next += d.requests.size();
  }
  DV_CHECK(next == results.size(), "score_task: {} results for {} requests of task {}", results.size(), next, task.name);
  m.acc = mean(acc);
  m.acc_stderr = mean_stderr(acc);
  if (task.kind == TaskKind::kLastWord) {
    m.perplexity = perplexity(lls);
    m.perplexity_stderr = bootstrap_stderr(lls, bootstrap_iters, seed);
  }
  if (task.report_acc_norm) {
    m.acc_norm = mean(acc_norm);
    m.acc_norm_stderr = mean_stderr(acc_norm);
  }
  if (task.report_f1) m.f1 = macro_f1(gold, pred, 3);
  return m;
}

}  // namespace dv
