// fuzz_checkpoint_index.cpp: dv::Checkpoint over an arbitrary model.safetensors.index.json, in a
// directory that also holds a tiny valid OPT (config.json and two shards that together have every tensor)
// and a broken shard, so a fuzzed index can name good, broken, missing or odd files. Either a dv::Error
// naming the directory or a file in it, or a checkpoint whose tensors all have the configured shapes.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/io/checkpoint.h"
#include "engine/io/safetensors.h"
#include "kernels/common/error.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

const char* kConfig = R"({"model_type":"opt","vocab_size":8,"hidden_size":4,"ffn_dim":8,"num_hidden_layers":1,
  "num_attention_heads":2,"word_embed_proj_dim":4,"max_position_embeddings":4,"do_layer_norm_before":true})";

// Writes the tensors of a valid checkpoint, alternating between two shards.
void write_shards(const dv::fuzz::ScratchDir& dir) {
  const dv::OptConfig config = dv::opt_config_from_json_text(kConfig, "fuzz config");
  std::vector<dv::TensorToWrite> shards[2];
  std::vector<std::vector<float>> storage;
  const auto expected = dv::Checkpoint::expected_tensors(config);
  storage.reserve(expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto& [name, shape] = expected[i];
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    storage.emplace_back(static_cast<size_t>(n), 0.5f);
    shards[i % 2].push_back({"model.decoder." + name, dv::DType::kF32, shape, storage.back().data(),
                             storage.back().size() * sizeof(float)});
  }
  dv::write_safetensors(dir.file("model-00001-of-00002.safetensors"), shards[0]);
  dv::write_safetensors(dir.file("model-00002-of-00002.safetensors"), shards[1]);
  dir.write("broken.safetensors", std::string("\x10\0\0\0\0\0\0\0{\"a\":", 14));
}

const dv::fuzz::ScratchDir& scratch() {
  static const dv::fuzz::ScratchDir dir;
  static const bool ready = (dir.write("config.json", kConfig), write_shards(dir), true);
  (void)ready;
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const dv::fuzz::ScratchDir& dir = scratch();
  dir.write("model.safetensors.index.json", std::string_view(reinterpret_cast<const char*>(data), size));
  try {
    const dv::Checkpoint ckpt(dir.path());
    for (const auto& [name, shape] : dv::Checkpoint::expected_tensors(ckpt.config())) {
      const dv::TensorView v = ckpt.get(name, shape);
      if (v.nbytes() != static_cast<size_t>(v.info->numel()) * dv::dtype_size(v.info->dtype)) std::abort();
    }
    ckpt.lm_head();
  } catch (const dv::Error& e) {
    dv::fuzz::require_names(e.what(), dir.path());
  }
  return 0;
}
