// train_options.h: every knob of `dejavu train`, with the paper's recipe as the defaults
// (sparse_predictor/trainer_mlp.py, trainer_att.py, run_c4_*.sh of the authors' repository).
// The experiment YAML's `train` section is mapped onto this struct by the caller, so that the
// stage does not depend on the YAML code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/predictors/predictor_input.h"

namespace dv {

struct TrainOptions {
  int64_t rank_mlp = 0;             // MLP predictor rank; 0: default_rank_mlp(d)
  int64_t rank_att = 0;             // attention predictor rank; 0: default_rank_att(d)
  int64_t epochs = 20;              // upper bound; early stopping usually ends sooner
  double lr_mlp = 1e-3;             // AdamW learning rate, MLP predictors (run_c4_mlp.sh)
  double lr_att = 1e-4;             // AdamW learning rate, attention predictors (run_c4_att.sh)
  double weight_decay = 0.01;       // AdamW decoupled weight decay
  int64_t batch_size = 1024;        // rows per optimiser step
  double val_fraction = 0.05;       // the last fraction of the store's rows is held out (95/5 split)
  int64_t patience = 5;             // stop a predictor after this many epochs without a validation recall gain
  double stop_recall = 0.99;        // ... or once its validation recall exceeds this
  double att_top_fraction = 0.3;    // attention label: the top floor(fraction * heads) heads by output norm
  double mlp_negative_offset = 0.005;  // negatives weigh positive_rate + offset (trainer_mlp.py)
  double att_negative_offset = 0.0;    // trainer_att.py weighs negatives by the positive rate alone
  PredictorInput mlp_input = PredictorInput::kMlpInput;      // what the paper trains MLP predictors on
  PredictorInput att_input = PredictorInput::kPrevAttnInput; // the paper's one-block lookahead for heads
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
