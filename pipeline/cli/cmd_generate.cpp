// cmd_generate.cpp: `dejavu generate`: greedy generation with the reference model (--engine reference, the
// default; --sparse --predictors DIR masks every token with the predictors' top-k) or the CUDA engine
// (--engine cuda: the prompt prefilled in one pass, then one CUDA-graph decode step per token; --sparse runs
// Deja Vu decoding with the predictors on the GPU, or random fixed selections without --predictors).
#include <cstdio>
#include <memory>
#include <optional>

#include "engine/models/generate.h"
#include "kernels/common/error.h"
#include "pipeline/cli/commands.h"
#include "pipeline/cli/engine_options.h"
#include "pipeline/cli/model_options.h"
#include "pipeline/scoring/predicted_scorers.h"
#include "pipeline/scoring/scorer_factory.h"
#ifdef DEJAVU_HAVE_CUDA
#include "engine/cuda/engine_generate.h"
#include "engine/cuda/gpu_weights.h"
#include "pipeline/scoring/engine_spec.h"
#endif

namespace dv::cli {

namespace {
struct GenerateArgs {
  ModelOptions model;
  EngineOptions engine;
  std::string prompt;
  int64_t max_new_tokens = 32;
  bool stop_at_eos = true;
  bool print_ids = false;
  bool sparse_prompt = false;  // cuda: the prompt's prefill selects per token too
  double mlp_threshold = 0;    // cuda: > 0 keeps sigmoid >= t instead of the top-k
  uint64_t seed = 1;           // cuda: random fixed selections (--sparse without --predictors)
  std::string decode_path = "graph";  // cuda: graph | persistent (one kernel a decode step)
  std::string sparse_fallback = "auto";  // cuda --sparse: auto (the measured faster step) | off (always sparse)
};

GenerateResult generate_reference(const GenerateArgs& a, const LoadedModel& m, const std::vector<int32_t>& prompt) {
  if (!a.engine.sparse) return generate_greedy(*m.model, prompt, a.max_new_tokens, m.tokenizer->eos_id(), a.stop_at_eos);
  DV_CHECK(!a.engine.predictors.empty(), "generate --sparse on the reference engine needs --predictors DIR");
  DV_CHECK(a.mlp_threshold == 0, "--mlp-threshold needs --engine cuda");
  DV_CHECK(a.decode_path == "graph", "--decode-path {} needs --engine cuda", a.decode_path);
  const Scorers s = load_predicted_scorers(a.engine.predictors, *m.model);
  const SparsityPlan plan = sparsity_plan(scoring_plan(a.engine, m.model->config().num_hidden_layers), s.mlp, s.heads);
  const ForwardHooks hooks = make_mask_hooks(plan, nullptr);
  return generate_greedy(*m.model, prompt, a.max_new_tokens, m.tokenizer->eos_id(), a.stop_at_eos, &hooks);
}

#ifdef DEJAVU_HAVE_CUDA
GenerateResult generate_cuda(const GenerateArgs& a, const LoadedModel& m, const std::vector<int32_t>& prompt) {
  const OptConfig& c = m.model->config();
  engine::CudaEngineOptions o;
  o.max_len = static_cast<int>(c.max_position_embeddings);
  o.decode_path = engine::parse_decode_path(a.decode_path);
  engine::CudaEngine eng(engine::upload_weights(m.model->weights()), o);
  engine::EngineRunOptions ro;
  if (a.engine.sparse) {
    ScoringPlan plan = scoring_plan(a.engine, c.num_hidden_layers, /*fixed_without_source=*/true);
    plan.seed = a.seed;
    plan.mlp_threshold = a.mlp_threshold;
    plan.sparse_at_full_density = true;  // --sparse runs the sparse path at any density
    DV_CHECK(a.mlp_threshold == 0 || !a.engine.predictors.empty(), "--mlp-threshold needs --predictors");
    std::optional<engine::SparseSpec> predictors;
    if (a.engine.predictors.empty())
      std::fprintf(stderr, "sparse: random fixed selections (no --predictors)\n");
    else
      predictors = predictor_spec(load_predictors(a.engine.predictors, c));
    engine::SparseSpec spec = engine_spec(plan, predictors ? &*predictors : nullptr);
    spec.fallback.enabled = engine::parse_sparse_fallback(a.sparse_fallback);
    eng.set_sparse(spec);
    ro.mode = engine::StepMode::kSparse;
    ro.sparse_prompt = a.sparse_prompt;
  }
  return engine::engine_generate_greedy(eng, prompt, a.max_new_tokens, m.tokenizer->eos_id(), a.stop_at_eos, ro);
}
#endif

void run_generate(const GenerateArgs& a) {
  check_engine_available(a.engine.engine, "--engine");
  LoadedModel m = load_model(a.model);
  const std::vector<int32_t> prompt = m.tokenizer->encode(a.prompt, /*add_bos=*/true);
  GenerateResult r;
#ifdef DEJAVU_HAVE_CUDA
  if (a.engine.engine == "cuda") r = generate_cuda(a, m, prompt);
#endif
  if (a.engine.engine == "reference") r = generate_reference(a, m, prompt);
  std::printf("%s%s\n", a.prompt.c_str(), m.tokenizer->decode(r.tokens).c_str());
  if (a.print_ids) {
    std::printf("ids:");
    for (int32_t t : r.tokens) std::printf(" %d", t);
    std::printf("\n");
  }
  std::fprintf(stderr, "%s%s: prefill %zu tokens %.3f s, decode %zu tokens %.3f s (%.1f tokens/s)\n",
               a.engine.engine.c_str(), a.engine.sparse ? " sparse" : "", prompt.size(), r.prefill_seconds,
               r.tokens.size(), r.decode_seconds, r.decode_seconds > 0 ? r.tokens.size() / r.decode_seconds : 0.0);
}
}  // namespace

void add_generate_command(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "Greedy generation from a prompt (reference or CUDA engine)");
  add_model_options(cmd, args->model);
  add_engine_options(cmd, args->engine, /*with_oracle=*/false);
  cmd->add_option("--prompt", args->prompt, "prompt text")->required();
  cmd->add_option("--max-new-tokens", args->max_new_tokens, "tokens to generate")->capture_default_str();
  // A callback, not a "!" flag: CLI11 prints a negated flag's value in the help ("--no-stop-at-eos{false}").
  cmd->add_flag_callback("--no-stop-at-eos", [args] { args->stop_at_eos = false; }, "keep generating past </s>");
  cmd->add_flag("--print-ids", args->print_ids, "also print the generated token ids");
  cmd->add_flag("--sparse-prompt", args->sparse_prompt,
                "--engine cuda --sparse: prefill the prompt sparse too (default: dense prompt, sparse decode)");
  cmd->add_option("--mlp-threshold", args->mlp_threshold,
                  "--engine cuda: MLP predictors keep sigmoid >= t instead of top-k (0 = off)")->capture_default_str();
  cmd->add_option("--decode-path", args->decode_path,
                  "--engine cuda: graph (CUDA graph) or persistent (one kernel a decode step)")
      ->capture_default_str()->check(CLI::IsMember({"graph", "persistent"}));
  cmd->add_option("--sparse-fallback", args->sparse_fallback,
                  "--engine cuda --sparse, graph path: auto times the first 8 sparse steps against dense at the same "
                  "positions and decodes the rest in the faster mode (logged); off always decodes sparse")
      ->capture_default_str()->check(CLI::IsMember({"auto", "off"}));
  cmd->add_option("--seed", args->seed, "--engine cuda --sparse without --predictors: random fixed selections")
      ->capture_default_str();
  cmd->callback([args] { run_generate(*args); });
}

}  // namespace dv::cli
