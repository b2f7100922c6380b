// run_info.cpp: experiment.yaml is parsed without file checks (the run may have moved, or its data gone);
// the shape is read from the checkpoint when it is still there, else from collect/acts.h5's attribute.
#include "pipeline/report/run_info.h"

#include <filesystem>

#include <fmt/format.h>

#include "kernels/common/error.h"
#include "pipeline/store/activation_reader.h"

namespace dv {

RunInfo load_run_info(const std::string& run_dir) {
  namespace fs = std::filesystem;
  RunInfo info;
  info.dir = run_dir;
  const std::string yaml = run_dir + "/experiment.yaml";
  if (fs::exists(yaml)) {
    info.experiment = load_experiment(yaml, ParseOptions{false});
    info.model = info.experiment->model;
  }
  if (!info.model.empty() && fs::exists(fs::path(info.model) / "config.json")) {
    info.model_config = load_opt_config(info.model);
    info.model_config_source = (fs::path(info.model) / "config.json").string();
    return info;
  }
  const std::string acts = run_dir + "/collect/acts.h5";
  if (fs::exists(acts)) {
    const ActivationReader reader(acts, ReaderOptions{true});
    info.model_config = opt_config_from_json_text(reader.meta().model_config, acts + " (model_config)");
    info.model_config_source = acts;
    if (info.model.empty()) info.model = reader.meta().model_dir;
  }
  return info;
}

std::string model_shape_summary(const OptConfig& c) {
  const int64_t d = c.hidden_size, f = c.ffn_dim, layers = c.num_hidden_layers;
  // Decoder blocks (q, k, v, out, fc1, fc2 with biases, two layer norms) + embeddings + final layer norm;
  // a tied lm_head adds nothing. Matches opt-mini's model card (22,478,848).
  int64_t params = layers * (4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d);
  params += c.vocab_size * c.word_embed_proj_dim + (c.max_position_embeddings + kPositionOffset) * d;
  if (c.has_projection()) params += 2 * d * c.word_embed_proj_dim;
  if (c.has_final_layer_norm()) params += 2 * d;
  if (!c.tie_word_embeddings) params += c.vocab_size * c.word_embed_proj_dim;
  return fmt::format("{} layers, d {}, {} heads of dimension {}, ffn {}, vocab {}, {:.1f}M parameters", layers, d,
                     c.num_attention_heads, c.head_dim(), f, c.vocab_size, static_cast<double>(params) / 1e6);
}

}  // namespace dv
