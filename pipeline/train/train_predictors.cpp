// train_predictors.cpp: splitting the store, resuming from partial files, the layer pool, and the
// final predictors and metrics files.
#include "pipeline/train/train_predictors.h"

#include <ATen/Parallel.h>
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/io/opt_config.h"
#include "engine/io/progress.h"
#include "engine/models/opt_weights.h"
#include "kernels/common/error.h"
#include "pipeline/train/layer_trainer.h"
#include "pipeline/train/predictor_set.h"

namespace dv {

namespace {

namespace fs = std::filesystem;

// Restores torch's intra-op thread count when the stage ends, so later stages see the user's setting.
class IntraOpThreads {
 public:
  explicit IntraOpThreads(int n) : saved_(at::get_num_threads()) { at::set_num_threads(n); }
  ~IntraOpThreads() { at::set_num_threads(saved_); }
  IntraOpThreads(const IntraOpThreads&) = delete;
  IntraOpThreads& operator=(const IntraOpThreads&) = delete;

 private:
  int saved_;
};

std::string partial_path(const std::string& out_dir, int64_t layer) {
  return (fs::path(out_dir) / kPartialDirName / fmt::format("layer_{:03}.safetensors", layer)).string();
}

// Everything a layer's weights depend on besides its index: a partial file is reused only when equal.
std::string fingerprint(const StoreMeta& meta, int64_t rows, const TrainOptions& o) {
  const nlohmann::json j = {{"store_rows", rows},
                            {"model_config", meta.model_config},
                            {"corpus_identity", meta.corpus_identity},
                            {"sample_settings", meta.sample_settings},
                            {"options", nlohmann::json::parse(train_options_json(o))}};
  return j.dump();
}

// The partial folder holds only files this stage wrote. POSIX calls rather than
// std::filesystem::remove_all: the pip LibTorch exports its own std::filesystem symbols, and its
// remove_all crashes (a null call) when it wins symbol resolution.
void remove_partial_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") ::unlink((dir + "/" + name).c_str());
  }
  ::closedir(d);
  ::rmdir(dir.c_str());
}

PredictorSet set_skeleton(const OptConfig& config, const TrainOptions& o) {
  PredictorSet set = PredictorSet::empty_for(config);
  set.mlp_input = o.mlp_input;
  set.att_input = o.att_input;
  set.rank_mlp = o.rank_mlp;
  set.rank_att = o.rank_att;
  set.att_top_fraction = o.att_top_fraction;
  return set;
}

// A finished layer from its partial file, or false when there is none or it belongs to another run.
bool read_partial(const std::string& path, const OptConfig& config, const std::string& print, int64_t layer,
                  PredictorSet* set, LayerMetrics* metrics) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  std::map<std::string, std::string> meta;
  PredictorSet part;
  try {
    part = read_predictor_file(path, &config, &meta);
  } catch (const Error&) {
    return false;  // another model's or an older format's partial file: retrain the layer over it
  }
  if (meta["fingerprint"] != print || !part.has_layer(layer)) return false;
  const nlohmann::json j = nlohmann::json::parse(meta["metrics"], nullptr, false);
  DV_CHECK(!j.is_discarded() && j.is_object(), "{}: metadata 'metrics' is not JSON", path);
  metrics->layer = layer;
  metrics->mlp = metrics_from_json(j.value("mlp", nlohmann::json()), path);
  metrics->att = metrics_from_json(j.value("att", nlohmann::json()), path);
  set->mlp[static_cast<size_t>(layer)] = part.mlp[static_cast<size_t>(layer)];
  set->att[static_cast<size_t>(layer)] = part.att[static_cast<size_t>(layer)];
  return true;
}

void write_partial(const std::string& path, const PredictorSet& skeleton, const LayerOutcome& out,
                   const std::string& print) {
  PredictorSet one = skeleton;
  const auto i = static_cast<size_t>(out.metrics.layer);
  one.mlp[i] = out.mlp;
  one.att[i] = out.att;
  const nlohmann::json m = {{"mlp", metrics_to_json(out.metrics.mlp)}, {"att", metrics_to_json(out.metrics.att)}};
  write_predictor_file(path, one, {{"fingerprint", print}, {"metrics", m.dump()}});
}

}  // namespace

TrainSummary train_predictors(const std::string& acts_path, const std::string& out_dir, const TrainOptions& options,
                              const TrainContext& context) {
  const auto t0 = std::chrono::steady_clock::now();
  const ActivationReader reader(acts_path);
  const StoreShape& shape = reader.shape();
  const OptConfig config = opt_config_from_json_text(reader.meta().model_config, acts_path + " (attribute model_config)");
  DV_CHECK(config.num_hidden_layers == shape.n_layers && config.hidden_size == shape.hidden_size &&
               config.ffn_dim == shape.ffn_dim && config.num_attention_heads == shape.num_heads,
           "{}: the model_config attribute disagrees with the store's dimensions", acts_path);
  TrainSummary summary;
  summary.options = resolve_train_options(options, shape.n_layers, shape.hidden_size, "train options");
  const TrainOptions& o = summary.options;
  const at::Device device = parse_device(o.device);
  for (int64_t l : o.layers) {
    for (const InputSource& src : {resolve_input(o.mlp_input, l), resolve_input(o.att_input, l)}) {
      reader.require_field(src.field, fmt::format("train (the layer {} predictors' input)", l));
    }
  }
  reader.require_field(LayerField::kFc1Active, "train (the MLP labels)");
  reader.require_field(LayerField::kHeadNorm, "train (the head labels)");

  const int64_t rows = o.max_rows > 0 ? std::min(o.max_rows, reader.rows()) : reader.rows();
  DV_CHECK(rows >= 2, "{}: {} rows are too few to split into training and validation rows", acts_path, rows);
  const int64_t val_rows = std::clamp<int64_t>(std::llround(static_cast<double>(rows) * o.val_fraction), 1, rows - 1);
  const int64_t train_rows = rows - val_rows;
  const std::string print = fingerprint(reader.meta(), rows, o);
  const PredictorSet skeleton = set_skeleton(config, o);

  // Layers finished by an earlier run of the same command are taken as they are.
  PredictorSet set = skeleton;
  std::map<int64_t, LayerMetrics> done;
  std::vector<int64_t> todo;
  for (int64_t l : o.layers) {
    LayerMetrics m;
    if (read_partial(partial_path(out_dir, l), config, print, l, &set, &m)) {
      done[l] = m;
      ++summary.layers_resumed;
    } else {
      todo.push_back(l);
    }
  }

  // Worker counts come from the requested layers, not the remaining ones, so that a resumed run
  // uses the clean run's thread split (and hence its floating-point summation order).
  const auto n_req = static_cast<int64_t>(o.layers.size());
  summary.workers = device.is_cuda() ? 1 : std::min(n_req, o.parallel_layers > 0 ? o.parallel_layers : o.threads);
  summary.threads_per_worker = std::max<int64_t>(1, o.threads / summary.workers);
  IntraOpThreads intra(static_cast<int>(summary.threads_per_worker));

  SharedStore store{reader, {}};
  std::mutex mu;  // guards done, set, summary counters, progress and the first error
  std::exception_ptr error;
  std::atomic<bool> abort{false}, interrupted{false};
  std::atomic<size_t> next{0};
  Progress progress("train", static_cast<int64_t>(todo.size()), "layers", o.progress);
  const std::function<bool()> stop = [&] {
    if (!abort && context.stop_requested && context.stop_requested()) interrupted = true;
    return abort || interrupted;
  };
  auto worker = [&] {
    try {
      for (size_t i = next++; i < todo.size() && !stop(); i = next++) {
        const int64_t l = todo[i];
        const LayerJob job{{l, resolve_input(o.mlp_input, l), resolve_input(o.att_input, l)}, train_rows, val_rows};
        const LayerOutcome out = train_layer(store, job, o, device, stop);
        if (!out.finished) break;
        write_partial(partial_path(out_dir, l), skeleton, out, print);
        std::lock_guard<std::mutex> lock(mu);
        done[l] = out.metrics;
        set.mlp[static_cast<size_t>(l)] = out.mlp;
        set.att[static_cast<size_t>(l)] = out.att;
        ++summary.layers_trained;
        progress.advance(1);
        if (context.on_layer_done) context.on_layer_done(l);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!error) error = std::current_exception();
      abort = true;
    }
  };
  const auto n_threads = static_cast<size_t>(std::min<int64_t>(summary.workers, std::max<size_t>(1, todo.size())));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < n_threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  progress.finish();

  for (const auto& [l, m] : done) summary.layers.push_back(m);
  summary.interrupted = done.size() < o.layers.size();
  if (!summary.interrupted) {
    save_predictors(out_dir, set);
    TrainReport report;
    report.acts = acts_path;
    report.store_rows = rows;
    report.train_rows = train_rows;
    report.val_rows = val_rows;
    report.model_config = config.to_json();
    report.options = train_options_json(o);
    report.device = device.str();
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    report.layers = summary.layers;
    write_train_metrics(out_dir, report);
    remove_partial_dir((fs::path(out_dir) / kPartialDirName).string());
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return summary;
}

}  // namespace dv
