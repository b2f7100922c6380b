// run_summary.cpp: one reader per result file; each returns its lines or nothing when the file is absent.
#include "pipeline/report/run_summary.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "pipeline/experiment/experiment.h"
#include "pipeline/report/csv_table.h"
#include "pipeline/report/result_table.h"
#include "pipeline/report/run_notes.h"
#include "pipeline/report/stage_record.h"
#include "pipeline/store/activity_check.h"

namespace dv {
namespace {

namespace fs = std::filesystem;

// <run>/<stage>/<name>, or <run>/<name> for a folder of one stage's results (`dejavu eval --out DIR`).
std::optional<std::string> result_file(const std::string& run, const std::string& stage, const std::string& name) {
  for (const fs::path& p : {fs::path(run) / stage / name, fs::path(run) / name})
    if (fs::exists(p)) return p.string();
  return std::nullopt;
}

std::string pct(double fraction) { return fmt::format("{:.1f}%", 100 * fraction); }

std::string density_pct(double d) { return fmt::format("{:g}%", 100 * d); }

struct Spread {
  double mean = 0, min = 0, max = 0;
  int64_t argmin = 0, argmax = 0, n = 0;
};

Spread spread(const CsvTable& t, const std::string& column) {
  Spread s;
  s.min = INFINITY;
  s.max = -INFINITY;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const auto v = t.number(r, column);
    if (!v) continue;
    s.mean += *v;
    if (*v < s.min) s.min = *v, s.argmin = static_cast<int64_t>(r);
    if (*v > s.max) s.max = *v, s.argmax = static_cast<int64_t>(r);
    ++s.n;
  }
  if (s.n > 0) s.mean /= static_cast<double>(s.n);
  return s;
}

void measure_lines(const std::string& run, std::vector<std::string>& out) {
  const auto path = result_file(run, "measure", "measure_layers.csv");
  if (!path) return;
  const CsvTable t = read_csv(*path);
  const Spread mlp = spread(t, "mlp_sparsity");
  if (mlp.n > 0)
    out.push_back(fmt::format("oracle MLP sparsity (fc1 neurons silent per token): {} on average over {} layers, "
                              "{} in layer {} to {} in layer {}",
                              pct(mlp.mean), mlp.n, pct(mlp.min), t.cell(mlp.argmin, "layer"), pct(mlp.max),
                              t.cell(mlp.argmax, "layer")));
  for (const auto& h : t.header) {
    if (h.rfind("heads_for_", 0) != 0) continue;
    const Spread s = spread(t, h);
    out.push_back(fmt::format("oracle heads needed for {} of the attention output norm: {} of a layer's heads on "
                              "average ({} to {})",
                              pct(std::stod(h.substr(10))), pct(s.mean), pct(s.min), pct(s.max)));
    break;  // the first share is the headline; the report has the others
  }
}

// Mean over layers of `column` on rows of one kind and selector, keyed by the parameter.
std::map<double, double> sweep_means(const CsvTable& t, const std::string& kind, const std::string& selector,
                                     const std::string& column) {
  std::map<double, std::pair<double, int>> acc;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    if (t.cell(r, "kind") != kind || t.cell(r, "selector") != selector) continue;
    const auto p = t.number(r, "param"), v = t.number(r, column);
    if (!p || !v || !std::isfinite(*v)) continue;  // an empty cell: not stored (e.g. mass without fc1 values)
    acc[*p].first += *v;
    acc[*p].second += 1;
  }
  std::map<double, double> out;
  for (const auto& [p, sum_n] : acc) out[p] = sum_n.first / sum_n.second;
  return out;
}

void train_lines(const std::string& run, std::vector<std::string>& out) {
  const auto path = result_file(run, "train", "metrics.json");
  if (!path) return;
  const nlohmann::json j = nlohmann::json::parse(read_small_file(*path), nullptr, false);
  if (j.is_discarded() || !j.contains("train_rows")) return;
  out.push_back(fmt::format("predictors trained on {} rows ({} held out for validation) of {} collected",
                            j.value("train_rows", int64_t{0}), j.value("val_rows", int64_t{0}),
                            j.value("store_rows", int64_t{0})));
}

void predictor_lines(const std::string& run, std::vector<std::string>& out) {
  const auto path = result_file(run, "measure", "predictor_sweep.csv");
  if (!path) return;
  const CsvTable t = read_csv(*path);
  for (const auto& [kind, what] : {std::pair{"mlp", "MLP neurons"}, std::pair{"att", "heads"}}) {
    const auto recall = sweep_means(t, kind, "topk", "recall");
    const auto mass = sweep_means(t, kind, "topk", "mass_recall");
    if (recall.empty()) continue;
    std::string line = fmt::format("predicted {}, top-k kept: recall of the oracle's set (mean over layers)", what);
    for (const auto& [p, r] : recall)
      line += fmt::format(", {} {:.3f}", density_pct(p), r) +
              (mass.count(p) ? fmt::format(" ({} of the mass)", pct(mass.at(p))) : "");
    // The MLP's activation mass needs the fc1 values, which collect keeps only with store_fc1_values.
    if (mass.empty()) line += "; share of the activation mass: not stored (collect.store_fc1_values is off)";
    out.push_back(line);
    // The threshold nearest 0.5 says what the predictor itself would keep: its sparsity against the oracle's.
    const auto kept = sweep_means(t, kind, "threshold", "kept_fraction");
    const auto th_recall = sweep_means(t, kind, "threshold", "recall");
    if (kept.empty()) continue;
    const auto best = std::min_element(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
      return std::abs(a.first - 0.5) < std::abs(b.first - 0.5);
    });
    out.push_back(fmt::format("predicted {} at threshold {:g}: keeps {} (predicted sparsity {}) with recall {:.3f}",
                              what, best->first, pct(best->second), pct(1 - best->second),
                              th_recall.count(best->first) ? th_recall.at(best->first) : NAN));
  }
}

// Layers kept whole in every sparse point: eval.json's context lists them (-1 = the last).
std::set<int64_t> dense_layers(const std::string& run, int64_t n_layers) {
  std::set<int64_t> out;
  const auto path = result_file(run, "eval", "eval.json");
  if (!path) return out;
  const nlohmann::json j = nlohmann::json::parse(read_small_file(*path), nullptr, false);
  if (j.is_discarded() || !j.contains("context") || !j["context"].contains("dense_layers")) return out;
  for (const auto& l : j["context"]["dense_layers"])
    if (l.is_number_integer()) out.insert(l.get<int64_t>() < 0 && n_layers > 0 ? n_layers + l.get<int64_t>() : l.get<int64_t>());
  return out;
}

std::string eval_context(const std::string& run) {
  const auto path = result_file(run, "eval", "eval.json");
  if (!path) return "";
  const nlohmann::json j = nlohmann::json::parse(read_small_file(*path), nullptr, false);
  if (j.is_discarded() || !j.contains("context")) return "";
  const nlohmann::json& c = j["context"];
  const std::string text = c.value("text", "");
  const fs::path p(text);
  // "wikitext-2/test.txt": the data set's folder says what the text is, the file name alone does not.
  const std::string name = p.has_parent_path() ? (p.parent_path().filename() / p.filename()).string() : text;
  return fmt::format(" on {} ({} tokens)", name, c.value("tokens_scored", int64_t{0}));
}

void eval_lines(const RunInfo& info, std::vector<std::string>& out) {
  const auto path = result_file(info.dir, "eval", "eval.json");
  if (!path) return;
  const CsvTable t = read_result_rows(*path, "points");
  std::optional<double> dense;
  for (size_t r = 0; r < t.rows.size(); ++r)
    if (t.cell(r, "mode") == "dense") dense = t.number(r, "perplexity");
  if (!dense) return;
  out.push_back(fmt::format("perplexity{}: dense {:.2f}", eval_context(info.dir), *dense));
  const int64_t n_layers = info.model_config ? info.model_config->num_hidden_layers : 0;
  const std::set<int64_t> whole = dense_layers(info.dir, n_layers);
  // One line per (target, density): oracle and predicted side by side.
  struct Row {
    std::string target;
    double mlp = 1, heads = 1;
    std::optional<double> oracle, predicted;
  };
  std::vector<Row> rows;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const std::string mode = t.cell(r, "mode");
    if (mode != "oracle" && mode != "predicted") continue;
    const double mlp = t.number(r, "mlp_density").value_or(1), heads = t.number(r, "head_density").value_or(1);
    auto it = std::find_if(rows.begin(), rows.end(), [&](const Row& x) {
      return x.target == t.cell(r, "target") && x.mlp == mlp && x.heads == heads;
    });
    if (it == rows.end()) it = rows.insert(rows.end(), Row{t.cell(r, "target"), mlp, heads, {}, {}});
    (mode == "oracle" ? it->oracle : it->predicted) = t.number(r, "perplexity");
  }
  auto what = [](const Row& r) {
    if (r.target == "mlp") return fmt::format("MLP {} kept", density_pct(r.mlp));
    if (r.target == "heads") return fmt::format("heads {} kept", density_pct(r.heads));
    return fmt::format("MLP {} + heads {} kept", density_pct(r.mlp), density_pct(r.heads));
  };
  auto value = [&](const std::optional<double>& p) {
    return p ? fmt::format("{:.2f} ({})", *p, ppl_change(*p / *dense)) : std::string("-");
  };
  for (const Row& r : rows)
    out.push_back(fmt::format("  {}: oracle {}, predicted {}", what(r), value(r.oracle), value(r.predicted)));
  // The sparsest MLP point whose predicted perplexity stays within 1% of dense: the paper's claim in one line.
  const Row* best = nullptr;
  for (const Row& r : rows)
    if (r.target == "mlp" && r.predicted && *r.predicted <= 1.01 * *dense && (best == nullptr || r.mlp < best->mlp))
      best = &r;
  std::string layers_note;
  if (!whole.empty() && n_layers > 0) {
    std::string list;
    for (int64_t l : whole) list += (list.empty() ? "" : ", ") + std::to_string(l);
    const double k = static_cast<double>(whole.size()), n = static_cast<double>(n_layers);
    if (best != nullptr)
      layers_note = fmt::format(" in the sparse layers; layer{} {} dense, so {} of all fc1 neurons", k > 1 ? "s" : "",
                                list, pct((best->mlp * (n - k) + k) / n));
  }
  if (run_has_warning(info.dir, kRandomWeightsWarning)) {
    // Untrained weights: a sparse point near dense says nothing about contextual sparsity (see the warnings).
    out.push_back("no claim about the sparsest point near dense: the weights look untrained (about 50% of the MLP "
                  "active in every layer; see the warnings)");
    return;
  }
  if (best != nullptr)
    out.push_back(fmt::format("sparsest predicted MLP point within 1% of dense: {} kept{}: {:.2f} ({})",
                              density_pct(best->mlp), layers_note, *best->predicted, ppl_change(*best->predicted / *dense)));
  else if (std::any_of(rows.begin(), rows.end(), [](const Row& r) { return r.target == "mlp" && r.predicted; }))
    out.push_back("no predicted MLP point is within 1% of dense perplexity");
}

// Zero-shot tasks (tasks.json of eval.tasks or `dejavu tasks --out`): per task its dense accuracy with the
// standard error and the chance level (what a reader needs to tell a score from a guess), then the sparse
// points as nested lines, as the perplexity lines are.
void task_lines(const std::string& run, std::vector<std::string>& out) {
  const auto path = result_file(run, "eval", "tasks.json");
  if (!path) return;
  const nlohmann::json j = nlohmann::json::parse(read_small_file(*path), nullptr, false);
  if (j.is_discarded() || !j.contains("points") || !j.contains("context")) return;
  auto acc = [](const nlohmann::json& p) -> std::optional<std::pair<double, double>> {
    if (!p.contains("metrics") || !p["metrics"].contains("acc")) return std::nullopt;
    const auto& m = p["metrics"]["acc"];
    return std::pair{m.value("value", 0.0), m["stderr"].is_number() ? m["stderr"].get<double>() : 0.0};
  };
  for (const auto& t : j["context"].value("tasks", nlohmann::json::array())) {
    const std::string name = t.value("task", "");
    std::string line = fmt::format("task {} ({} docs; chance acc {:.3f})", name, t.value("docs", int64_t{0}),
                                   t.value("chance_acc", 0.0));
    std::vector<std::string> sparse;
    for (const auto& p : j["points"]) {
      if (p.value("task", "") != name) continue;
      const auto a = acc(p);
      if (!a) continue;
      const std::string mode = p.value("mode", "");
      if (mode == "dense") {
        line += fmt::format(": acc dense {:.3f} ± {:.3f}", a->first, a->second);
        continue;
      }
      const std::string target = p.value("target", "");
      const std::string kept = target == "heads" ? fmt::format("heads {} kept", density_pct(p.value("head_density", 1.0)))
                               : target == "both"
                                   ? fmt::format("MLP {} + heads {} kept", density_pct(p.value("mlp_density", 1.0)),
                                                 density_pct(p.value("head_density", 1.0)))
                                   : fmt::format("MLP {} kept", density_pct(p.value("mlp_density", 1.0)));
      sparse.push_back(fmt::format("  {}, {}: acc {:.3f} ± {:.3f}", kept, mode, a->first, a->second));
    }
    out.push_back(line);
    out.insert(out.end(), sparse.begin(), sparse.end());
  }
}

// Stages this summary does not know (tasks, bench, ...): where their result tables are.
void other_stage_lines(const std::string& run, std::vector<std::string>& out) {
  static const std::set<std::string> kKnown = {"collect", "train", "measure", "eval"};
  if (!fs::is_directory(run)) return;
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(run)) {
    if (!entry.is_directory() || kKnown.count(entry.path().filename().string())) continue;
    for (const auto& f : fs::directory_iterator(entry.path())) {
      const std::string ext = f.path().extension().string();
      if (ext == ".csv") {
        const CsvTable t = read_csv(f.path().string());
        found.push_back(fmt::format("{}/{}: {} rows", entry.path().filename().string(),
                                    f.path().filename().string(), t.rows.size()));
      }
    }
  }
  std::sort(found.begin(), found.end());
  for (const auto& f : found) out.push_back("results " + f + " (tables in the report)");
}

void time_lines(const std::string& run, std::vector<std::string>& out) {
  std::string line;
  double total = 0, cpu = 0, load = -1;
  bool all_cpu = true;
  for (Stage s : kAllStages) {
    const std::string dir = run + "/" + stage_name(s);
    if (!fs::is_directory(dir)) continue;
    const auto rec = read_stage_record(dir);
    if (!rec) continue;
    line += fmt::format("{}{} {:.0f} s", line.empty() ? "" : ", ", stage_name(s), rec->seconds);
    total += rec->seconds;
    cpu += rec->cpu_seconds;
    all_cpu = all_cpu && rec->cpu_seconds >= 0;
    load = std::max(load, rec->machine.load_1min);
  }
  if (line.empty()) return;
  line = fmt::format("stage wall times: {} (total {:.0f} s", line, total);
  if (all_cpu) line += fmt::format("; CPU {:.0f} s", cpu);
  if (load >= 0) line += fmt::format("; load up to {:.1f}", load);
  out.push_back(line + ")");
}

}  // namespace

std::string ppl_change(double ratio) {
  if (ratio >= 2) return fmt::format("x{:.1f}", ratio);
  const double p = 100 * (ratio - 1);
  return std::abs(p) < 0.1 && p != 0 ? fmt::format("{:+.2f}%", p) : fmt::format("{:+.1f}%", p);
}

std::vector<std::string> summarize_run(const RunInfo& info) {
  std::vector<std::string> out;
  measure_lines(info.dir, out);
  train_lines(info.dir, out);
  predictor_lines(info.dir, out);
  eval_lines(info, out);
  task_lines(info.dir, out);
  other_stage_lines(info.dir, out);
  time_lines(info.dir, out);
  return out;
}

}  // namespace dv
