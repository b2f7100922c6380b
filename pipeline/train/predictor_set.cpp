// predictor_set.cpp: the per-model predictor set, its safetensors file and its validation.
#include "pipeline/train/predictor_set.h"

#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "engine/models/int8_rows.h"

#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "kernels/common/error.h"

namespace dv {

namespace {

std::string tensor_name(const char* kind, int64_t layer, const char* w) { return fmt::format("{}.{}.{}", kind, layer, w); }

std::string join_ints(const std::vector<int64_t>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + std::to_string(v[i]);
  return s;
}

const std::string& meta_value(const std::map<std::string, std::string>& m, const char* key, const std::string& path) {
  const auto it = m.find(key);
  DV_CHECK(it != m.end(), "{}: __metadata__ has no '{}' (not a dejavu predictors file?)", path, key);
  return it->second;
}

int64_t meta_int(const std::map<std::string, std::string>& m, const char* key, const std::string& path) {
  const std::string& v = meta_value(m, key, path);
  size_t used = 0;
  int64_t x = 0;
  try {
    x = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  DV_CHECK(used == v.size() && !v.empty(), "{}: metadata '{}' is '{}', expected an integer", path, key, v);
  return x;
}

std::vector<int64_t> parse_layers(const std::string& text, int64_t n_layers, const std::string& path) {
  std::vector<int64_t> out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t used = 0;
    int64_t l = -1;
    try {
      l = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    DV_CHECK(used == item.size() && !item.empty() && l >= 0 && l < n_layers,
             "{}: metadata 'layers' entry '{}' is not a layer index of a {}-layer model", path, item, n_layers);
    DV_CHECK(out.empty() || l > out.back(), "{}: metadata 'layers' is not strictly ascending ('{}')", path, text);
    out.push_back(l);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

// Copies one fp32 tensor of the expected shape out of the mapped file.
at::Tensor read_weight(const SafetensorsFile& file, const std::string& name, int64_t rows, int64_t cols) {
  const TensorInfo* info = file.find(name);
  DV_CHECK(info != nullptr, "{}: tensor '{}' is missing", file.path(), name);
  DV_CHECK(info->dtype == DType::kF32, "{}: tensor '{}' is {}, expected F32", file.path(), name, dtype_name(info->dtype));
  const std::vector<int64_t> want = {rows, cols};
  DV_CHECK(info->shape == want, "{}: tensor '{}' has shape [{}], expected [{}, {}]", file.path(), name,
           join_ints(info->shape, ", "), rows, cols);
  at::Tensor t = at::empty({rows, cols}, at::kFloat);
  const TensorView v = file.view(*info);
  std::memcpy(t.data_ptr<float>(), v.data, v.nbytes());
  return t;
}

}  // namespace

PredictorSet PredictorSet::empty_for(const OptConfig& config) {
  PredictorSet s;
  s.config = config;
  s.mlp.resize(static_cast<size_t>(config.num_hidden_layers));
  s.att.resize(static_cast<size_t>(config.num_hidden_layers));
  return s;
}

bool PredictorSet::has_layer(int64_t layer) const {
  return layer >= 0 && layer < static_cast<int64_t>(mlp.size()) && !mlp[static_cast<size_t>(layer)].empty() &&
         !att[static_cast<size_t>(layer)].empty();
}

std::vector<int64_t> PredictorSet::layers() const {
  std::vector<int64_t> out;
  for (int64_t l = 0; l < static_cast<int64_t>(mlp.size()); ++l) {
    if (has_layer(l)) out.push_back(l);
  }
  return out;
}

PredictorSet PredictorSet::to(at::Device device, at::ScalarType dtype) const {
  PredictorSet s = *this;
  for (auto& p : s.mlp) p = p.to(device, dtype);
  for (auto& p : s.att) p = p.to(device, dtype);
  return s;
}

PredictorSet PredictorSet::int8_simulated() const {
  PredictorSet s = *this;
  auto simulate = [](const at::Tensor& w) {
    return engine::dequantize_rows_int8(engine::quantize_rows_int8(w)).to(w.dtype());
  };
  for (auto* kind : {&s.mlp, &s.att})
    for (auto& p : *kind)
      if (!p.empty()) p = LowRankPredictor(simulate(p.w1()), simulate(p.w2()));
  return s;
}

at::Tensor PredictorSet::mlp_logits(const MaskQuery& query) const {
  DV_CHECK(has_layer(query.layer), "no predictor for layer {}", query.layer);
  return mlp[static_cast<size_t>(query.layer)].logits(predictor_input_tensor(mlp_input, query));
}

at::Tensor PredictorSet::head_logits(const MaskQuery& query) const {
  DV_CHECK(has_layer(query.layer), "no predictor for layer {}", query.layer);
  return att[static_cast<size_t>(query.layer)].logits(predictor_input_tensor(att_input, query));
}

void write_predictor_file(const std::string& path, const PredictorSet& set,
                          const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> meta = extra;
  meta["format_version"] = std::to_string(kPredictorFormatVersion);
  meta["model_config"] = set.config.to_json();
  meta["mlp_input"] = predictor_input_name(set.mlp_input);
  meta["att_input"] = predictor_input_name(set.att_input);
  meta["rank_mlp"] = std::to_string(set.rank_mlp);
  meta["rank_att"] = std::to_string(set.rank_att);
  meta["att_top_fraction"] = fmt::format("{}", set.att_top_fraction);
  const std::vector<int64_t> layers = set.layers();
  meta["layers"] = join_ints(layers, ",");

  std::vector<at::Tensor> keep;  // contiguous CPU fp32 copies that outlive the write
  std::vector<TensorToWrite> tensors;
  auto add = [&](const std::string& name, const at::Tensor& w) {
    keep.push_back(w.to(at::kCPU, at::kFloat).contiguous());
    const at::Tensor& t = keep.back();
    tensors.push_back({name, DType::kF32, {t.size(0), t.size(1)}, t.data_ptr(), static_cast<size_t>(t.nbytes())});
  };
  for (int64_t l : layers) {
    const LowRankPredictor& m = set.mlp[static_cast<size_t>(l)];
    const LowRankPredictor& a = set.att[static_cast<size_t>(l)];
    add(tensor_name("mlp", l, "w1"), m.w1());
    add(tensor_name("mlp", l, "w2"), m.w2());
    add(tensor_name("att", l, "w1"), a.w1());
    add(tensor_name("att", l, "w2"), a.w2());
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) make_dirs(parent.string());
  write_safetensors(path, tensors, meta);
}

PredictorSet read_predictor_file(const std::string& path, const OptConfig* model,
                                 std::map<std::string, std::string>* metadata) {
  std::error_code ec;
  DV_CHECK(std::filesystem::is_regular_file(path, ec), "{}: no predictors file (run `dejavu train` first)", path);
  const SafetensorsFile file(path);
  const auto& m = file.header().metadata;
  const int64_t version = meta_int(m, "format_version", path);
  DV_CHECK(version == kPredictorFormatVersion, "{}: predictors format_version {} is not supported (this build reads {})",
           path, version, kPredictorFormatVersion);
  PredictorSet set = PredictorSet::empty_for(
      opt_config_from_json_text(meta_value(m, "model_config", path), path + " (metadata model_config)"));
  const OptConfig& c = set.config;
  if (model != nullptr) {
    DV_CHECK(model->num_hidden_layers == c.num_hidden_layers && model->hidden_size == c.hidden_size &&
                 model->ffn_dim == c.ffn_dim && model->num_attention_heads == c.num_attention_heads,
             "{}: predictors were trained for a model with {} layers, d={}, ffn={}, {} heads, but this model has "
             "{} layers, d={}, ffn={}, {} heads",
             path, c.num_hidden_layers, c.hidden_size, c.ffn_dim, c.num_attention_heads, model->num_hidden_layers,
             model->hidden_size, model->ffn_dim, model->num_attention_heads);
  }
  set.mlp_input = parse_predictor_input(meta_value(m, "mlp_input", path), path + " (metadata mlp_input)");
  set.att_input = parse_predictor_input(meta_value(m, "att_input", path), path + " (metadata att_input)");
  set.rank_mlp = meta_int(m, "rank_mlp", path);
  set.rank_att = meta_int(m, "rank_att", path);
  DV_CHECK(set.rank_mlp > 0 && set.rank_att > 0, "{}: ranks must be positive (rank_mlp {}, rank_att {})", path,
           set.rank_mlp, set.rank_att);
  try {
    set.att_top_fraction = std::stod(meta_value(m, "att_top_fraction", path));
  } catch (const std::invalid_argument&) {
    DV_FAIL("{}: metadata 'att_top_fraction' is not a number", path);
  }
  const std::vector<int64_t> layers = parse_layers(meta_value(m, "layers", path), c.num_hidden_layers, path);
  std::set<std::string> expected;
  for (int64_t l : layers) {
    const auto i = static_cast<size_t>(l);
    // One statement per tensor: the first problem in file order is the one reported.
    at::Tensor mlp_w1 = read_weight(file, tensor_name("mlp", l, "w1"), set.rank_mlp, c.hidden_size);
    at::Tensor mlp_w2 = read_weight(file, tensor_name("mlp", l, "w2"), c.ffn_dim, set.rank_mlp);
    at::Tensor att_w1 = read_weight(file, tensor_name("att", l, "w1"), set.rank_att, c.hidden_size);
    at::Tensor att_w2 = read_weight(file, tensor_name("att", l, "w2"), c.num_attention_heads, set.rank_att);
    set.mlp[i] = LowRankPredictor(std::move(mlp_w1), std::move(mlp_w2));
    set.att[i] = LowRankPredictor(std::move(att_w1), std::move(att_w2));
    for (const char* k : {"mlp", "att"}) {
      for (const char* w : {"w1", "w2"}) expected.insert(tensor_name(k, l, w));
    }
  }
  for (const TensorInfo& t : file.header().tensors) {
    DV_CHECK(expected.count(t.name) == 1, "{}: tensor '{}' belongs to no layer listed in metadata 'layers' ('{}')",
             path, t.name, meta_value(m, "layers", path));
  }
  if (metadata != nullptr) *metadata = m;
  return set;
}

void save_predictors(const std::string& dir, const PredictorSet& set) {
  make_dirs(dir);
  write_predictor_file((std::filesystem::path(dir) / kPredictorsFileName).string(), set);
}

PredictorSet load_predictors(const std::string& dir, const OptConfig& model) {
  return read_predictor_file((std::filesystem::path(dir) / kPredictorsFileName).string(), &model);
}

}  // namespace dv
