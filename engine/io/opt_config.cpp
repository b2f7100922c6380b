// opt_config.cpp: config.json parsing with per-field type checks, and the table of published shapes.
#include "engine/io/opt_config.h"

#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "kernels/common/error.h"

#include <filesystem>

namespace dv {
namespace {

using nlohmann::json;

template <typename T>
void read_field(const json& j, const char* key, T& out, const std::string& where, bool required = false) {
  if (!j.contains(key) || j[key].is_null()) {
    DV_CHECK(!required, "{}: missing required field '{}'", where, key);
    return;
  }
  const json& v = j[key];
  if constexpr (std::is_same_v<T, bool>) {
    DV_CHECK(v.is_boolean(), "{}: field '{}' must be true/false, got {}", where, key, v.dump());
  } else if constexpr (std::is_integral_v<T>) {
    DV_CHECK(v.is_number_integer(), "{}: field '{}' must be an integer, got {}", where, key, v.dump());
  } else {
    DV_CHECK(v.is_string(), "{}: field '{}' must be a string, got {}", where, key, v.dump());
  }
  out = v.get<T>();
}

struct Shape {
  const char* name;
  int64_t d, layers, heads, proj;
  bool pre_ln;
};
constexpr Shape kShapes[] = {
    {"opt-125m", 768, 12, 12, 768, true},     {"opt-350m", 1024, 24, 16, 512, false},
    {"opt-1.3b", 2048, 24, 32, 2048, true},   {"opt-2.7b", 2560, 32, 32, 2560, true},
    {"opt-6.7b", 4096, 32, 32, 4096, true},   {"opt-13b", 5120, 40, 40, 5120, true},
    {"opt-30b", 7168, 48, 56, 7168, true},    {"opt-66b", 9216, 64, 72, 9216, true},
    {"opt-175b", 12288, 96, 96, 12288, true},
};

}  // namespace

void OptConfig::validate(const std::string& where) const {
  DV_CHECK(vocab_size > 0 && hidden_size > 0 && ffn_dim > 0 && num_hidden_layers > 0 && num_attention_heads > 0 &&
               word_embed_proj_dim > 0 && max_position_embeddings > 0,
           "{}: sizes must be positive (vocab_size, hidden_size, ffn_dim, num_hidden_layers, num_attention_heads, "
           "word_embed_proj_dim, max_position_embeddings)",
           where);
  // Generous ceilings (opt-175b: d 12288, ffn 49152, 96 layers): a value past them is a corrupt file, and
  // checking here keeps the shape arithmetic downstream (positions + 2, rows x cols) far from overflow.
  const struct {
    const char* field;
    int64_t value, max;
  } limits[] = {{"vocab_size", vocab_size, int64_t{1} << 24},
                {"hidden_size", hidden_size, int64_t{1} << 17},
                {"ffn_dim", ffn_dim, int64_t{1} << 19},
                {"num_hidden_layers", num_hidden_layers, 4096},
                {"word_embed_proj_dim", word_embed_proj_dim, int64_t{1} << 17},
                {"max_position_embeddings", max_position_embeddings, int64_t{1} << 20}};
  for (const auto& l : limits)
    DV_CHECK(l.value <= l.max, "{}: {} = {} is beyond any OPT model (at most {}): corrupt config?", where, l.field,
             l.value, l.max);
  DV_CHECK(hidden_size % num_attention_heads == 0, "{}: hidden_size {} is not divisible by num_attention_heads {}",
           where, hidden_size, num_attention_heads);
  DV_CHECK(activation_function == "relu",
           "{}: activation_function '{}' is not supported (Deja Vu's MLP sparsity needs OPT's relu)", where,
           activation_function);
}

std::string OptConfig::to_json() const {
  json j = {{"model_type", "opt"},
            {"vocab_size", vocab_size},
            {"hidden_size", hidden_size},
            {"ffn_dim", ffn_dim},
            {"num_hidden_layers", num_hidden_layers},
            {"num_attention_heads", num_attention_heads},
            {"word_embed_proj_dim", word_embed_proj_dim},
            {"max_position_embeddings", max_position_embeddings},
            {"do_layer_norm_before", do_layer_norm_before},
            {"layer_norm_elementwise_affine", layer_norm_elementwise_affine},
            {"enable_bias", enable_bias},
            {"_remove_final_layer_norm", remove_final_layer_norm},
            {"tie_word_embeddings", tie_word_embeddings},
            {"activation_function", activation_function},
            {"bos_token_id", bos_token_id},
            {"eos_token_id", eos_token_id},
            {"pad_token_id", pad_token_id},
            {"torch_dtype", torch_dtype}};
  return j.dump();
}

OptConfig opt_config_from_json_text(const std::string& text, const std::string& where) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  DV_CHECK(!j.is_discarded(), "{}: not valid JSON", where);
  DV_CHECK(j.is_object(), "{}: expected a JSON object", where);
  if (j.contains("model_type") && j["model_type"].is_string())
    DV_CHECK(j["model_type"].get<std::string>() == "opt", "{}: model_type is '{}', expected 'opt'", where,
             j["model_type"].get<std::string>());
  OptConfig c;
  read_field(j, "vocab_size", c.vocab_size, where, true);
  read_field(j, "hidden_size", c.hidden_size, where, true);
  read_field(j, "ffn_dim", c.ffn_dim, where, true);
  read_field(j, "num_hidden_layers", c.num_hidden_layers, where, true);
  read_field(j, "num_attention_heads", c.num_attention_heads, where, true);
  c.word_embed_proj_dim = c.hidden_size;
  read_field(j, "word_embed_proj_dim", c.word_embed_proj_dim, where);
  read_field(j, "max_position_embeddings", c.max_position_embeddings, where);
  read_field(j, "do_layer_norm_before", c.do_layer_norm_before, where);
  read_field(j, "layer_norm_elementwise_affine", c.layer_norm_elementwise_affine, where);
  read_field(j, "enable_bias", c.enable_bias, where);
  read_field(j, "_remove_final_layer_norm", c.remove_final_layer_norm, where);
  read_field(j, "tie_word_embeddings", c.tie_word_embeddings, where);
  read_field(j, "activation_function", c.activation_function, where);
  read_field(j, "bos_token_id", c.bos_token_id, where);
  read_field(j, "eos_token_id", c.eos_token_id, where);
  read_field(j, "pad_token_id", c.pad_token_id, where);
  if (j.contains("dtype") && j["dtype"].is_string()) c.torch_dtype = j["dtype"].get<std::string>();
  read_field(j, "torch_dtype", c.torch_dtype, where);
  c.validate(where);
  return c;
}

OptConfig load_opt_config(const std::string& dir_or_file) {
  std::string path = dir_or_file;
  if (std::filesystem::is_directory(path)) path = (std::filesystem::path(path) / "config.json").string();
  OptConfig c = opt_config_from_json_text(read_small_file(path), path);
  c.name = std::filesystem::path(dir_or_file).filename().string();
  return c;
}

OptConfig opt_config_from_name(const std::string& name) {
  for (const auto& s : kShapes) {
    if (name != s.name) continue;
    OptConfig c;
    c.name = s.name;
    c.hidden_size = s.d;
    c.ffn_dim = 4 * s.d;
    c.num_hidden_layers = s.layers;
    c.num_attention_heads = s.heads;
    c.word_embed_proj_dim = s.proj;
    c.do_layer_norm_before = s.pre_ln;
    return c;
  }
  std::string known;
  for (const auto& n : opt_builtin_names()) known += " " + n;
  DV_FAIL("unknown model shape '{}' (built in:{})", name, known);
}

std::vector<std::string> opt_builtin_names() {
  std::vector<std::string> names;
  for (const auto& s : kShapes) names.emplace_back(s.name);
  return names;
}

}  // namespace dv
