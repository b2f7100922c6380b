// model_options.h: the --model/--device/--dtype options shared by subcommands, and loading the
// checkpoint + tokenizer they name.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/models/opt_model.h"
#include "engine/tokenizer/bpe_tokenizer.h"
#include "pipeline/scoring/sweep_spec.h"

namespace dv::cli {

struct ModelOptions {
  std::string model_dir = "data/models/opt-mini";
  std::string device = "cpu";
  std::string dtype = "float32";
};

void add_model_options(CLI::App* cmd, ModelOptions& opts);

// --modes, --targets, --mlp-densities, --head-densities, --dense-layers (eval's sweep; `dejavu eval` and `tasks`).
void add_sweep_options(CLI::App* cmd, EvalSweep& sweep);

struct LoadedModel {
  std::unique_ptr<OptModel> model;
  std::unique_ptr<BpeTokenizer> tokenizer;
};

LoadedModel load_model(const ModelOptions& opts);

// Option validators whose message names the bad value plainly (CLI11's Range prints DBL_MAX as the bound).
inline CLI::Validator at_least(long long lo) {
  return CLI::Validator(
      [lo](std::string& s) -> std::string {
        long long v = 0;
        if (!CLI::detail::lexical_cast(s, v)) return "expected an integer, got " + s;
        return v < lo ? "must be >= " + std::to_string(lo) + ", got " + s : std::string();
      },
      ">=" + std::to_string(lo));
}
inline const CLI::Validator kNonNegative = at_least(0);
inline const CLI::Validator kPositive = at_least(1);

}  // namespace dv::cli
