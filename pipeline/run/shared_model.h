// shared_model.h: the experiment's checkpoint and tokenizer, loaded on first use and shared by the stages of
// one `dejavu run` that run the model (collect and eval), so a real checkpoint is read once per run.
#pragma once

#include <memory>

#include "pipeline/experiment/experiment.h"

namespace dv {

class OptModel;
class BpeTokenizer;

class SharedModel {
 public:
  explicit SharedModel(const Experiment& e);
  ~SharedModel();
  OptModel& model();
  BpeTokenizer& tokenizer();

 private:
  void load();
  const Experiment& e_;
  std::unique_ptr<OptModel> model_;
  std::unique_ptr<BpeTokenizer> tokenizer_;
};

}  // namespace dv
