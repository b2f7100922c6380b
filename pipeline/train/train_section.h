// train_section.h: the train section of an experiment and the recipe flags of `dejavu train`, declared once
// (pipeline/experiment/option_table.h): each field's default here (the paper's recipe), its key, help, range
// and hash role in visit_train_options. TrainOptions (train_options.h) takes its defaults from here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/experiment/option_table.h"

namespace dv {

struct TrainSection {
  int64_t rank_mlp = 0;
  int64_t rank_att = 0;
  int64_t epochs = 20;
  double lr_mlp = 1e-3;
  double lr_att = 1e-4;
  double weight_decay = 0.01;
  int64_t batch_size = 1024;
  double val_fraction = 0.05;
  int64_t patience = 5;
  double stop_recall = 0.99;
  double att_top_fraction = 0.3;
  std::string mlp_input = "mlp_input";
  std::string att_input = "prev_attn_input";
  std::vector<int64_t> layers;
  bool operator==(const TrainSection& o) const;
};
inline const TrainSection kTrainDefaults{};

// In the order the resolved YAML writes them.
template <class Section, class Visitor>
void visit_train_options(Section& s, Visitor& v) {
  v.integer(s.rank_mlp, {"rank_mlp", "MLP predictor rank; 0 = clamp(d/2, 64, 1000) (the paper: 1000)"},
            IntRange{0, 1 << 16});
  v.integer(s.rank_att, {"rank_att", "head predictor rank; 0 = clamp(d/4, 32, 512)"}, IntRange{0, 1 << 16});
  v.integer(s.epochs, {"epochs", "upper bound; early stopping usually ends sooner"}, IntRange{1, 10000});
  v.number(s.lr_mlp, {"lr_mlp", "AdamW learning rate of the MLP predictors (paper: run_c4_mlp.sh)"}, kFraction);
  v.number(s.lr_att, {"lr_att", "AdamW learning rate of the head predictors (paper: run_c4_att.sh)"}, kFraction);
  v.number(s.weight_decay, {"weight_decay", "AdamW weight decay"}, kUnit);
  v.integer(s.batch_size, {"batch_size", "rows per optimiser step"}, IntRange{1, 1 << 24});
  v.number(s.val_fraction, {"val_fraction", "held-out share of the rows (the paper's 95/5 split)"}, kOpenUnit);
  v.integer(s.patience, {"patience", "epochs without a validation recall gain before stopping"}, IntRange{1, 10000});
  v.number(s.stop_recall, {"stop_recall", "stop once validation recall exceeds this (the paper's rule)"}, kFraction);
  v.number(s.att_top_fraction, {"att_top_fraction", "head label: the top fraction of heads by output norm (paper: 0.3)"},
           kFraction);
  v.choice(s.mlp_input, {"mlp_input", "what the MLP predictor reads (prev_*: layer l-1's; layer 0 uses attn_input)"},
           {"mlp_input", "attn_input", "prev_mlp_input", "prev_attn_input"});
  v.choice(s.att_input, {"att_input", "what the head predictor reads (prev_attn_input: the paper's lookahead)"},
           {"prev_attn_input", "attn_input", "prev_mlp_input"});
  v.layer_list(s.layers, {"layers", "layers to train; empty = all (written \"all\")"});
}

}  // namespace dv
