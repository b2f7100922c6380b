// predicted_scorers.cpp: PredictorSet -> eval scorers (logits from the input each predictor was trained on).
#include "pipeline/scoring/predicted_scorers.h"

#include <memory>

#include "kernels/common/error.h"
#include "pipeline/train/predictor_set.h"

namespace dv {

Scorers load_predicted_scorers(const std::string& predictor_dir, const OptModel& model) {
  auto set = std::make_shared<PredictorSet>(
      load_predictors(predictor_dir, model.config()).to(model.device(), at::kFloat));
  for (int64_t l = 0; l < model.config().num_hidden_layers; ++l)
    DV_CHECK(set->has_layer(l), "{}: no predictor for layer {} (train every layer to evaluate predicted sparsity)",
             predictor_dir, l);
  Scorers s;
  s.mlp = [set](const MaskQuery& q) { return set->mlp_logits(q); };
  s.heads = [set](const MaskQuery& q) { return set->head_logits(q); };
  return s;
}

}  // namespace dv
