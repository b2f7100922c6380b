// checkpoint.h: a Hugging Face OPT directory as users have it: config.json plus weights in one
// model.safetensors or shards listed by model.safetensors.index.json; F32/F16/BF16; tensor names
// with the "model.decoder." (OPTForCausalLM) or "decoder." (OPTModel) prefix. Torch-free: tensors are
// byte views into memory-mapped shards; engines convert them to their own types.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/io/opt_config.h"
#include "engine/io/safetensors.h"

namespace dv {

class Checkpoint {
 public:
  // Opens and validates the directory: every tensor the config needs exists with the right shape.
  explicit Checkpoint(const std::string& dir);

  const OptConfig& config() const { return config_; }
  const std::string& dir() const { return dir_; }
  // name without prefix, e.g. "layers.3.fc1.weight" or "embed_tokens.weight"; checks the shape.
  TensorView get(const std::string& name, const std::vector<int64_t>& shape) const;
  bool has(const std::string& name) const;
  // The LM head: lm_head.weight when stored (untied), else embed_tokens.weight.
  TensorView lm_head() const;
  // Every decoder tensor name (without prefix) and its expected shape, for this config.
  static std::vector<std::pair<std::string, std::vector<int64_t>>> expected_tensors(const OptConfig& c);

 private:
  struct Found {
    const SafetensorsFile* file;
    const TensorInfo* info;
  };
  Found find(const std::string& full_name) const;
  Found find_decoder(const std::string& name) const;

  std::string dir_;
  OptConfig config_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
};

std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace dv
