// task_stage.cpp: tokenization, the sweep over plans, and tasks.csv / tasks.json / requests.jsonl.
#include "pipeline/tasks/task_stage.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "kernels/common/error.h"
#include "pipeline/report/plot_scripts.h"
#include "pipeline/scoring/scorer_factory.h"

namespace dv {
namespace {

// NaN (a metric the task does not have) as an empty CSV cell / JSON null.
std::string csv_num(double v) { return std::isnan(v) ? "" : fmt::format("{:.6f}", v); }
nlohmann::json json_num(double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); }

struct MetricValue {
  const char* name;
  double value, stderr_;
};
std::vector<MetricValue> metric_values(const TaskMetrics& m) {
  std::vector<MetricValue> out;
  for (const MetricValue& v : {MetricValue{"acc", m.acc, m.acc_stderr}, MetricValue{"acc_norm", m.acc_norm, m.acc_norm_stderr},
                               MetricValue{"perplexity", m.perplexity, m.perplexity_stderr},
                               MetricValue{"f1", m.f1, TaskMetrics::kNone}})
    if (!std::isnan(v.value)) out.push_back(v);
  return out;
}

// The accuracy of guessing: the mean over documents of 1 / choices (a last-word task: 0, any word may come).
double chance_accuracy(const Task& t) {
  if (t.kind != TaskKind::kMultipleChoice || t.docs.empty()) return 0;
  double sum = 0;
  for (const TaskDoc& d : t.docs) sum += 1.0 / static_cast<double>(d.requests.size());
  return sum / static_cast<double>(t.docs.size());
}

// The chance level of a metric (acc and acc_norm), NaN for the others (perplexity, f1).
double chance_of(const std::string& metric, const Task& t) {
  return metric == "acc" || metric == "acc_norm" ? chance_accuracy(t) : TaskMetrics::kNone;
}

// value_vs_dense is value - dense value (a difference in the metric's own units: accuracy points), unlike
// eval.csv's ppl_vs_dense (a ratio); tasks.json's context says so too, for a reader without this comment.
void write_task_results(const TaskRunOptions& o, const std::vector<Task>& tasks, const std::vector<TaskPoint>& points) {
  make_dirs(o.out);
  std::string csv = "mode,target,mlp_density,head_density,task,format,docs,metric,value,stderr,value_vs_dense,chance\n";
  nlohmann::json rows = nlohmann::json::array();
  const TaskPoint* dense = nullptr;
  for (const auto& p : points)
    if (p.point.mode == "dense") dense = &p;
  for (const auto& p : points) {
    for (size_t t = 0; t < p.tasks.size(); ++t) {
      const TaskMetrics& m = p.tasks[t];
      nlohmann::json metrics = nlohmann::json::object();
      for (const MetricValue& v : metric_values(m)) {
        double base = TaskMetrics::kNone;
        if (dense != nullptr)
          for (const MetricValue& d : metric_values(dense->tasks[t]))
            if (std::string(d.name) == v.name) base = d.value;
        const double delta = std::isnan(base) ? TaskMetrics::kNone : v.value - base;
        const double chance = chance_of(v.name, tasks[t]);
        csv += fmt::format("{},{},{:.4f},{:.4f},{},{},{},{},{},{},{},{}\n", p.point.mode, p.point.target, p.point.mlp,
                           p.point.heads, m.task, m.format, m.docs, v.name, csv_num(v.value), csv_num(v.stderr_),
                           csv_num(delta), csv_num(chance));
        metrics[v.name] = {{"value", v.value}, {"stderr", json_num(v.stderr_)}, {"vs_dense", json_num(delta)},
                           {"chance", json_num(chance)}};
      }
      rows.push_back({{"mode", p.point.mode}, {"target", p.point.target}, {"mlp_density", p.point.mlp},
                      {"head_density", p.point.heads}, {"task", m.task}, {"format", m.format}, {"docs", m.docs},
                      {"metrics", metrics}, {"seconds", p.seconds},
                      {"mlp_active_recall", p.kept.mlp_active_recall()}, {"mlp_mass_recall", p.kept.mlp_mass_recall()},
                      {"head_mass_recall", p.kept.head_mass_recall()}});
    }
  }
  nlohmann::json files = nlohmann::json::array();
  for (const Task& t : tasks)
    files.push_back({{"task", t.name}, {"format", t.format}, {"file", t.file}, {"docs", t.docs.size()},
                     {"chance_acc", chance_accuracy(t)}});
  nlohmann::json context = {{"model", o.model_dir},   {"predictors", o.predictors}, {"device", o.device},
                            {"dtype", o.dtype},       {"tasks", files},             {"add_bos", o.add_bos},
                            {"max_docs", o.max_docs}, {"dense_layers", o.sweep.dense_layers},
                            {"bootstrap_iters", o.bootstrap_iters}, {"engine", o.engine}, {"batch", o.batch},
                            {"protocol", "lm-eval-harness 0.4.13 zero-shot loglikelihood requests (pipeline/tasks/README.md)"},
                            {"value_vs_dense", "value minus the dense point's value, in the metric's units (a "
                                               "difference; eval.csv's ppl_vs_dense is a ratio)"},
                            {"chance", "acc of guessing: mean over documents of 1 / choices"}};
  nlohmann::json doc = {{"context", context}, {"points", rows}};
  write_file_atomic(o.out + "/tasks.csv", csv);
  write_file_atomic(o.out + "/tasks.json", doc.dump(1) + "\n");
  try_plot("tasks", o.out);
}

}  // namespace

TokenRequest encode_request(BpeTokenizer& tokenizer, const TaskRequest& request, bool add_bos) {
  std::string context = request.context, continuation = request.continuation;
  size_t keep = context.size();
  while (keep > 0 && std::isspace(static_cast<unsigned char>(context[keep - 1]))) --keep;
  continuation = context.substr(keep) + continuation;
  context.resize(keep);
  DV_CHECK(!context.empty(), "task request with an empty context (continuation \"{}\")", continuation);
  TokenRequest r;
  const std::vector<int32_t> whole = tokenizer.encode(context + continuation, add_bos);
  r.context = tokenizer.encode(context, add_bos);
  DV_CHECK(whole.size() > r.context.size(), "task request: continuation \"{}\" encodes to no tokens", continuation);
  r.continuation.assign(whole.begin() + static_cast<std::ptrdiff_t>(r.context.size()), whole.end());
  return r;
}

std::vector<TaskPoint> run_task_sweep(WindowScorer& scorer, const std::vector<Task>& tasks,
                                      const std::vector<std::vector<TokenRequest>>& requests, const EvalSweep& sweep,
                                      const TaskRunOptions& o) {
  const auto planned = plan_points(sweep, scorer.has_predictors());
  const std::vector<bool> dense_layer =
      dense_layer_flags(sweep.dense_layers, scorer.num_layers(), "tasks: dense_layers");
  LoglikelihoodScorer ll(scorer, o.batch);
  // Every task's requests in one list, so a batch mixes tasks and pads little.
  std::vector<TokenRequest> all;
  for (const auto& r : requests) all.insert(all.end(), r.begin(), r.end());
  std::string log;
  std::vector<TaskPoint> points;
  for (size_t i = 0; i < planned.size(); ++i) {
    const PlannedPoint& p = planned[i];
    std::fprintf(stderr, "tasks point %zu/%zu: %s %s mlp %.3f heads %.3f (%zu requests)\n", i + 1, planned.size(),
                 p.mode.c_str(), p.target.c_str(), p.mlp, p.heads, all.size());
    scorer.set_plan(point_plan(p, dense_layer));
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<LoglikelihoodResult> results = ll.loglikelihood(all);
    TaskPoint point{p, {}, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                    scorer.stats()};
    size_t next = 0;
    for (size_t t = 0; t < tasks.size(); ++t) {
      const std::vector<LoglikelihoodResult> mine(results.begin() + next, results.begin() + next + requests[t].size());
      if (o.write_requests) {
        size_t k = 0;
        for (size_t d = 0; d < tasks[t].docs.size(); ++d)
          for (size_t c = 0; c < tasks[t].docs[d].requests.size(); ++c, ++k) {
            const TaskRequest& text = tasks[t].docs[d].requests[c];
            log += nlohmann::json({{"mode", p.mode}, {"target", p.target}, {"mlp_density", p.mlp},
                                   {"head_density", p.heads}, {"task", tasks[t].name}, {"doc", d}, {"choice", c},
                                   {"context", text.context}, {"continuation", text.continuation},
                                   {"context_tokens", requests[t][k].context},
                                   {"continuation_tokens", requests[t][k].continuation},
                                   {"logprob", mine[k].logprob}, {"greedy", mine[k].greedy}})
                       .dump() + "\n";
          }
      }
      next += requests[t].size();
      point.tasks.push_back(score_task(tasks[t], mine, o.bootstrap_iters, o.seed));
      const TaskMetrics& m = point.tasks.back();
      std::fprintf(stderr, "  %-24s acc %.4f%s%s\n", m.task.c_str(), m.acc,
                   std::isnan(m.acc_norm) ? "" : fmt::format("  acc_norm {:.4f}", m.acc_norm).c_str(),
                   std::isnan(m.perplexity) ? "" : fmt::format("  perplexity {:.3f}", m.perplexity).c_str());
    }
    if (p.mode != "dense")
      std::fprintf(stderr, "  kept: mlp active %.4f  mlp mass %.4f  head mass %.4f  (%.2f s, %s engine)\n",
                   point.kept.mlp_active_recall(), point.kept.mlp_mass_recall(), point.kept.head_mass_recall(),
                   point.seconds, scorer.name().c_str());
    points.push_back(std::move(point));
  }
  if (o.write_requests) {
    make_dirs(o.out);
    write_file_atomic(o.out + "/requests.jsonl", log);
  }
  return points;
}

std::vector<TaskPoint> run_tasks(const OptModel& model, BpeTokenizer& tokenizer, const TaskRunOptions& o) {
  DV_CHECK(!o.tasks.empty(), "tasks: no task given (--task FORMAT=FILE)");
  std::vector<Task> tasks;
  std::vector<std::vector<TokenRequest>> requests;
  for (const TaskSpec& s : o.tasks) {
    for (const Task& t : tasks) DV_CHECK(t.name != s.name, "tasks: two tasks are named '{}'", s.name);
    tasks.push_back(read_task(s.name, s.format, s.file, o.max_docs));
    requests.emplace_back();
    for (const TaskDoc& d : tasks.back().docs)
      for (const TaskRequest& r : d.requests) requests.back().push_back(encode_request(tokenizer, r, o.add_bos));
  }
  // The harness's max_length is the model's positions; the CUDA engine holds o.batch windows of that length.
  ScorerRequest request;
  request.engine = o.engine;
  request.predictors = o.predictors;
  request.max_window = model.config().max_position_embeddings;
  request.batch = o.batch;
  const std::unique_ptr<WindowScorer> scorer = make_scorer(model, request);
  auto points = run_task_sweep(*scorer, tasks, requests, runnable_sweep(o.sweep, o.predictors), o);
  write_task_results(o, tasks, points);
  return points;
}

}  // namespace dv
