// predicted_scorers.h: wraps trained low-rank predictors (a `dejavu train` directory) as eval scorers:
// each layer's MLP and head logits computed from the input the predictor was trained on (the layer's
// own block input, or the previous layer's for lookahead).
#pragma once

#include <string>

#include "engine/models/opt_model.h"
#include "pipeline/scoring/sparsity_masks.h"

namespace dv {

// The MLP and head scorers of a predictor directory, as the reference masks take them.
struct Scorers {
  ScoreFn mlp, heads;  // empty when no predictors were given
};

// dv::Error naming the file when the predictors do not match the model.
Scorers load_predicted_scorers(const std::string& predictor_dir, const OptModel& model);

}  // namespace dv
