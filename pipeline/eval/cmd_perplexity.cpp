// cmd_perplexity.cpp: `dejavu perplexity`: the fixed-length-window recipe of engine/models/perplexity.h
// over a text file, through a WindowScorer: the reference (CPU or GPU, any dtype) or the CUDA engine (fp16,
// windows prefilled in one pass), dense or sparse (--sparse with --predictors DIR or --oracle).
// --compare-reference (CUDA engine): also scores every window with the reference model masked with exactly the
// selections the engine made, and prints both (they agree to fp16 rounding).
#include <algorithm>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "engine/models/perplexity.h"
#include "engine/tokenizer/encode_file.h"
#include "engine/tokenizer/text_file.h"
#include "kernels/common/error.h"
#include "pipeline/cli/commands.h"
#include "pipeline/cli/engine_options.h"
#include "pipeline/cli/model_options.h"
#include "pipeline/scoring/scorer_factory.h"
#ifdef DEJAVU_HAVE_CUDA
#include "pipeline/scoring/cuda_scorer.h"
#endif

namespace dv::cli {

namespace {
struct PerplexityArgs {
  ModelOptions model;
  EngineOptions engine;
  std::string text;
  int64_t seq_len = 0;
  int64_t max_tokens = 0;
  int64_t batch = 1;
  bool compare_reference = false;
  bool json = false;
};

// --compare-reference: the CUDA scorer itself (not through the WindowScorer interface), since only it records
// the selections the reference is then masked with.
nlohmann::json compare(const OptModel& model, const ScorerRequest& request, const ScoringPlan& plan,
                       const std::vector<int32_t>& ids, int64_t seq_len) {
#ifdef DEJAVU_HAVE_CUDA
  const std::unique_ptr<CudaScorer> scorer = make_cuda_scorer(model, request);
  scorer->set_plan(plan);
  return compare_with_reference(*scorer, model, ids, seq_len);
#else
  (void)model, (void)request, (void)plan, (void)ids, (void)seq_len;
  DV_FAIL("--compare-reference holds the CUDA engine against the reference: it needs --engine cuda");
#endif
}

void run_perplexity(const PerplexityArgs& a) {
  DV_CHECK(!a.compare_reference || a.engine.engine == "cuda",
           "--compare-reference holds the CUDA engine against the reference: it needs --engine cuda");
  check_engine_available(a.engine.engine, "--engine");
  check_text_file(a.text, "perplexity --text");
  LoadedModel m = load_model(a.model);
  const ScoringPlan plan = scoring_plan(a.engine, m.model->config().num_hidden_layers);
  const std::vector<int32_t> ids =
      encode_text_file(*m.tokenizer, a.text, /*add_bos=*/true, static_cast<size_t>(std::max<int64_t>(0, a.max_tokens)));
  const int64_t seq_len =
      a.seq_len > 0 ? a.seq_len : std::min<int64_t>(m.model->config().max_position_embeddings, 2048);
  ScorerRequest request;
  request.engine = a.engine.engine;
  request.predictors = a.engine.predictors;
  request.max_window = seq_len;
  request.batch = a.batch;
  nlohmann::json j;
  if (a.compare_reference) {
    j = compare(*m.model, request, plan, ids, seq_len);
  } else {
    const std::unique_ptr<WindowScorer> scorer = make_scorer(*m.model, request);
    scorer->set_plan(plan);
    PerplexityOptions opts;
    opts.seq_len = seq_len;
    opts.batch = a.batch;
    opts.show_progress = !a.json;
    const PerplexityResult r = scorer_perplexity(*scorer, ids, opts);
    j = {{"perplexity", r.perplexity},   {"tokens", r.predicted_tokens},         {"mean_nll", r.mean_nll},
         {"input_tokens", r.input_tokens}, {"windows", r.windows},              {"seconds", r.seconds},
         {"tokens_per_second", r.tokens_per_second}};
  }
  j["seq_len"] = seq_len;
  j["engine"] = a.engine.engine;
  j["selection"] = selection_name(plan.selection);
  if (plan.selection != Selection::kDense) {
    j["mlp_density"] = plan.mlp_density;
    j["head_density"] = plan.head_density;
    j["predictors"] = a.engine.predictors;
    j["dense_layers"] = a.engine.dense_layers;
  }
  j["device"] = a.engine.engine == "cuda" ? "cuda" : a.model.device;
  j["dtype"] = a.engine.engine == "cuda" ? "float16" : a.model.dtype;
  j["model"] = a.model.model_dir;
  j["text"] = a.text;
  if (a.json) {
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  if (a.compare_reference) {
    std::printf("perplexity (cuda engine, %s) %.6f over %lld predicted tokens\n", selection_name(plan.selection),
                j["perplexity"].get<double>(), static_cast<long long>(j["tokens"].get<int64_t>()));
    std::printf("reference (masked with the engine's selections) %.6f; relative difference %.2e\n",
                j["reference_perplexity"].get<double>(), j["relative_difference"].get<double>());
    return;
  }
  // One window shorter than --seq-len is its own length ("1 window of 5 tokens"), not "1 windows of 512".
  const int64_t windows = j["windows"].get<int64_t>(), text_tokens = static_cast<int64_t>(ids.size());
  const std::string shape = windows == 1 ? fmt::format("1 window of {} tokens", std::min(seq_len, text_tokens))
                                         : fmt::format("{} windows of up to {} tokens", windows, seq_len);
  std::printf("perplexity %.6f over %lld predicted tokens (%s) in %.2f s, %.1f tokens/s\n",
              j["perplexity"].get<double>(), static_cast<long long>(j["tokens"].get<int64_t>()), shape.c_str(),
              j["seconds"].get<double>(), j["tokens_per_second"].get<double>());
}
}  // namespace

void add_perplexity_command(CLI::App& app) {
  auto args = std::make_shared<PerplexityArgs>();
  CLI::App* cmd = app.add_subcommand("perplexity", "Perplexity of a text file (HF fixed-length windows, stride = L)");
  add_model_options(cmd, args->model);
  add_engine_options(cmd, args->engine, /*with_oracle=*/true);
  cmd->add_option("--text", args->text, "UTF-8 text file")->required();
  cmd->add_option("--seq-len", args->seq_len, "window length L (0 = max_position_embeddings, capped at 2048)")
      ->capture_default_str()->check(kNonNegative);
  cmd->add_option("--max-tokens", args->max_tokens, "keep the first N tokens (0 = all)")->capture_default_str()->check(kNonNegative);
  cmd->add_option("--batch", args->batch, "windows scored together")->capture_default_str()->check(kPositive);
  cmd->add_flag("--compare-reference", args->compare_reference,
                "--engine cuda: also score with the reference model masked with the engine's selections");
  cmd->add_flag("--json", args->json, "print one JSON object {perplexity, tokens, ...}");
  cmd->callback([args] { run_perplexity(*args); });
}

}  // namespace dv::cli
