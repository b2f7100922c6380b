// eval_stage.cpp: the sweep loop and its outputs.
#include "pipeline/eval/eval_stage.h"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "engine/io/interrupt.h"
#include "engine/tokenizer/encode_file.h"
#include "engine/tokenizer/text_file.h"
#include "pipeline/scoring/reference_scorer.h"
#include "pipeline/scoring/scorer_factory.h"
#include "kernels/common/error.h"
#include "pipeline/report/plot_scripts.h"
#include "pipeline/report/result_table.h"

namespace dv {

std::vector<EvalPoint> run_eval_sweep(WindowScorer& scorer, const std::vector<int32_t>& ids,
                                      const PerplexityOptions& ppl_options, const EvalSweep& sweep) {
  const auto planned = plan_points(sweep, scorer.has_predictors());
  const std::vector<bool> dense_layer = dense_layer_flags(sweep.dense_layers, scorer.num_layers(), "eval: dense_layers");
  std::vector<EvalPoint> points;
  double dense_ppl = 0;
  for (size_t i = 0; i < planned.size(); ++i) {
    check_interrupt("eval");  // between points: a stop request ends the stage before its results are written
    const PlannedPoint& p = planned[i];
    scorer.set_plan(point_plan(p, dense_layer));
    EvalPoint point{p.mode, p.target, p.mlp, p.heads, {}, {}};
    std::fprintf(stderr, "eval point %zu/%zu: %s %s mlp %.3f heads %.3f\n", i + 1, planned.size(), p.mode.c_str(),
                 p.target.c_str(), p.mlp, p.heads);
    point.ppl = scorer_perplexity(scorer, ids, ppl_options);
    point.kept = scorer.stats();
    if (p.mode == "dense") dense_ppl = point.ppl.perplexity;
    std::fprintf(stderr, "  perplexity %.4f%s\n", point.ppl.perplexity,
                 dense_ppl > 0 ? fmt::format(" ({:+.2f}% vs dense)", 100 * (point.ppl.perplexity / dense_ppl - 1)).c_str()
                               : "");
    points.push_back(std::move(point));
  }
  return points;
}

std::vector<EvalPoint> run_eval_sweep(const OptModel& model, const std::vector<int32_t>& ids,
                                      const PerplexityOptions& ppl_options, const EvalSweep& sweep,
                                      const Scorers& predicted) {
  ReferenceScorer scorer(model, predicted.mlp, predicted.heads);
  return run_eval_sweep(scorer, ids, ppl_options, sweep);
}

namespace {

// One row of eval.csv / eval.json: a point of the sweep.
struct EvalRow {
  std::string mode, target;
  double mlp_density = 1, head_density = 1, perplexity = 0;
  nlohmann::json ppl_vs_dense;  // perplexity / the dense point's; null without a dense point in the sweep
  int64_t predicted_tokens = 0;
  double mlp_active_recall = 1, mlp_mass_recall = 1, head_mass_recall = 1, seconds = 0;
};
DV_RESULT_ROW(EvalRow, mode, target, mlp_density, head_density, perplexity, ppl_vs_dense, predicted_tokens,
              mlp_active_recall, mlp_mass_recall, head_mass_recall, seconds)

}  // namespace

void write_eval_results(const std::string& out_dir, const std::vector<EvalPoint>& points, const std::string& context) {
  double dense = 0;
  for (const auto& p : points)
    if (p.mode == "dense") dense = p.ppl.perplexity;
  std::vector<EvalRow> rows;
  for (const auto& p : points)
    rows.push_back({p.mode, p.target, p.mlp_density, p.head_density, p.ppl.perplexity,
                    dense > 0 ? nlohmann::json(p.ppl.perplexity / dense) : nlohmann::json(), p.ppl.predicted_tokens,
                    p.kept.mlp_active_recall(), p.kept.mlp_mass_recall(), p.kept.head_mass_recall(), p.ppl.seconds});
  write_result_table(out_dir, "eval", rows, {{"context", nlohmann::json::parse(context)}}, "points");
  try_plot("eval", out_dir);
}

EvalRunOptions eval_run_options(const EvalSection& section, const std::string& out) {
  EvalRunOptions o;
  o.text = section.text;
  o.out = out;
  o.max_tokens = section.max_tokens;
  o.seq_len = section.seq_len;
  o.sweep = section.sweep;
  o.engine = section.engine;
  return o;
}

std::vector<EvalPoint> run_eval(const OptModel& model, BpeTokenizer& tokenizer, const EvalRunOptions& a) {
  check_text_file(a.text, "eval text");
  const std::vector<int32_t> ids =
      encode_text_file(tokenizer, a.text, /*add_bos=*/true, static_cast<size_t>(std::max<int64_t>(0, a.max_tokens)));
  const EvalSweep sweep = runnable_sweep(a.sweep, a.predictors);
  ScorerRequest request;
  request.engine = a.engine;
  request.predictors = a.predictors;
  request.max_window = a.seq_len;
  request.batch = a.batch;
  const std::unique_ptr<WindowScorer> scorer = make_scorer(model, request);
  PerplexityOptions ppl;
  ppl.seq_len = a.seq_len;
  ppl.batch = a.batch;
  auto points = run_eval_sweep(*scorer, ids, ppl, sweep);
  nlohmann::json context = {{"model", a.model_dir},   {"text", a.text},   {"predictors", a.predictors},
                            {"device", model.device().str()}, {"device_requested", a.device}, {"dtype", a.dtype}, {"max_tokens", a.max_tokens},
                            {"tokens_scored", ids.size()}, {"seq_len", points.empty() ? 0 : points[0].ppl.seq_len},
                            {"dense_layers", a.sweep.dense_layers}, {"engine", a.engine}};
  write_eval_results(a.out, points, context.dump());
  return points;
}

}  // namespace dv
