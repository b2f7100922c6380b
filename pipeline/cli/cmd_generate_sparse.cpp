// cmd_generate_sparse.cpp: `dejavu generate-cuda` and `dejavu perplexity-cuda` (see cmd_generate_sparse.h).
// Predictors come from `dejavu train` (PRED_DIR/predictors.safetensors) and are handed to the engine as plain
// tensors; without --predictors, --sparse uses random fixed selections of the given densities (a smoke test
// of the sparse path, not a model of contextual sparsity).
#include "pipeline/cli/cmd_generate_sparse.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/cuda/engine_generate.h"
#include "engine/cuda/gpu_weights.h"
#include "engine/io/checkpoint.h"
#include "engine/tokenizer/bpe_tokenizer.h"
#include "engine/tokenizer/encode_file.h"
#include "kernels/common/error.h"
#include "pipeline/predictors/predictor_set.h"
#include "pipeline/stages/sparsity_masks.h"

namespace dv::cli {
namespace {

struct CudaArgs {
  std::string model_dir = "data/models/opt-mini";
  bool sparse = false;
  std::string predictors;
  double mlp_density = 0.1;   // top-k fraction of fc1 neurons (predictors or random fixed lists)
  double head_density = 0.5;  // top-k fraction of heads
  double mlp_threshold = 0;   // > 0: MLP predictors keep sigmoid >= t instead of top-k
  std::string predictor_dtype = "fp16";  // fp16 or int8 (per-row int8 predictor weights)
  uint64_t seed = 1;
};

void add_cuda_args(CLI::App* cmd, CudaArgs& a) {
  cmd->add_option("--model", a.model_dir, "Hugging Face OPT checkpoint directory")->capture_default_str();
  cmd->add_flag("--sparse", a.sparse, "run the sparse engine (Deja Vu) instead of the dense one");
  cmd->add_option("--predictors", a.predictors, "predictor directory from `dejavu train` (with --sparse)");
  cmd->add_option("--mlp-density", a.mlp_density, "fraction of fc1 neurons kept (top-k)")->capture_default_str();
  cmd->add_option("--head-density", a.head_density, "fraction of heads kept (top-k)")->capture_default_str();
  cmd->add_option("--mlp-threshold", a.mlp_threshold, "MLP predictors: keep sigmoid >= t instead of top-k (0 = off)")
      ->capture_default_str();
  cmd->add_option("--seed", a.seed, "random fixed selections (--sparse without --predictors)")->capture_default_str();
  cmd->add_option("--predictor-dtype", a.predictor_dtype, "predictor weights on the GPU: fp16 or int8 (per-row scales)")
      ->capture_default_str()->check(CLI::IsMember({"fp16", "int8"}));
}

engine::BlockSpec block_from(const std::vector<LowRankPredictor>& preds, PredictorInput input, double density) {
  engine::BlockSpec b;
  b.source = engine::SelectionSource::kPredictor;
  b.density = density;
  b.input = engine::parse_predictor_input_kind(predictor_input_name(input));
  for (const LowRankPredictor& p : preds) b.predictors.push_back({p.empty() ? at::Tensor() : p.w1(), p.empty() ? at::Tensor() : p.w2()});
  return b;
}

engine::SparseSpec make_spec(const CudaArgs& a, const OptConfig& config) {
  engine::SparseSpec spec;
  if (a.predictors.empty()) {
    spec.mlp.source = spec.heads.source = engine::SelectionSource::kFixed;
    spec.mlp.density = a.mlp_density;
    spec.heads.density = a.head_density;
    spec.mlp.seed = a.seed;
    spec.heads.seed = a.seed + 1;
    std::fprintf(stderr, "sparse: random fixed selections (no --predictors): mlp %.2f, heads %.2f\n", a.mlp_density,
                 a.head_density);
    return spec;
  }
  const PredictorSet set = load_predictors(a.predictors, config);
  spec.mlp = block_from(set.mlp, set.mlp_input, a.mlp_density);
  spec.heads = block_from(set.att, set.att_input, a.head_density);
  spec.mlp.int8_weights = spec.heads.int8_weights = a.predictor_dtype == "int8";
  if (a.mlp_threshold > 0) {
    spec.mlp.threshold = true;
    spec.mlp.probability = static_cast<float>(a.mlp_threshold);
  }
  std::fprintf(stderr, "sparse: predictors %s (mlp reads %s, heads read %s), %zu trained layers\n",
               a.predictors.c_str(), predictor_input_name(set.mlp_input), predictor_input_name(set.att_input),
               set.layers().size());
  return spec;
}

// The checkpoint in fp16 on the CPU (kept for the reference comparison) and an engine built from it.
struct Loaded {
  OptWeights weights;
  std::unique_ptr<engine::CudaEngine> engine;
  std::unique_ptr<BpeTokenizer> tokenizer;
};

Loaded load(const CudaArgs& a, int max_len) {
  Loaded m;
  Checkpoint ckpt(a.model_dir);
  m.tokenizer = std::make_unique<BpeTokenizer>(BpeTokenizer::load(a.model_dir));
  m.weights = load_opt_weights(ckpt, at::kHalf, at::Device(at::kCPU));
  engine::CudaEngineOptions o;
  o.max_len = max_len;
  m.engine = std::make_unique<engine::CudaEngine>(engine::upload_weights(m.weights), o);
  if (a.sparse) m.engine->set_sparse(make_spec(a, m.weights.config));
  return m;
}

struct GenerateCudaArgs {
  CudaArgs cuda;
  std::string prompt;
  int64_t max_new_tokens = 32;
  bool stop_at_eos = true;
  bool sparse_prompt = false;
  bool print_ids = false;
};

void run_generate_cuda(const GenerateCudaArgs& a) {
  const OptConfig config = load_opt_config(a.cuda.model_dir);
  Loaded m = load(a.cuda, static_cast<int>(config.max_position_embeddings));
  const std::vector<int32_t> prompt = m.tokenizer->encode(a.prompt, /*add_bos=*/true);
  engine::EngineRunOptions ro;
  ro.mode = a.cuda.sparse ? engine::StepMode::kSparse : engine::StepMode::kDense;
  ro.sparse_prompt = a.sparse_prompt;
  const GenerateResult r =
      engine::engine_generate_greedy(*m.engine, prompt, a.max_new_tokens, m.tokenizer->eos_id(), a.stop_at_eos, ro);
  std::printf("%s%s\n", a.prompt.c_str(), m.tokenizer->decode(r.tokens).c_str());
  if (a.print_ids) {
    std::printf("ids:");
    for (int32_t t : r.tokens) std::printf(" %d", t);
    std::printf("\n");
  }
  std::fprintf(stderr, "cuda %s: prompt %zu tokens %.3f s, decode %zu tokens %.3f s (%.1f tokens/s, with a host sync per token)\n",
               a.cuda.sparse ? "sparse" : "dense", prompt.size(), r.prefill_seconds, r.tokens.size(), r.decode_seconds,
               r.decode_seconds > 0 ? r.tokens.size() / r.decode_seconds : 0.0);
}

struct PerplexityCudaArgs {
  CudaArgs cuda;
  std::string text;
  int64_t seq_len = 256;
  int64_t max_tokens = 0;
  bool compare_reference = false;
  bool json = false;
};

OptModel fp32_reference(OptWeights w) {
  auto f = [](at::Tensor& t) {
    if (t.defined()) t = t.to(at::kFloat);
  };
  for (at::Tensor* t : {&w.embed_tokens, &w.embed_positions, &w.project_in, &w.project_out, &w.final_ln_w,
                        &w.final_ln_b, &w.lm_head})
    f(*t);
  for (auto& l : w.layers)
    for (at::Tensor* t : {&l.q_w, &l.q_b, &l.k_w, &l.k_b, &l.v_w, &l.v_b, &l.out_w, &l.out_b, &l.attn_ln_w,
                          &l.attn_ln_b, &l.fc1_w, &l.fc1_b, &l.fc2_w, &l.fc2_b, &l.mlp_ln_w, &l.mlp_ln_b})
      f(*t);
  return OptModel(std::move(w));
}

// Window by window: the engine's NLL, recording its selections at every position, then the CPU fp32
// reference on the same window masked with exactly those selections.
nlohmann::json compare_with_reference(Loaded& m, const std::vector<int32_t>& ids, const PerplexityCudaArgs& a,
                                      engine::EngineRunOptions ro) {
  const OptConfig& config = m.weights.config;
  const int L = static_cast<int>(config.num_hidden_layers);
  std::vector<std::vector<std::vector<int>>> heads, mlp;  // [step][layer] of the current window
  if (a.cuda.sparse) ro.on_step = [&](int) {
    heads.emplace_back(L);
    mlp.emplace_back(L);
    for (int l = 0; l < L; ++l) {
      heads.back()[l] = m.engine->selection(false, l);
      mlp.back()[l] = m.engine->selection(true, l);
    }
  };
  const OptModel ref = fp32_reference(m.weights);
  double nll_gpu = 0, nll_ref = 0;
  int64_t n = 0, windows = 0;
  const int64_t total = static_cast<int64_t>(ids.size());
  for (int64_t start = 0; start + 1 < total; start += a.seq_len) {
    const int64_t end = std::min(total, start + a.seq_len), T = end - start;
    const std::vector<int32_t> window(ids.begin() + start, ids.begin() + end);
    heads.clear();
    mlp.clear();
    nll_gpu += engine::engine_window_nll(*m.engine, window, ro);
    at::Tensor x = at::empty({1, T}, at::kLong);
    for (int64_t t = 0; t < T; ++t) x[0][t] = static_cast<int64_t>(window[t]);
    ForwardHooks hooks;
    if (a.cuda.sparse) {
      hooks.head_mask = [&](const MaskQuery& q) { return selections_mask(heads, q.layer, T, config.num_attention_heads); };
      hooks.mlp_mask = [&](const MaskQuery& q) { return selections_mask(mlp, q.layer, T, config.ffn_dim); };
    }
    nll_ref += window_nll_sum(ref.forward(x, nullptr, &hooks), x);
    n += T - 1;
    ++windows;
  }
  const double ppl_gpu = std::exp(nll_gpu / std::max<int64_t>(n, 1)), ppl_ref = std::exp(nll_ref / std::max<int64_t>(n, 1));
  return {{"perplexity", ppl_gpu},
          {"tokens", n},
          {"windows", windows},
          {"reference_perplexity", ppl_ref},
          {"reference", "cpu fp32 reference masked with the engine's selections"},
          {"relative_difference", std::abs(ppl_gpu - ppl_ref) / ppl_ref},
          {"mean_abs_nll_difference_per_token", std::abs(nll_gpu - nll_ref) / std::max<int64_t>(n, 1)}};
}

void run_perplexity_cuda(const PerplexityCudaArgs& a) {
  const OptConfig config = load_opt_config(a.cuda.model_dir);
  DV_CHECK(a.seq_len >= 2 && a.seq_len <= config.max_position_embeddings, "--seq-len {} outside [2, {}]", a.seq_len,
           config.max_position_embeddings);
  Loaded m = load(a.cuda, static_cast<int>(a.seq_len));
  const std::vector<int32_t> ids =
      encode_text_file(*m.tokenizer, a.text, /*add_bos=*/true, static_cast<size_t>(std::max<int64_t>(0, a.max_tokens)));
  engine::EngineRunOptions ro;
  ro.mode = a.cuda.sparse ? engine::StepMode::kSparse : engine::StepMode::kDense;
  ro.sparse_prompt = true;  // every scored position sparse, as the reference's per-token masks
  nlohmann::json j;
  if (a.compare_reference) {
    j = compare_with_reference(m, ids, a, ro);
  } else {
    const PerplexityResult r = engine::engine_perplexity(*m.engine, ids, a.seq_len, ro, !a.json);
    j = {{"perplexity", r.perplexity}, {"tokens", r.predicted_tokens}, {"windows", r.windows}, {"seconds", r.seconds},
         {"tokens_per_second", r.tokens_per_second}};
  }
  j["engine"] = a.cuda.sparse ? "cuda-sparse" : "cuda-dense";
  j["seq_len"] = a.seq_len;
  j["model"] = a.cuda.model_dir;
  j["predictors"] = a.cuda.predictors;
  j["mlp_density"] = a.cuda.mlp_density;
  j["head_density"] = a.cuda.head_density;
  j["text"] = a.text;
  if (a.json) {
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("perplexity (%s) %.6f over %lld predicted tokens\n", j["engine"].get<std::string>().c_str(),
              j["perplexity"].get<double>(), static_cast<long long>(j["tokens"].get<int64_t>()));
  if (a.compare_reference)
    std::printf("reference (CPU fp32, masked with the same selections) %.6f; relative difference %.2e\n",
                j["reference_perplexity"].get<double>(), j["relative_difference"].get<double>());
}

}  // namespace

void add_generate_cuda_command(CLI::App& app) {
  auto a = std::make_shared<GenerateCudaArgs>();
  CLI::App* cmd = app.add_subcommand("generate-cuda", "Greedy generation on the CUDA engine (dense or --sparse)");
  add_cuda_args(cmd, a->cuda);
  cmd->add_option("--prompt", a->prompt, "prompt text")->required();
  cmd->add_option("--max-new-tokens", a->max_new_tokens, "tokens to generate")->capture_default_str();
  cmd->add_flag("!--no-stop-at-eos", a->stop_at_eos, "keep generating past </s>");
  cmd->add_flag("--sparse-prompt", a->sparse_prompt, "run the prompt sparse too (default: dense prompt, sparse decode)");
  cmd->add_flag("--print-ids", a->print_ids, "also print the generated token ids");
  cmd->callback([a] { run_generate_cuda(*a); });
}

void add_perplexity_cuda_command(CLI::App& app) {
  auto a = std::make_shared<PerplexityCudaArgs>();
  CLI::App* cmd = app.add_subcommand("perplexity-cuda", "Perplexity through the CUDA engine (every token sparse with --sparse)");
  add_cuda_args(cmd, a->cuda);
  cmd->add_option("--text", a->text, "UTF-8 text file")->required();
  cmd->add_option("--seq-len", a->seq_len, "window length (stride = window)")->capture_default_str();
  cmd->add_option("--max-tokens", a->max_tokens, "keep the first N tokens (0 = all)")->capture_default_str();
  cmd->add_flag("--compare-reference", a->compare_reference,
                "also score with the CPU fp32 reference masked with the engine's selections");
  cmd->add_flag("--json", a->json, "print one JSON object");
  cmd->callback([a] { run_perplexity_cuda(*a); });
}

}  // namespace dv::cli
