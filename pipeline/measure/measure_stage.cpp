// measure_stage.cpp: oracle statistics (measure_stats) plus predictor sweeps over the store's rows.
#include "pipeline/measure/measure_stage.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cstdio>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "engine/io/interrupt.h"
#include "engine/io/progress.h"
#include "engine/io/warning_log.h"
#include "engine/models/opt_weights.h"
#include "kernels/common/error.h"
#include "pipeline/train/metrics_report.h"
#include "pipeline/train/predictor_set.h"
#include "pipeline/train/row_batches.h"
#include "pipeline/train/selection.h"
#include "pipeline/train/weighted_bce.h"
#include "pipeline/report/plot_scripts.h"
#include "pipeline/measure/measure_reuse.h"
#include "pipeline/measure/measure_stats.h"
#include "pipeline/store/activity_check.h"

namespace dv {
namespace {

// What one kind of one layer still has to measure: its top-k metrics (unless reused) and the thresholds whose
// counts were not reused (indices into the sweep's thresholds).
struct KindTodo {
  bool topk = true;
  std::vector<size_t> thresholds;
  bool any() const { return topk || !thresholds.empty(); }
};

// The reused parts of one kind in `out`, and what is left to measure.
KindTodo plan_kind(const EarlierMeasure& earlier, int64_t layer, const std::string& kind,
                   const std::vector<double>& fractions, const std::vector<double>& thresholds, KindSweep& out) {
  KindTodo todo;
  out.thresholds.assign(thresholds.size(), ThresholdCounts{});
  if (auto m = earlier.topk(layer, kind, fractions)) {
    out.topk = std::move(*m);
    todo.topk = false;
  }
  for (size_t i = 0; i < thresholds.size(); ++i) {
    if (auto c = earlier.threshold(layer, kind, thresholds[i]))
      out.thresholds[i] = *c;
    else
      todo.thresholds.push_back(i);
  }
  return todo;
}

// Runs one layer's two predictors over rows [0, n) of the store, for what `todo` says is not reused; bar
// advances by n per kind run.
void sweep_layer(SharedStore& store, const PredictorSet& set, int64_t layer, int64_t n, const MeasureOptions& o,
                 at::Device device, const KindTodo& mlp_todo, const KindTodo& att_todo, KindSweep& mlp, KindSweep& att,
                 Progress& bar) {
  const StoreShape& shape = store.reader.shape();
  LayerFields fields{layer, resolve_input(set.mlp_input, layer), resolve_input(set.att_input, layer)};
  MetricsAccumulator mlp_acc(shape.ffn_dim, o.sweeps.mlp_topk_fractions),
      att_acc(shape.num_heads, o.sweeps.head_keep_fractions);
  const int64_t k_att = att_label_count(set.att_top_fraction, shape.num_heads);
  auto count = [&](const KindTodo& todo, std::vector<ThresholdCounts>& out, const at::Tensor& logits,
                   const at::Tensor& labels) {
    for (size_t i : todo.thresholds) {
      const at::Tensor keep = select_threshold(logits, o.sweeps.mlp_thresholds[i]);
      out[i].positives += labels.sum(at::kDouble).item<double>();
      out[i].predicted += keep.sum(at::kDouble).item<double>();
      out[i].tp += (keep * labels).sum(at::kDouble).item<double>();
      out[i].elements += static_cast<double>(labels.numel());
    }
  };
  const int64_t kinds = (mlp_todo.any() ? 1 : 0) + (att_todo.any() ? 1 : 0);
  for (const RowRange& r : chunk_ranges(0, n, std::max<int64_t>(store.reader.chunk_rows(), 512))) {
    check_interrupt("measure");
    RowBlock b = read_row_block(store, fields, r.begin, r.end - r.begin, shape.has_fc1_value);
    if (mlp_todo.any()) {
      const at::Tensor mlp_logits = set.mlp[layer].logits(b.x_mlp.to(device, at::kFloat)).to(at::kFloat);
      const at::Tensor mlp_labels = unpack_active_labels(b.fc1_bits.to(device), shape.ffn_dim);
      const at::Tensor mass = b.fc1_value.defined() ? b.fc1_value.to(device, at::kFloat) : at::Tensor();
      if (mlp_todo.topk) mlp_acc.add(mlp_logits, mlp_labels, mass, weighted_bce_loss(mlp_logits, mlp_labels, 0.005));
      count(mlp_todo, mlp.thresholds, mlp_logits, mlp_labels);
    }
    if (att_todo.any()) {
      const at::Tensor att_logits = set.att[layer].logits(b.x_att.to(device, at::kFloat)).to(at::kFloat);
      const at::Tensor norms = b.head_norm.to(device);
      const at::Tensor att_labels = top_head_labels(norms, k_att);
      if (att_todo.topk) att_acc.add(att_logits, att_labels, norms, weighted_bce_loss(att_logits, att_labels, 0.0));
      count(att_todo, att.thresholds, att_logits, att_labels);
    }
    bar.advance((r.end - r.begin) * kinds);
  }
  if (mlp_todo.topk) mlp_acc.fill(&mlp.topk);
  if (att_todo.topk) att_acc.fill(&att.topk);
}

// A mass share as a CSV cell: empty when the store keeps no fc1 values (collect.store_fc1_values off), not "nan".
std::string mass_cell(double share) { return std::isnan(share) ? "" : fmt::format("{:.6f}", share); }

// Precision of a threshold point: empty when it keeps nothing (no kept neuron, so no share of them is right).
std::string precision_cell(const ThresholdCounts& c) {
  return c.predicted > 0 ? fmt::format("{:.6f}", c.tp / c.predicted) : "";
}

// The per-layer activity of the oracle statistics through the store's check (activity_check.h).
void warn_if_no_contextual_sparsity(const std::vector<LayerStats>& stats, const std::string& acts) {
  std::vector<double> active;
  for (const auto& st : stats) active.push_back(st.mlp_active_mean);
  if (const std::string w = untrained_weights_warning(active, acts); !w.empty()) warn(w, kRandomWeightsWarning);
}

}  // namespace

void run_measure(const MeasureOptions& o) {
  c10::InferenceMode inference_mode;
  check_interrupt("measure");
  const auto t0 = std::chrono::steady_clock::now();
  const ActivationReader reader(o.acts);
  for (LayerField f : {LayerField::kAttnInput, LayerField::kMlpInput, LayerField::kFc1Active, LayerField::kHeadNorm}) {
    reader.require_field(f, "measure (its per-layer statistics)");
  }
  MeasureStatsOptions so;
  so.norm_shares = o.sweeps.norm_share;
  so.max_rows = o.max_rows;
  so.show_progress = o.show_progress;
  const EarlierMeasure earlier(o.reuse_from, o.oracle_key, o.predictor_key);
  const std::optional<std::vector<LayerStats>> reused_stats = earlier.oracle(o.sweeps.norm_share);
  if (reused_stats)
    std::fprintf(stderr, "measure: oracle statistics reused from %s/measure.json (same store and norm shares)\n",
                 o.reuse_from.c_str());
  const std::vector<LayerStats> stats = reused_stats ? *reused_stats : measure_store_stats(reader, so);
  const int64_t n = o.max_rows > 0 ? std::min(o.max_rows, reader.rows()) : reader.rows();

  nlohmann::json layers = nlohmann::json::array();
  std::string csv = "layer,mlp_active_mean,mlp_sparsity,mlp_active_std,mlp_ever_active";
  for (double s : o.sweeps.norm_share) csv += fmt::format(",heads_for_{:g}", s);
  csv += ",cos_attn_mlp,cos_next_layer,norm_x,norm_attn_delta,norm_mlp_x,norm_mlp_delta\n";
  for (const auto& st : stats) {
    nlohmann::json shares = nlohmann::json::object();
    csv += fmt::format("{},{:.6f},{:.6f},{:.6f},{:.6f}", st.layer, st.mlp_active_mean, 1 - st.mlp_active_mean,
                       st.mlp_active_std, st.mlp_ever_active);
    for (size_t k = 0; k < o.sweeps.norm_share.size(); ++k) {
      shares[fmt::format("{:g}", o.sweeps.norm_share[k])] = st.heads_for_share[k];
      csv += fmt::format(",{:.6f}", st.heads_for_share[k]);
    }
    csv += fmt::format(",{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f}\n", st.cos_attn_mlp, st.cos_next_layer, st.norm_x,
                       st.norm_attn_delta, st.norm_mlp_x, st.norm_mlp_delta);
    layers.push_back({{"layer", st.layer},
                      {"mlp_active_mean", st.mlp_active_mean},
                      {"mlp_sparsity", 1 - st.mlp_active_mean},
                      {"mlp_active_std", st.mlp_active_std},
                      {"mlp_ever_active", st.mlp_ever_active},
                      {"heads_fraction_for_norm_share", shares},
                      {"cos_attn_mlp", st.cos_attn_mlp},
                      {"cos_next_layer", st.cos_next_layer},
                      {"norm_x", st.norm_x},
                      {"norm_attn_delta", st.norm_attn_delta},
                      {"norm_mlp_x", st.norm_mlp_x},
                      {"norm_mlp_delta", st.norm_mlp_delta}});
  }

  std::string sweep_csv = "layer,kind,selector,param,recall,precision,kept_fraction,mass_recall,oracle_mass_recall\n";
  if (!o.predictors.empty()) {
    const OptConfig config = opt_config_from_json_text(reader.meta().model_config, o.acts + " (model_config)");
    const at::Device device = parse_device(o.device);
    DV_CHECK(o.predictor_dtype == "fp32" || o.predictor_dtype == "int8",
             "measure: --predictor-dtype '{}' is not fp32 or int8", o.predictor_dtype);
    PredictorSet set = load_predictors(o.predictors, config).to(device, at::kFloat);
    if (o.predictor_dtype == "int8") set = set.int8_simulated();
    SharedStore store{reader, {}};
    // What each layer and kind still has to measure; one bar over all of it (layer-rows per kind run).
    const std::vector<int64_t> measured = set.layers();
    std::vector<std::pair<KindSweep, KindSweep>> sweeps(measured.size());
    std::vector<std::pair<KindTodo, KindTodo>> todo(measured.size());
    int64_t work = 0, reused = 0;
    for (size_t i = 0; i < measured.size(); ++i) {
      const int64_t l = measured[i];
      todo[i] = {plan_kind(earlier, l, "mlp", o.sweeps.mlp_topk_fractions, o.sweeps.mlp_thresholds, sweeps[i].first),
                 plan_kind(earlier, l, "att", o.sweeps.head_keep_fractions, o.sweeps.mlp_thresholds, sweeps[i].second)};
      for (const KindTodo* t : {&todo[i].first, &todo[i].second}) (t->any() ? work : reused) += 1;
    }
    if (reused > 0)
      std::fprintf(stderr, "measure: %lld of %lld predictor sweeps (layer x kind) reused whole from %s/measure.json\n",
                   static_cast<long long>(reused), static_cast<long long>(2 * measured.size()), o.reuse_from.c_str());
    std::fprintf(stderr, "measure: predictor sweeps of %lld layers x 2 kinds over %lld rows\n",
                 static_cast<long long>(measured.size()), static_cast<long long>(n));
    Progress bar("measure predictors", work * n, "layer-rows", o.show_progress);
    for (size_t i = 0; i < measured.size(); ++i) {
      const int64_t l = measured[i];
      auto& [mlp, att] = sweeps[i];
      if (todo[i].first.any() || todo[i].second.any())
        sweep_layer(store, set, l, n, o, device, todo[i].first, todo[i].second, mlp, att, bar);
      layers[l]["predictor"] = {{"mlp", kind_sweep_json(mlp, o.sweeps.mlp_thresholds)},
                                {"att", kind_sweep_json(att, o.sweeps.mlp_thresholds)}};
      for (const auto* kind : {&mlp, &att}) {
        const char* name = kind == &mlp ? "mlp" : "att";
        for (const auto& t : kind->topk.topk)
          sweep_csv += fmt::format("{},{},topk,{:g},{:.6f},,{:.6f},{},{}\n", l, name, t.fraction, t.recall,
                                   static_cast<double>(t.k) / kind->topk.n_out, mass_cell(t.mass_recall),
                                   mass_cell(t.oracle_mass_recall));
        for (size_t i = 0; i < o.sweeps.mlp_thresholds.size(); ++i) {
          const auto& c = kind->thresholds[i];
          sweep_csv += fmt::format("{},{},threshold,{:g},{:.6f},{},{:.6f},,\n", l, name, o.sweeps.mlp_thresholds[i],
                                   c.positives > 0 ? c.tp / c.positives : 1.0, precision_cell(c),
                                   c.elements > 0 ? c.predicted / c.elements : 0.0);
        }
      }
    }
    bar.complete();
  }
  warn_if_no_contextual_sparsity(stats, o.acts);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double layer_rows = static_cast<double>(n) * static_cast<double>(reader.shape().n_layers);
  std::fprintf(stderr, "measure: %lld rows x %lld layers in %.1f s (%.0f layer-rows/s)\n", static_cast<long long>(n),
               static_cast<long long>(reader.shape().n_layers), seconds, seconds > 0 ? layer_rows / seconds : 0.0);
  nlohmann::json doc = {{"acts", o.acts},
                        {"oracle_key", o.oracle_key},
                        {"predictor_key", o.predictor_key},
                        {"predictors", o.predictors},
                        {"predictor_dtype", o.predictor_dtype},
                        {"rows", n},
                        {"layers", layers},
                        {"model", reader.meta().model_dir},
                        {"corpus", reader.meta().corpus},
                        {"seconds", seconds},
                        {"layer_rows_per_second", seconds > 0 ? layer_rows / seconds : 0.0}};
  make_dirs(o.out);
  write_file_atomic(o.out + "/measure_layers.csv", csv);
  if (!o.predictors.empty()) write_file_atomic(o.out + "/predictor_sweep.csv", sweep_csv);
  write_file_atomic(o.out + "/measure.json", doc.dump(1) + "\n");
  try_plot("measure", o.out);
}

}  // namespace dv
