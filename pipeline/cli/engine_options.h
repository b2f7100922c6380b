// engine_options.h: the options that pick who runs a model and how sparsely, shared by `generate`,
// `perplexity` and `eval`: --engine reference|cuda (one command per job; the CUDA engine's twin commands
// are gone), and for generate / perplexity --sparse with --predictors DIR (trained predictors) or --oracle
// (each token's own top-k), --mlp-density, --head-density, --dense-layers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "pipeline/scoring/window_scorer.h"

namespace dv::cli {

struct EngineOptions {
  std::string engine = "reference";
  bool sparse = false;
  bool oracle = false;
  std::string predictors;
  double mlp_density = 0.1;   // fraction of fc1 neurons kept per token
  double head_density = 0.5;  // fraction of heads kept per token
  std::vector<int64_t> dense_layers;
};

void add_engine_option(CLI::App* cmd, std::string& engine);
// --engine plus the sparsity options (--oracle only where the command can score with it).
void add_engine_options(CLI::App* cmd, EngineOptions& o, bool with_oracle);

// The plan the options ask for on a model of `layers` layers; --sparse without --predictors or --oracle is
// random fixed selections when fixed_without_source (generate on the CUDA engine), else dv::Error.
ScoringPlan scoring_plan(const EngineOptions& o, int64_t layers, bool fixed_without_source = false);

}  // namespace dv::cli
