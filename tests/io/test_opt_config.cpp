// test_opt_config.cpp: config.json parsing (every field OPT uses, opt-350m's projection and post-LN)
// and the built-in shapes; bad fields give errors naming the file and the field.
#include <gtest/gtest.h>

#include "engine/io/opt_config.h"
#include "kernels/common/error.h"

namespace {

const char* kOpt350m = R"({"model_type":"opt","vocab_size":50272,"hidden_size":1024,"ffn_dim":4096,
  "num_hidden_layers":24,"num_attention_heads":16,"word_embed_proj_dim":512,"do_layer_norm_before":false,
  "max_position_embeddings":2048,"bos_token_id":2,"eos_token_id":2,"pad_token_id":1,"torch_dtype":"float16"})";

TEST(OptConfig, ParsesOpt350mFields) {
  dv::OptConfig c = dv::opt_config_from_json_text(kOpt350m, "opt-350m/config.json");
  EXPECT_EQ(c.hidden_size, 1024);
  EXPECT_EQ(c.word_embed_proj_dim, 512);
  EXPECT_TRUE(c.has_projection());
  EXPECT_FALSE(c.do_layer_norm_before);
  EXPECT_FALSE(c.has_final_layer_norm());
  EXPECT_EQ(c.head_dim(), 64);
  EXPECT_EQ(c.torch_dtype, "float16");
  // to_json round trip keeps every field.
  dv::OptConfig back = dv::opt_config_from_json_text(c.to_json(), "round trip");
  EXPECT_EQ(back.to_json(), c.to_json());
}

TEST(OptConfig, BuiltInShapesMatchPublishedSizes) {
  for (const auto& name : dv::opt_builtin_names()) {
    dv::OptConfig c = dv::opt_config_from_name(name);
    EXPECT_EQ(c.ffn_dim, 4 * c.hidden_size) << name;
    EXPECT_EQ(c.head_dim(), name == "opt-350m" ? 64 : c.head_dim()) << name;
    c.validate(name);
  }
  EXPECT_EQ(dv::opt_config_from_name("opt-30b").num_attention_heads, 56);
  EXPECT_THROW(dv::opt_config_from_name("opt-7b"), dv::Error);
}

TEST(OptConfig, BadFieldsNameFileAndField) {
  struct Case {
    const char* json;
    const char* must_mention;
  };
  const Case cases[] = {
      {"{", "not valid JSON"},
      {"[]", "JSON object"},
      {R"({"hidden_size":64})", "vocab_size"},
      {R"({"model_type":"gpt2","vocab_size":10,"hidden_size":64,"ffn_dim":256,"num_hidden_layers":1,"num_attention_heads":4})", "model_type"},
      {R"({"vocab_size":"10","hidden_size":64,"ffn_dim":256,"num_hidden_layers":1,"num_attention_heads":4})", "vocab_size"},
      {R"({"vocab_size":10,"hidden_size":64,"ffn_dim":256,"num_hidden_layers":1,"num_attention_heads":5})", "divisible"},
      {R"({"vocab_size":10,"hidden_size":64,"ffn_dim":-1,"num_hidden_layers":1,"num_attention_heads":4})", "positive"},
      {R"({"vocab_size":10,"hidden_size":64,"ffn_dim":256,"num_hidden_layers":1,"num_attention_heads":4,"do_layer_norm_before":"yes"})", "do_layer_norm_before"},
      {R"({"vocab_size":10,"hidden_size":64,"ffn_dim":256,"num_hidden_layers":1,"num_attention_heads":4,"activation_function":"gelu"})", "relu"},
  };
  for (const auto& c : cases) {
    try {
      dv::opt_config_from_json_text(c.json, "m/config.json");
      FAIL() << c.json;
    } catch (const dv::Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("m/config.json"), std::string::npos) << msg;
      EXPECT_NE(msg.find(c.must_mention), std::string::npos) << msg;
    }
  }
}

}  // namespace
