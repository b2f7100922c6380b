// bench_model.cpp: see bench_model.h.
#include "pipeline/bench/bench_model.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "engine/cuda/engine_context.h"
#include "engine/cuda/gpu_weights.h"
#include "engine/cuda/model_bench.h"
#include "engine/io/checkpoint.h"
#include "engine/models/opt_weights.h"
#include "engine/tokenizer/bpe_tokenizer.h"
#include "engine/tokenizer/encode_file.h"
#include "kernels/common/error.h"
#include "pipeline/scoring/engine_spec.h"

namespace dv::cli {
namespace {

// Ordinary English prose, repeated as often as the prompt and the decode steps need.
constexpr const char* kBuiltinPassage =
    "The history of the city begins with a small settlement on the river, where traders met to exchange grain, "
    "salt and cloth. Over the following centuries the market grew into a town with walls, churches and a "
    "university, and by the nineteenth century its factories and railways had made it one of the largest "
    "industrial centres of the country. Today visitors come for its museums, its old streets and its parks. ";

std::vector<int32_t> bench_tokens(BpeTokenizer& tok, const ModelBenchArgs& a, size_t needed) {
  if (!a.text.empty()) return encode_text_file(tok, a.text, /*add_bos=*/true, needed);
  std::string text;
  std::vector<int32_t> ids;
  while (ids.size() < needed) {
    text += kBuiltinPassage;
    ids = tok.encode(text, /*add_bos=*/true);
  }
  ids.resize(needed);
  return ids;
}

}  // namespace

nlohmann::json model_bench_options_json(const ModelBenchArgs& a) {
  return {{"model", a.model_dir},       {"predictors", a.predictors}, {"text", a.text.empty() ? "(built-in)" : a.text},
          {"mlp_densities", a.mlp_densities}, {"head_density", a.head_density}, {"kv_heads", a.kv_heads}, {"prompt_len", a.prompt_len},
          {"batch_sizes", a.batch_sizes}, {"batch_unions", a.batch_unions}, {"predictor_dtypes", a.predictor_dtypes},
          {"dense_crossover", a.dense_crossover},
          {"warmup", a.warmup},         {"iters", a.iters},           {"seed", a.seed},
          {"decode_paths", a.decode_paths}};
}

engine::BenchReport bench_model(const ModelBenchArgs& a, const std::function<void(const engine::BenchRow&)>& on_row) {
  DV_CHECK(engine::cuda_device_available(), "bench: no CUDA GPU is available on this machine");
  DV_CHECK(!a.mlp_densities.empty(), "bench: --densities (YAML bench.densities) is empty");
  for (double d : a.mlp_densities) DV_CHECK(d > 0 && d <= 1, "bench: MLP density {} outside (0, 1]", d);
  DV_CHECK(a.head_density > 0 && a.head_density <= 1, "bench: head density {} outside (0, 1]", a.head_density);
  for (const std::string& dtype : a.predictor_dtypes)
    DV_CHECK(dtype == "fp16" || dtype == "int8", "bench: --predictor-dtype '{}' is not fp16 or int8", dtype);
  Checkpoint ckpt(a.model_dir);
  BpeTokenizer tok = BpeTokenizer::load(a.model_dir);
  const std::string name = std::filesystem::path(a.model_dir).filename().string();
  engine::ModelBenchOptions o;
  o.name = name.empty() ? std::filesystem::path(a.model_dir).parent_path().filename().string() : name;
  o.prompt_len = a.prompt_len;
  o.warmup = a.warmup;
  o.iters = a.iters;
  o.decode_paths = a.decode_paths;
  o.batch_sizes = a.batch_sizes;
  const int max_batch = a.batch_sizes.empty() ? 1 : *std::max_element(a.batch_sizes.begin(), a.batch_sizes.end());
  o.tokens = bench_tokens(tok, a, static_cast<size_t>(max_batch) * (a.prompt_len + a.warmup + a.iters));

  OptWeights cpu = load_opt_weights(ckpt, at::kHalf, at::Device(at::kCPU));
  const OptConfig config = cpu.config;
  std::vector<engine::ModelBenchConfig> configs(1);
  configs[0].engine = "dense";
  const int H = static_cast<int>(config.num_attention_heads);
  // One row per density and kind: random fixed lists (the sparse kernels alone), then the trained predictors.
  auto add_rows = [&](const std::string& row_name, int min_batch, int max_batch,
                      const std::function<engine::SparseSpec(double)>& spec_at) {
    for (double m : a.mlp_densities) {
      engine::ModelBenchConfig c;
      c.engine = row_name;
      c.sparse = true;
      c.mlp_density = m;
      c.head_density = a.head_density;
      c.spec = spec_at(m);
      c.min_batch = min_batch;
      c.max_batch = max_batch;
      c.spec.kv_heads = engine::parse_kv_heads(a.kv_heads);
      configs.push_back(std::move(c));
    }
  };
  // Density 1 still times the sparse kernels (the 100% column), not the dense path.
  auto plan_at = [&](Selection selection, double m) {
    ScoringPlan plan;
    plan.selection = selection;
    plan.mlp_density = m;
    plan.head_density = a.head_density;
    plan.seed = a.seed;
    plan.sparse_at_full_density = true;
    return plan;
  };
  add_rows("sparse-fixed", 1, 1, [&](double m) { return engine_spec(plan_at(Selection::kFixed, m), nullptr); });
  if (!a.predictors.empty()) {
    const PredictorSet set = load_predictors(a.predictors, config);
    std::printf("bench: predictors %s: %zu of %lld layers trained (others run dense), mlp reads %s, heads read %s\n",
                a.predictors.c_str(), set.layers().size(), static_cast<long long>(config.num_hidden_layers),
                predictor_input_name(set.mlp_input), predictor_input_name(set.att_input));
    const engine::SparseSpec predictors = predictor_spec(set);
    for (const std::string& dtype : a.predictor_dtypes)
      for (size_t u = 0; u < a.batch_unions.size(); ++u) {
        // The first union policy is the batch-1 row; the others only differ at batch > 1.
        const std::string name = std::string(dtype == "int8" ? "sparse-predictor-int8" : "sparse-predictor") +
                                 (a.batch_unions[u] == "max" ? "-max" : "");
        // fp16: beside the raw row, the same predictors under the measured sparse/dense choice (-auto rows,
        // SparseSpec::fallback; the note names the mode each batch settled on and both calibration medians).
        for (const bool fallback : {false, true}) {
          if (fallback && dtype != "fp16") continue;
          add_rows(name + (fallback ? "-auto" : ""), u == 0 ? 1 : 2, 32, [&, dtype, u, fallback](double m) {
            engine::SparseSpec spec = engine_spec(plan_at(Selection::kPredicted, m), &predictors);
            for (engine::BlockSpec* b : {&spec.mlp, &spec.heads}) {
              engine::set_batch_union(*b, a.batch_unions[u]);
              b->dense_crossover = a.dense_crossover;
              b->int8_weights = dtype == "int8";
            }
            spec.fallback.enabled = fallback;
            return spec;
          });
        }
      }
  }
  std::printf("bench: %s (%lld layers, d %lld, ffn %lld, %d heads) fp16 on the GPU, prompt %d tokens, %d warm-up + "
              "%d timed steps on the text's next tokens\n",
              o.name.c_str(), static_cast<long long>(config.num_hidden_layers),
              static_cast<long long>(config.hidden_size), static_cast<long long>(config.ffn_dim), H, a.prompt_len,
              a.warmup, a.iters);
  engine::GpuWeights gpu = engine::upload_weights(cpu);
  cpu = OptWeights{};  // the host copy is not needed once the engine has its own
  return engine::run_model_bench(std::move(gpu), o, configs, on_row);
}

}  // namespace dv::cli
