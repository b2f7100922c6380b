// opt_config.h: OPT model hyper-parameters, read from a Hugging Face config.json or taken from the
// built-in table of published OPT shapes (used for latency work without checkpoints).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dv {

struct OptConfig {
  std::string name = "opt";            // "opt-1.3b" for built-ins; the directory for checkpoints
  int64_t vocab_size = 50272;           // rows of embed_tokens (OPT pads the 50265-token vocab)
  int64_t hidden_size = 768;            // d, the residual stream width
  int64_t ffn_dim = 3072;               // MLP width (4d in every published OPT)
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t word_embed_proj_dim = 768;    // embedding width; != d means project_in/out (opt-350m: 512)
  int64_t max_position_embeddings = 2048;  // learned position rows = this + kPositionOffset
  bool do_layer_norm_before = true;     // false: post-LN (opt-350m)
  bool layer_norm_elementwise_affine = true;
  bool enable_bias = true;
  bool remove_final_layer_norm = false;  // HF's _remove_final_layer_norm (old checkpoints)
  bool tie_word_embeddings = true;
  std::string activation_function = "relu";
  int64_t bos_token_id = 2;
  int64_t eos_token_id = 2;
  int64_t pad_token_id = 1;
  std::string torch_dtype = "float16";   // the checkpoint's storage dtype as declared

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  bool has_projection() const { return word_embed_proj_dim != hidden_size; }
  bool has_final_layer_norm() const { return do_layer_norm_before && !remove_final_layer_norm; }
  // Checks internal consistency; `where` names the source in the message.
  void validate(const std::string& where) const;
  std::string to_json() const;
};

// OPT's learned positions are offset by 2 (fairseq's padding_idx + 1).
constexpr int64_t kPositionOffset = 2;

// Reads DIR/config.json (or a config.json path). dv::Error names the file and the field.
OptConfig load_opt_config(const std::string& dir_or_file);
OptConfig opt_config_from_json_text(const std::string& text, const std::string& where);

// Published shapes: opt-125m, opt-350m, opt-1.3b, opt-2.7b, opt-6.7b, opt-13b, opt-30b, opt-66b, opt-175b.
OptConfig opt_config_from_name(const std::string& name);
std::vector<std::string> opt_builtin_names();

}  // namespace dv
