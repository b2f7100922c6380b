// train_options.cpp: defaults that depend on the model, validation, and the options' JSON.
#include "pipeline/train/train_options.h"

#include <algorithm>
#include <thread>

#include <nlohmann/json.hpp>

#include "kernels/common/error.h"

namespace dv {

TrainOptions train_options(const TrainSection& t, const std::string& where) {
  TrainOptions o;
  o.rank_mlp = t.rank_mlp;
  o.rank_att = t.rank_att;
  o.epochs = t.epochs;
  o.lr_mlp = t.lr_mlp;
  o.lr_att = t.lr_att;
  o.weight_decay = t.weight_decay;
  o.batch_size = t.batch_size;
  o.val_fraction = t.val_fraction;
  o.patience = t.patience;
  o.stop_recall = t.stop_recall;
  o.att_top_fraction = t.att_top_fraction;
  o.mlp_input = parse_predictor_input(t.mlp_input, where + "mlp_input");
  o.att_input = parse_predictor_input(t.att_input, where + "att_input");
  o.layers = t.layers;
  return o;
}

int64_t default_rank_mlp(int64_t d) { return std::clamp<int64_t>(d / 2, 64, 1000); }

int64_t default_rank_att(int64_t d) { return std::clamp<int64_t>(d / 4, 32, 512); }

TrainOptions resolve_train_options(const TrainOptions& options, int64_t n_layers, int64_t d, const std::string& where) {
  TrainOptions o = options;
  if (o.rank_mlp == 0) o.rank_mlp = default_rank_mlp(d);
  if (o.rank_att == 0) o.rank_att = default_rank_att(d);
  DV_CHECK(o.rank_mlp > 0 && o.rank_att > 0, "{}: ranks must be positive (rank_mlp {}, rank_att {})", where, o.rank_mlp,
           o.rank_att);
  DV_CHECK(o.epochs >= 1, "{}: epochs must be at least 1 (got {})", where, o.epochs);
  DV_CHECK(o.lr_mlp > 0 && o.lr_att > 0, "{}: learning rates must be positive (lr_mlp {}, lr_att {})", where, o.lr_mlp,
           o.lr_att);
  DV_CHECK(o.weight_decay >= 0, "{}: weight_decay must be >= 0 (got {})", where, o.weight_decay);
  DV_CHECK(o.batch_size >= 1, "{}: batch_size must be at least 1 (got {})", where, o.batch_size);
  DV_CHECK(o.val_fraction > 0 && o.val_fraction < 1, "{}: val_fraction must be in (0, 1) (got {})", where,
           o.val_fraction);
  DV_CHECK(o.patience >= 1, "{}: patience must be at least 1 (got {})", where, o.patience);
  DV_CHECK(o.att_top_fraction > 0 && o.att_top_fraction <= 1, "{}: att_top_fraction must be in (0, 1] (got {})", where,
           o.att_top_fraction);
  DV_CHECK(o.mlp_negative_offset >= 0 && o.att_negative_offset >= 0, "{}: negative-weight offsets must be >= 0", where);
  DV_CHECK(o.buffer_mb >= 1, "{}: buffer_mb must be at least 1 (got {})", where, o.buffer_mb);
  DV_CHECK(o.max_rows >= 0, "{}: max_rows must be >= 0 (got {})", where, o.max_rows);
  DV_CHECK(!o.topk_fractions.empty(), "{}: topk_fractions is empty", where);
  for (double f : o.topk_fractions) {
    DV_CHECK(f > 0 && f <= 1, "{}: top-k fraction {} is outside (0, 1]", where, f);
  }
  if (o.layers.empty()) {
    for (int64_t l = 0; l < n_layers; ++l) o.layers.push_back(l);
  }
  std::sort(o.layers.begin(), o.layers.end());
  o.layers.erase(std::unique(o.layers.begin(), o.layers.end()), o.layers.end());
  for (int64_t l : o.layers) {
    DV_CHECK(l >= 0 && l < n_layers, "{}: layer {} does not exist (the store has layers 0..{})", where, l, n_layers - 1);
  }
  if (o.threads == 0) o.threads = std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
  DV_CHECK(o.threads >= 1 && o.parallel_layers >= 0, "{}: threads and parallel_layers must be positive", where);
  return o;
}

std::string train_options_json(const TrainOptions& o) {
  const nlohmann::json j = {{"rank_mlp", o.rank_mlp},
                            {"rank_att", o.rank_att},
                            {"epochs", o.epochs},
                            {"lr_mlp", o.lr_mlp},
                            {"lr_att", o.lr_att},
                            {"weight_decay", o.weight_decay},
                            {"batch_size", o.batch_size},
                            {"val_fraction", o.val_fraction},
                            {"patience", o.patience},
                            {"stop_recall", o.stop_recall},
                            {"att_top_fraction", o.att_top_fraction},
                            {"mlp_negative_offset", o.mlp_negative_offset},
                            {"att_negative_offset", o.att_negative_offset},
                            {"mlp_input", predictor_input_name(o.mlp_input)},
                            {"att_input", predictor_input_name(o.att_input)},
                            {"topk_fractions", o.topk_fractions},
                            {"buffer_mb", o.buffer_mb},
                            {"max_rows", o.max_rows},
                            {"seed", o.seed}};
  return j.dump();
}

}  // namespace dv
