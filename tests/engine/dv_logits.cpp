// dv_logits: test helper for the Hugging Face parity script (tests/python/test_hf_parity.py).
// Runs the reference model on given token ids and writes a safetensors file with
//   logits [T, V] f32      one prefill pass over all ids
//   logits_step [T, V] f32 the first half as prefill, the rest one token at a time through the KV cache
//   generated [N] i32      greedy continuation of the ids
// Usage: dv_logits MODEL_DIR OUT.safetensors DTYPE DEVICE GEN_TOKENS ID [ID ...]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <c10/core/InferenceMode.h>

#include "engine/io/checkpoint.h"
#include "engine/io/safetensors.h"
#include "engine/models/generate.h"

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: dv_logits MODEL_DIR OUT DTYPE DEVICE GEN_TOKENS ID [ID ...]\n");
    return 2;
  }
  try {
    c10::InferenceMode guard;
    dv::Checkpoint ckpt(argv[1]);
    dv::OptModel model(dv::load_opt_weights(ckpt, dv::parse_scalar_type(argv[3]), dv::parse_device(argv[4])));
    const int64_t gen = std::atoll(argv[5]);
    std::vector<int32_t> ids;
    for (int i = 6; i < argc; ++i) ids.push_back(std::atoi(argv[i]));
    const int64_t T = static_cast<int64_t>(ids.size());
    auto t = at::from_blob(ids.data(), {1, T}, at::kInt).to(at::kLong);

    at::Tensor full = model.forward(t).squeeze(0).contiguous().cpu();
    dv::KvCache cache;
    const int64_t split = std::max<int64_t>(1, T / 2);
    std::vector<at::Tensor> parts = {model.forward(t.slice(1, 0, split), &cache).squeeze(0)};
    for (int64_t i = split; i < T; ++i) parts.push_back(model.forward(t.slice(1, i, i + 1), &cache).squeeze(0));
    at::Tensor step = at::cat(parts, 0).contiguous().cpu();
    auto g = dv::generate_greedy(model, ids, gen, /*eos_id=*/-1, /*stop_at_eos=*/false);

    std::vector<dv::TensorToWrite> out = {
        {"logits", dv::DType::kF32, {T, full.size(1)}, full.data_ptr(), static_cast<size_t>(full.nbytes())},
        {"logits_step", dv::DType::kF32, {T, step.size(1)}, step.data_ptr(), static_cast<size_t>(step.nbytes())},
        {"generated", dv::DType::kI32, {static_cast<int64_t>(g.tokens.size())}, g.tokens.data(),
         g.tokens.size() * sizeof(int32_t)},
    };
    dv::write_safetensors(argv[2], out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dv_logits: %s\n", e.what());
    return 2;
  }
  return 0;
}
