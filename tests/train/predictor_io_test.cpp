// predictor_io_test.cpp: predictors.safetensors round trips bit for bit, and every way a file can
// disagree with the model it is loaded for is a one-line dv::Error naming the file.
#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "engine/io/safetensors.h"
#include "kernels/common/error.h"
#include "pipeline/train/predictor_set.h"
#include "tests/train/planted_store.h"

namespace dv {
namespace {

using test::TempDir;

OptConfig small_config() {
  OptConfig c;
  c.name = "small";
  c.hidden_size = 36;
  c.ffn_dim = 111;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 3;
  c.word_embed_proj_dim = 36;
  return c;
}

PredictorSet random_set(const OptConfig& c, const std::vector<int64_t>& layers) {
  PredictorSet s = PredictorSet::empty_for(c);
  s.rank_mlp = 13;
  s.rank_att = 5;
  s.mlp_input = PredictorInput::kPrevMlpInput;
  s.att_input = PredictorInput::kAttnInput;
  s.att_top_fraction = 0.25;
  for (int64_t l : layers) {
    s.mlp[static_cast<size_t>(l)] = LowRankPredictor(at::randn({13, c.hidden_size}), at::randn({c.ffn_dim, 13}));
    s.att[static_cast<size_t>(l)] = LowRankPredictor(at::randn({5, c.hidden_size}), at::randn({c.num_attention_heads, 5}));
  }
  return s;
}

void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "expected a dv::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const std::string& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
  }
}

TEST(PredictorIo, RoundTripIsExact) {
  TempDir dir;
  const OptConfig c = small_config();
  const PredictorSet s = random_set(c, {0, 2});  // layer 1 untrained
  save_predictors(dir.path(), s);
  const PredictorSet r = load_predictors(dir.path(), c);
  EXPECT_EQ(r.layers(), (std::vector<int64_t>{0, 2}));
  EXPECT_FALSE(r.has_layer(1));
  EXPECT_EQ(r.rank_mlp, 13);
  EXPECT_EQ(r.rank_att, 5);
  EXPECT_EQ(r.mlp_input, PredictorInput::kPrevMlpInput);
  EXPECT_EQ(r.att_input, PredictorInput::kAttnInput);
  EXPECT_DOUBLE_EQ(r.att_top_fraction, 0.25);
  EXPECT_EQ(r.config.to_json(), c.to_json());
  for (int64_t l : {0, 2}) {
    const auto i = static_cast<size_t>(l);
    EXPECT_TRUE(at::equal(r.mlp[i].w1(), s.mlp[i].w1()));
    EXPECT_TRUE(at::equal(r.mlp[i].w2(), s.mlp[i].w2()));
    EXPECT_TRUE(at::equal(r.att[i].w1(), s.att[i].w1()));
    EXPECT_TRUE(at::equal(r.att[i].w2(), s.att[i].w2()));
  }
  // The file is plain safetensors with the documented names (what a Python user opens).
  const SafetensorsFile f(dir.file(kPredictorsFileName));
  ASSERT_NE(f.find("mlp.2.w2"), nullptr);
  EXPECT_EQ(f.find("mlp.2.w2")->shape, (std::vector<int64_t>{111, 13}));
  EXPECT_EQ(f.find("att.0.w1")->shape, (std::vector<int64_t>{5, 36}));
  EXPECT_EQ(f.header().metadata.at("layers"), "0,2");
  EXPECT_EQ(f.header().metadata.at("format_version"), "1");
}

TEST(PredictorIo, HookQueryUsesTheRecordedInput) {
  const OptConfig c = small_config();
  const PredictorSet s = random_set(c, {1});
  MaskQuery q;
  q.layer = 1;
  q.attn_input = at::randn({2, 3, 36});
  q.prev_mlp_input = at::randn({2, 3, 36});
  EXPECT_TRUE(at::allclose(s.mlp_logits(q), s.mlp[1].logits(q.prev_mlp_input)));
  EXPECT_TRUE(at::allclose(s.head_logits(q), s.att[1].logits(q.attn_input)));
  q.layer = 0;
  EXPECT_THROW(s.mlp_logits(q), Error);  // layer 0 has no predictor
}

TEST(PredictorIo, LoadRejectsAnotherModel) {
  TempDir dir;
  const OptConfig c = small_config();
  save_predictors(dir.path(), random_set(c, {0, 1, 2}));
  const std::string file = dir.file(kPredictorsFileName);
  for (auto change : std::vector<std::function<void(OptConfig&)>>{
           [](OptConfig& m) { m.num_hidden_layers = 4; }, [](OptConfig& m) { m.hidden_size = 48; },
           [](OptConfig& m) { m.ffn_dim = 112; }, [](OptConfig& m) { m.num_attention_heads = 4; }}) {
    OptConfig other = c;
    change(other);
    expect_error([&] { load_predictors(dir.path(), other); }, {file, "trained for a model with 3 layers, d=36"});
  }
  expect_error([&] { load_predictors(dir.file("nowhere"), c); }, {"nowhere", "no predictors file"});
}

// Rewrites the set's file with a tensor list and metadata edited by `edit`.
void write_edited(const std::string& path, const PredictorSet& s,
                  const std::function<void(std::vector<TensorToWrite>&, std::map<std::string, std::string>&)>& edit) {
  write_predictor_file(path, s);
  const SafetensorsFile f(path);
  std::vector<TensorToWrite> tensors;
  std::vector<std::vector<uint8_t>> bytes;
  for (const TensorInfo& t : f.header().tensors) {
    const TensorView v = f.view(t);
    bytes.emplace_back(v.data, v.data + v.nbytes());
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    const TensorInfo& t = f.header().tensors[i];
    tensors.push_back({t.name, t.dtype, t.shape, bytes[i].data(), bytes[i].size()});
  }
  std::map<std::string, std::string> meta = f.header().metadata;
  edit(tensors, meta);
  write_safetensors(path, tensors, meta);
}

TEST(PredictorIo, LoadRejectsDamagedFiles) {
  TempDir dir;
  const OptConfig c = small_config();
  const PredictorSet s = random_set(c, {0, 1});
  const std::string file = dir.file(kPredictorsFileName);
  using Tensors = std::vector<TensorToWrite>;
  using Meta = std::map<std::string, std::string>;

  write_edited(file, s, [](Tensors& t, Meta&) {
    t.erase(std::remove_if(t.begin(), t.end(), [](const TensorToWrite& x) { return x.name == "att.1.w2"; }), t.end());
  });
  expect_error([&] { load_predictors(dir.path(), c); }, {file, "'att.1.w2' is missing"});

  write_edited(file, s, [](Tensors&, Meta& m) { m["format_version"] = "2"; });
  expect_error([&] { load_predictors(dir.path(), c); }, {file, "format_version 2"});

  write_edited(file, s, [](Tensors&, Meta& m) { m["rank_mlp"] = "12"; });
  expect_error([&] { load_predictors(dir.path(), c); }, {file, "'mlp.0.w1' has shape [13, 36], expected [12, 36]"});

  write_edited(file, s, [](Tensors&, Meta& m) { m["layers"] = "0"; });
  expect_error([&] { load_predictors(dir.path(), c); }, {file, "'mlp.1.w1' belongs to no layer"});

  write_edited(file, s, [](Tensors&, Meta& m) { m["layers"] = "0,1,3"; });
  expect_error([&] { load_predictors(dir.path(), c); }, {file, "'3' is not a layer index"});

  write_edited(file, s, [](Tensors&, Meta& m) { m["mlp_input"] = "residual"; });
  expect_error([&] { load_predictors(dir.path(), c); }, {file, "unknown predictor input 'residual'"});

  write_edited(file, s, [](Tensors&, Meta& m) { m.erase("model_config"); });
  expect_error([&] { load_predictors(dir.path(), c); }, {file, "no 'model_config'"});

  write_edited(file, s, [](Tensors& t, Meta&) { t[0].dtype = DType::kI32; });
  expect_error([&] { load_predictors(dir.path(), c); }, {file, "expected F32"});
}

}  // namespace
}  // namespace dv
