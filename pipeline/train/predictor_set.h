// predictor_set.h: one model's predictors, an MLP predictor (n = ffn) and an attention-head
// predictor (n = heads) per layer, with the input each reads, and their file format.
//
// PRED_DIR/predictors.safetensors holds fp32 tensors "mlp.<l>.w1" [rank_mlp, d], "mlp.<l>.w2"
// [ffn, rank_mlp], "att.<l>.w1" [rank_att, d], "att.<l>.w2" [heads, rank_att] for every trained
// layer l, and __metadata__ (all strings): format_version, model_config (the OptConfig as JSON),
// mlp_input, att_input, rank_mlp, rank_att, att_top_fraction, layers ("0,1,2"). README.md in this
// folder documents the same for Python users.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/io/opt_config.h"
#include "engine/models/opt_model.h"
#include "pipeline/train/lowrank_predictor.h"
#include "pipeline/train/predictor_input.h"

namespace dv {

constexpr int64_t kPredictorFormatVersion = 1;
constexpr const char* kPredictorsFileName = "predictors.safetensors";

struct PredictorSet {
  OptConfig config;                                       // the model the predictors were trained for
  PredictorInput mlp_input = PredictorInput::kMlpInput;   // what every layer's MLP predictor reads
  PredictorInput att_input = PredictorInput::kPrevAttnInput;
  int64_t rank_mlp = 0;
  int64_t rank_att = 0;
  double att_top_fraction = 0.3;      // attention labels were the top fraction of heads by output norm
  std::vector<LowRankPredictor> mlp;  // [n_layers]; empty() where the layer has no predictor
  std::vector<LowRankPredictor> att;  // [n_layers]

  // A set for `config` with no layer trained yet.
  static PredictorSet empty_for(const OptConfig& config);
  bool has_layer(int64_t layer) const;
  std::vector<int64_t> layers() const;  // trained layers, ascending
  PredictorSet to(at::Device device, at::ScalarType dtype) const;
  // Every weight replaced by scale * q of its per-row int8 quantization (engine/models/int8_rows.h), in
  // the weights' dtype: the matrices the CUDA engine's int8 predictors multiply by, for measure / eval.
  PredictorSet int8_simulated() const;

  // Logits [B, T, ffn] / [B, T, heads] for the hook query of a trained layer, reading the input
  // this set was trained on (predictor_input_tensor); cast to the predictors' dtype.
  at::Tensor mlp_logits(const MaskQuery& query) const;
  at::Tensor head_logits(const MaskQuery& query) const;
};

// One predictors file (the final PRED_DIR/predictors.safetensors or a per-layer partial file);
// `extra` metadata is stored beside the set's own keys (which it may not override).
void write_predictor_file(const std::string& path, const PredictorSet& set,
                          const std::map<std::string, std::string>& extra = {});
// Reads and validates a predictors file: format version, every listed layer's four tensors in
// fp32 with shapes that match the stored config and ranks. When `model` is given, the stored
// config must match it in layers, d, ffn and heads. `metadata` (optional) receives all metadata.
// Every problem is a dv::Error naming the file.
PredictorSet read_predictor_file(const std::string& path, const OptConfig* model,
                                 std::map<std::string, std::string>* metadata = nullptr);

// PRED_DIR/predictors.safetensors, written via a temporary name and renamed.
void save_predictors(const std::string& dir, const PredictorSet& set);
// Loads PRED_DIR/predictors.safetensors checked against `model` (the checkpoint it will run with).
PredictorSet load_predictors(const std::string& dir, const OptConfig& model);

}  // namespace dv
