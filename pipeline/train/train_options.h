// train_options.h: every knob of `dejavu train`. The recipe's (the train section's, train_section.h: the
// paper's sparse_predictor/trainer_mlp.py, trainer_att.py, run_c4_*.sh) take their defaults from there and
// train_options() fills them from a section; the rest (device, threads, buffers, metrics) are the command's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/train/predictor_input.h"
#include "pipeline/train/train_section.h"

namespace dv {

struct TrainOptions {
  int64_t rank_mlp = kTrainDefaults.rank_mlp;  // 0: default_rank_mlp(d)
  int64_t rank_att = kTrainDefaults.rank_att;  // 0: default_rank_att(d)
  int64_t epochs = kTrainDefaults.epochs;
  double lr_mlp = kTrainDefaults.lr_mlp;
  double lr_att = kTrainDefaults.lr_att;
  double weight_decay = kTrainDefaults.weight_decay;
  int64_t batch_size = kTrainDefaults.batch_size;
  double val_fraction = kTrainDefaults.val_fraction;  // the last fraction of the store's rows is held out
  int64_t patience = kTrainDefaults.patience;
  double stop_recall = kTrainDefaults.stop_recall;
  double att_top_fraction = kTrainDefaults.att_top_fraction;  // heads labelled: top floor(fraction * heads) by norm
  double mlp_negative_offset = 0.005;  // negatives weigh positive_rate + offset (trainer_mlp.py)
  double att_negative_offset = 0.0;    // trainer_att.py weighs negatives by the positive rate alone
  PredictorInput mlp_input = parse_predictor_input(kTrainDefaults.mlp_input, "train.mlp_input");
  PredictorInput att_input = parse_predictor_input(kTrainDefaults.att_input, "train.att_input");
  std::vector<int64_t> layers;      // layers to train; empty: all
  std::vector<double> topk_fractions = {0.05, 0.1, 0.2, 0.3, 0.5};  // keep-fractions the metrics report
  std::string device = "cpu";       // "cpu", "cuda", "cuda:N" or "auto" (engine parse_device)
  int64_t threads = 0;              // CPU threads in all; 0: hardware concurrency
  int64_t parallel_layers = 0;      // layers trained at once on CPU; 0: one per thread, at most the layer count
  int64_t buffer_mb = 256;          // host memory for one layer's row buffers (bounds memory for any N);
                                    // layers trained at once each hold this much
  int64_t max_rows = 0;             // use only the store's first rows (0: all)
  uint64_t seed = 0;                // initialisation and shuffling; a layer's result depends only on it and the layer
  bool progress = true;             // progress bar on stderr
};

// The train section's recipe as options; `where` prefixes keys in errors ("train." or "--"). The rest keep
// their defaults.
TrainOptions train_options(const TrainSection& section, const std::string& where);

// Default ranks. The paper uses rank 1000 for every OPT from 1.3B (d = 2048) up; clamp(d/2, 64, 1000)
// gives exactly that there and scales down with d below (opt-125m: 384, opt-mini d=320: 160), keeping
// the MLP predictor's cost near or below the paper's share of fc1's at 1.3B (5r/4d = 0.61).
int64_t default_rank_mlp(int64_t d);
// The composite map has rank <= heads, so any rank >= heads is already full-rank for the head
// predictor; clamp(d/4, 32, 512) ends at the paper latency code's 512 and is cheap for small models.
int64_t default_rank_att(int64_t d);

// Options with every "auto" (0, empty) replaced for a store of this shape; dv::Error naming
// `where` on out-of-range values (negative rates, fractions outside (0,1), unknown layers, ...).
TrainOptions resolve_train_options(const TrainOptions& options, int64_t n_layers, int64_t d, const std::string& where);

// The options that determine a layer's trained weights, as JSON (seed, ranks, rates, inputs, buffer,
// ...; not the layer list, device or thread counts); stored in metrics.json and in per-layer partial
// files so that a resume never mixes two configurations.
std::string train_options_json(const TrainOptions& options);

}  // namespace dv
