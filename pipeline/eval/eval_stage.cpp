// eval_stage.cpp: the sweep loop and its outputs.
#include "pipeline/eval/eval_stage.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

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

std::vector<EvalPoint> run_eval_points(WindowScorer& scorer, const std::vector<int32_t>& ids,
                                       const PerplexityOptions& ppl_options, const std::vector<PlannedPoint>& planned,
                                       const std::vector<int64_t>& dense_layers) {
  const std::vector<bool> dense_layer = dense_layer_flags(dense_layers, scorer.num_layers(), "eval: dense_layers");
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
    // The change against dense is printed for the sparse points (the dense point is the reference itself).
    std::fprintf(stderr, "  perplexity %.4f%s\n", point.ppl.perplexity,
                 dense_ppl > 0 && p.mode != "dense"
                     ? fmt::format(" ({:+.2f}% vs dense)", 100 * (point.ppl.perplexity / dense_ppl - 1)).c_str()
                     : "");
    points.push_back(std::move(point));
  }
  return points;
}

std::vector<EvalPoint> run_eval_sweep(WindowScorer& scorer, const std::vector<int32_t>& ids,
                                      const PerplexityOptions& ppl_options, const EvalSweep& sweep) {
  return run_eval_points(scorer, ids, ppl_options, plan_points(sweep, scorer.has_predictors()), sweep.dense_layers);
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

EvalRow eval_row(const EvalPoint& p) {
  return {p.mode, p.target, p.mlp_density, p.head_density, p.ppl.perplexity, nullptr, p.ppl.predicted_tokens,
          p.kept.mlp_active_recall(), p.kept.mlp_mass_recall(), p.kept.head_mass_recall(), p.ppl.seconds};
}

// eval.csv and eval.json of these rows, ppl_vs_dense filled in from the dense row; then the plot.
void write_eval_rows(const std::string& out_dir, std::vector<EvalRow> rows, const nlohmann::json& context) {
  double dense = 0;
  for (const auto& r : rows)
    if (r.mode == "dense") dense = r.perplexity;
  for (auto& r : rows) r.ppl_vs_dense = dense > 0 ? nlohmann::json(r.perplexity / dense) : nlohmann::json();
  write_result_table(out_dir, "eval", rows, {{"context", context}}, "points");
  try_plot("eval", out_dir);
}

// "predicted mlp 0.25 1": a point's place in the sweep, how earlier results are matched.
std::string point_id(const std::string& mode, const std::string& target, double mlp, double heads) {
  return fmt::format("{} {} {} {}", mode, target, mlp, heads);
}

// The rows of <dir>/eval.json recorded under this point key, by point_id; none when the key differs or is empty.
std::map<std::string, EvalRow> earlier_rows(const std::string& dir, const std::string& key) {
  std::map<std::string, EvalRow> out;
  const std::string path = dir + "/eval.json";
  if (key.empty() || dir.empty() || !std::filesystem::exists(path)) return out;
  const nlohmann::json j = nlohmann::json::parse(read_small_file(path), nullptr, false);
  if (j.is_discarded() || !j.contains("context") || j["context"].value("point_key", "") != key || !j.contains("points"))
    return out;
  try {
    for (const auto& row : j["points"]) {
      EvalRow r = row.get<EvalRow>();
      out[point_id(r.mode, r.target, r.mlp_density, r.head_density)] = r;
    }
  } catch (const nlohmann::json::exception&) {
    return {};  // an older layout: score everything again
  }
  return out;
}

}  // namespace

void write_eval_results(const std::string& out_dir, const std::vector<EvalPoint>& points, const std::string& context) {
  std::vector<EvalRow> rows;
  for (const auto& p : points) rows.push_back(eval_row(p));
  write_eval_rows(out_dir, std::move(rows), nlohmann::json::parse(context));
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

size_t run_eval(const OptModel& model, BpeTokenizer& tokenizer, const EvalRunOptions& a) {
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
  // Points an earlier run scored with the same key are taken from it; only the others are scored.
  const std::vector<PlannedPoint> planned = plan_points(sweep, scorer->has_predictors());
  const std::map<std::string, EvalRow> earlier = earlier_rows(a.reuse_from, a.point_key);
  std::vector<PlannedPoint> todo;
  for (const PlannedPoint& p : planned)
    if (!earlier.count(point_id(p.mode, p.target, p.mlp, p.heads))) todo.push_back(p);
  if (todo.size() < planned.size())
    std::fprintf(stderr, "eval: %zu of %zu points reused from %s/eval.json (same model, text, predictors and "
                 "settings); scoring %zu\n", planned.size() - todo.size(), planned.size(), a.reuse_from.c_str(),
                 todo.size());
  const std::vector<EvalPoint> scored = run_eval_points(*scorer, ids, ppl, todo, sweep.dense_layers);
  std::vector<EvalRow> rows;
  size_t next = 0;
  for (const PlannedPoint& p : planned) {
    const auto hit = earlier.find(point_id(p.mode, p.target, p.mlp, p.heads));
    rows.push_back(hit != earlier.end() ? hit->second : eval_row(scored[next++]));
  }
  // The window as the perplexity recipe resolves 0 (perplexity.h), also when every point was reused.
  const int64_t seq_len = !scored.empty() ? scored[0].ppl.seq_len
                          : a.seq_len > 0 ? a.seq_len
                                          : std::min<int64_t>(model.config().max_position_embeddings, 2048);
  nlohmann::json context = {{"model", a.model_dir},   {"text", a.text},   {"predictors", a.predictors},
                            {"device", model.device().str()}, {"device_requested", a.device}, {"dtype", a.dtype}, {"max_tokens", a.max_tokens},
                            {"tokens_scored", ids.size()}, {"seq_len", seq_len},
                            {"dense_layers", a.sweep.dense_layers}, {"engine", a.engine}, {"point_key", a.point_key}};
  write_eval_rows(a.out, std::move(rows), context);
  return planned.size();
}

}  // namespace dv
