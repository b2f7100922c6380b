// shared_model.cpp: see shared_model.h.
#include "pipeline/run/shared_model.h"

#include "engine/io/checkpoint.h"
#include "engine/models/opt_model.h"
#include "engine/models/opt_weights.h"
#include "engine/tokenizer/bpe_tokenizer.h"

namespace dv {

SharedModel::SharedModel(const Experiment& e) : e_(e) {}
SharedModel::~SharedModel() = default;

OptModel& SharedModel::model() {
  load();
  return *model_;
}

BpeTokenizer& SharedModel::tokenizer() {
  load();
  return *tokenizer_;
}

void SharedModel::load() {
  if (model_) return;
  Checkpoint ckpt(e_.model);
  tokenizer_ = std::make_unique<BpeTokenizer>(BpeTokenizer::load(e_.model));
  model_ = std::make_unique<OptModel>(load_opt_weights(ckpt, parse_scalar_type(e_.dtype), parse_device(e_.device)));
}

}  // namespace dv
