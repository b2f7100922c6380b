// cmd_generate.cpp: `dejavu generate`: greedy generation with the dense reference model.
#include <cstdio>
#include <memory>

#include "engine/models/generate.h"
#include "pipeline/cli/commands.h"
#include "pipeline/cli/model_options.h"

namespace dv::cli {

namespace {
struct GenerateArgs {
  ModelOptions model;
  std::string prompt;
  int64_t max_new_tokens = 32;
  bool stop_at_eos = true;
  bool print_ids = false;
};

void run_generate(const GenerateArgs& a) {
  LoadedModel m = load_model(a.model);
  const std::vector<int32_t> prompt = m.tokenizer->encode(a.prompt, /*add_bos=*/true);
  const GenerateResult r = generate_greedy(*m.model, prompt, a.max_new_tokens, m.tokenizer->eos_id(), a.stop_at_eos);
  std::printf("%s%s\n", a.prompt.c_str(), m.tokenizer->decode(r.tokens).c_str());
  if (a.print_ids) {
    std::printf("ids:");
    for (int32_t t : r.tokens) std::printf(" %d", t);
    std::printf("\n");
  }
  std::fprintf(stderr, "prefill %zu tokens %.3f s, decode %zu tokens %.3f s (%.1f tokens/s)\n", prompt.size(),
               r.prefill_seconds, r.tokens.size(), r.decode_seconds,
               r.decode_seconds > 0 ? r.tokens.size() / r.decode_seconds : 0.0);
}
}  // namespace

void add_generate_command(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "Greedy generation from a prompt");
  add_model_options(cmd, args->model);
  cmd->add_option("--prompt", args->prompt, "prompt text")->required();
  cmd->add_option("--max-new-tokens", args->max_new_tokens, "tokens to generate")->capture_default_str();
  cmd->add_flag("!--no-stop-at-eos", args->stop_at_eos, "keep generating past </s>");
  cmd->add_flag("--print-ids", args->print_ids, "also print the generated token ids");
  cmd->callback([args] { run_generate(*args); });
}

}  // namespace dv::cli
