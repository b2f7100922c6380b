// model_options.h: the --model/--device/--dtype options shared by subcommands, and loading the
// checkpoint + tokenizer they name.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/models/opt_model.h"
#include "engine/tokenizer/bpe_tokenizer.h"

namespace dv::cli {

struct ModelOptions {
  std::string model_dir = "data/models/opt-mini";
  std::string device = "cpu";
  std::string dtype = "float32";
};

void add_model_options(CLI::App* cmd, ModelOptions& opts);

struct LoadedModel {
  std::unique_ptr<OptModel> model;
  std::unique_ptr<BpeTokenizer> tokenizer;
};

LoadedModel load_model(const ModelOptions& opts);

}  // namespace dv::cli
