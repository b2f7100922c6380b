// checkpoint.cpp: shard discovery (single file or index), name prefixes, shape validation.
#include "engine/io/checkpoint.h"

#include <filesystem>
#include <set>
#include <system_error>

#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "kernels/common/error.h"

namespace dv {
namespace fs = std::filesystem;

namespace {

const char* const kPrefixes[] = {"model.decoder.", "decoder.", ""};

// A shard named by the index must be a plain file name in the checkpoint directory. The error_code form of
// exists(): a name the OS rejects (too long, say) is a bad index, not a filesystem_error escaping the loader.
bool shard_exists(const fs::path& p, const std::string& where) {
  std::error_code ec;
  const bool found = fs::exists(p, ec);
  DV_CHECK(!ec || ec == std::errc::no_such_file_or_directory, "{}: shard '{}' listed in the index: {}", where,
           p.string(), ec.message());
  return found;
}

// The name as an error message can show it: control bytes escaped, long names cut.
std::string printable_name(const std::string& f) {
  std::string out;
  for (const char c : f.substr(0, 80)) {
    const int byte = static_cast<unsigned char>(c);
    out += byte < 0x20 ? fmt::format("\\x{:02x}", byte) : std::string(1, c);
  }
  return f.size() > 80 ? out + "..." : out;
}

bool plain_file_name(const std::string& f) {
  if (f.empty() || f == "." || f.size() > 255 || f.find("..") != std::string::npos) return false;
  for (const char c : f)
    if (c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return false;
  return true;
}

std::vector<std::string> shard_files(const std::string& dir) {
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  const fs::path single = fs::path(dir) / "model.safetensors";
  std::vector<std::string> files;
  if (fs::exists(index)) {
    const std::string where = index.string();
    auto j = nlohmann::json::parse(read_small_file(where), nullptr, false);
    DV_CHECK(!j.is_discarded(), "{}: not valid JSON", where);
    DV_CHECK(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(),
             "{}: expected an object with a 'weight_map' object", where);
    std::set<std::string> names;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      DV_CHECK(it.value().is_string(), "{}: weight_map['{}'] is not a file name", where, printable_name(it.key()));
      const std::string f = it.value().get<std::string>();
      DV_CHECK(plain_file_name(f), "{}: weight_map['{}'] names '{}', which is not a file in this directory", where,
               printable_name(it.key()), printable_name(f));
      names.insert(f);
    }
    DV_CHECK(!names.empty(), "{}: weight_map is empty", where);
    for (const auto& f : names) {
      const fs::path p = fs::path(dir) / f;
      DV_CHECK(shard_exists(p, where), "{}: shard '{}' listed in the index is missing", where, p.string());
      files.push_back(p.string());
    }
    return files;
  }
  if (fs::exists(single)) return {single.string()};
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    const bool has_bin = fs::exists(fs::path(dir) / "pytorch_model.bin") ||
                         fs::exists(fs::path(dir) / "pytorch_model.bin.index.json");
    DV_CHECK(!has_bin, "{}: only pytorch_model.bin weights found; convert them with "
                       "scripts/convert_bin_to_safetensors.py {}", dir, dir);
    DV_FAIL("{}: no model.safetensors, model.safetensors.index.json or *.safetensors file", dir);
  }
  return files;
}

}  // namespace

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::vector<std::pair<std::string, std::vector<int64_t>>> Checkpoint::expected_tensors(const OptConfig& c) {
  const int64_t d = c.hidden_size, f = c.ffn_dim, e = c.word_embed_proj_dim;
  std::vector<std::pair<std::string, std::vector<int64_t>>> t = {
      {"embed_tokens.weight", {c.vocab_size, e}},
      {"embed_positions.weight", {c.max_position_embeddings + kPositionOffset, d}},
  };
  if (c.has_projection()) {
    t.push_back({"project_in.weight", {d, e}});
    t.push_back({"project_out.weight", {e, d}});
  }
  if (c.has_final_layer_norm() && c.layer_norm_elementwise_affine) {
    t.push_back({"final_layer_norm.weight", {d}});
    t.push_back({"final_layer_norm.bias", {d}});
  }
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      t.push_back({p + "self_attn." + proj + ".weight", {d, d}});
      if (c.enable_bias) t.push_back({p + "self_attn." + proj + ".bias", {d}});
    }
    t.push_back({p + "fc1.weight", {f, d}});
    t.push_back({p + "fc2.weight", {d, f}});
    if (c.enable_bias) {
      t.push_back({p + "fc1.bias", {f}});
      t.push_back({p + "fc2.bias", {d}});
    }
    if (c.layer_norm_elementwise_affine) {
      for (const char* ln : {"self_attn_layer_norm", "final_layer_norm"}) {
        t.push_back({p + ln + ".weight", {d}});
        t.push_back({p + ln + ".bias", {d}});
      }
    }
  }
  return t;
}

Checkpoint::Checkpoint(const std::string& dir) : dir_(dir) {
  DV_CHECK(fs::is_directory(dir), "{}: not a directory (expected a Hugging Face OPT checkpoint directory)", dir);
  config_ = load_opt_config(dir);
  for (const auto& f : shard_files(dir)) files_.push_back(std::make_unique<SafetensorsFile>(f));
  for (const auto& [name, shape] : expected_tensors(config_)) get(name, shape);
  for (const auto& f : files_)
    for (const auto& t : f->header().tensors)
      DV_CHECK(t.dtype == DType::kF32 || t.dtype == DType::kF16 || t.dtype == DType::kBF16,
               "{}: tensor '{}' has dtype {}; OPT weights must be F32, F16 or BF16", f->path(), t.name,
               dtype_name(t.dtype));
  if (has("lm_head.weight") || !config_.tie_word_embeddings) lm_head();
}

Checkpoint::Found Checkpoint::find(const std::string& full_name) const {
  for (const auto& f : files_)
    if (const TensorInfo* info = f->find(full_name)) return {f.get(), info};
  return {nullptr, nullptr};
}

Checkpoint::Found Checkpoint::find_decoder(const std::string& name) const {
  for (const char* prefix : kPrefixes) {
    Found hit = find(prefix + name);
    if (hit.info != nullptr) return hit;
  }
  return {nullptr, nullptr};
}

bool Checkpoint::has(const std::string& name) const { return find(name).info != nullptr || find_decoder(name).info; }

TensorView Checkpoint::get(const std::string& name, const std::vector<int64_t>& shape) const {
  Found hit = find_decoder(name);
  DV_CHECK(hit.info != nullptr, "{}: tensor 'model.decoder.{}' is missing from the checkpoint", dir_, name);
  DV_CHECK(hit.info->shape == shape, "{}: tensor '{}' has shape {}, expected {} from config.json", hit.file->path(),
           hit.info->name, shape_str(hit.info->shape), shape_str(shape));
  return hit.file->view(*hit.info);
}

TensorView Checkpoint::lm_head() const {
  const std::vector<int64_t> shape = {config_.vocab_size, config_.word_embed_proj_dim};
  Found hit = find("lm_head.weight");
  if (hit.info == nullptr) {
    DV_CHECK(config_.tie_word_embeddings, "{}: lm_head.weight is missing and tie_word_embeddings is false", dir_);
    return get("embed_tokens.weight", shape);
  }
  DV_CHECK(hit.info->shape == shape, "{}: tensor 'lm_head.weight' has shape {}, expected {}", hit.file->path(),
           shape_str(hit.info->shape), shape_str(shape));
  return hit.file->view(*hit.info);
}

}  // namespace dv
