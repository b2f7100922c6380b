// cmd_perplexity.cpp: `dejavu perplexity`: the fixed-length-window recipe of engine/models/perplexity.h
// over a text file, on CPU or GPU.
#include <algorithm>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "engine/models/perplexity.h"
#include "engine/tokenizer/encode_file.h"
#include "kernels/common/error.h"
#include "pipeline/cli/commands.h"
#include "pipeline/cli/model_options.h"

namespace dv::cli {

namespace {
struct PerplexityArgs {
  ModelOptions model;
  std::string text;
  int64_t seq_len = 0;
  int64_t max_tokens = 0;
  int64_t batch = 1;
  bool json = false;
};

void run_perplexity(const PerplexityArgs& a) {
  LoadedModel m = load_model(a.model);
  const std::vector<int32_t> ids =
      encode_text_file(*m.tokenizer, a.text, /*add_bos=*/true, static_cast<size_t>(std::max<int64_t>(0, a.max_tokens)));
  PerplexityOptions opts;
  opts.seq_len = a.seq_len;
  opts.batch = a.batch;
  opts.show_progress = !a.json;
  const PerplexityResult r = compute_perplexity(*m.model, ids, opts);
  if (a.json) {
    nlohmann::json j = {{"perplexity", r.perplexity},     {"tokens", r.predicted_tokens},
                        {"mean_nll", r.mean_nll},         {"input_tokens", r.input_tokens},
                        {"windows", r.windows},           {"seq_len", r.seq_len},
                        {"seconds", r.seconds},           {"tokens_per_second", r.tokens_per_second},
                        {"device", a.model.device},       {"dtype", a.model.dtype},
                        {"model", a.model.model_dir},     {"text", a.text}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("perplexity %.6f over %lld predicted tokens (%lld windows of %lld) in %.2f s, %.1f tokens/s\n",
                r.perplexity, static_cast<long long>(r.predicted_tokens), static_cast<long long>(r.windows),
                static_cast<long long>(r.seq_len), r.seconds, r.tokens_per_second);
  }
}
}  // namespace

void add_perplexity_command(CLI::App& app) {
  auto args = std::make_shared<PerplexityArgs>();
  CLI::App* cmd = app.add_subcommand("perplexity", "Perplexity of a text file (HF fixed-length windows, stride = L)");
  add_model_options(cmd, args->model);
  cmd->add_option("--text", args->text, "UTF-8 text file")->required();
  cmd->add_option("--seq-len", args->seq_len, "window length L (0 = max_position_embeddings, capped at 2048)")
      ->capture_default_str()->check(kNonNegative);
  cmd->add_option("--max-tokens", args->max_tokens, "keep the first N tokens (0 = all)")->capture_default_str()->check(kNonNegative);
  cmd->add_option("--batch", args->batch, "windows scored together")->capture_default_str()->check(kPositive);
  cmd->add_flag("--json", args->json, "print one JSON object {perplexity, tokens, ...}");
  cmd->callback([args] { run_perplexity(*args); });
}

}  // namespace dv::cli
