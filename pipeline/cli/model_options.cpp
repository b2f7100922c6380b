// model_options.cpp: option registration and checkpoint/tokenizer loading.
#include "pipeline/cli/model_options.h"
#include "pipeline/cli/option_flags.h"

#include <filesystem>

#include "engine/io/checkpoint.h"
#include "kernels/common/error.h"

namespace dv::cli {

void add_model_options(CLI::App* cmd, ModelOptions& opts) {
  cmd->add_option("--model", opts.model_dir, "Hugging Face OPT checkpoint directory")->capture_default_str();
  cmd->add_option("--device", opts.device, "cpu, cuda, cuda:N or auto")->capture_default_str();
  cmd->add_option("--dtype", opts.dtype, "float32, float16 or bfloat16")->capture_default_str();
}

void add_sweep_options(CLI::App* cmd, EvalSweep& sweep) {
  OptionFlags flags(cmd, "eval");
  visit_sweep_options(sweep, flags);
}

LoadedModel load_model(const ModelOptions& opts) {
  const at::Device device = parse_device(opts.device);
  const at::ScalarType dtype = parse_scalar_type(opts.dtype);
  // A relative path (the default data/models/opt-mini is one) resolves against the working directory: name it,
  // since the default is found only from the checkout's root.
  const std::filesystem::path dir(opts.model_dir);
  DV_CHECK(std::filesystem::exists(dir) || dir.is_absolute(),
           "--model {}: no such directory under the working directory {} (the default names the checkout's "
           "opt-mini: run from the repository root, or pass --model DIR)",
           opts.model_dir, std::filesystem::current_path().string());
  Checkpoint ckpt(opts.model_dir);
  LoadedModel m;
  m.tokenizer = std::make_unique<BpeTokenizer>(BpeTokenizer::load(opts.model_dir));
  m.model = std::make_unique<OptModel>(load_opt_weights(ckpt, dtype, device));
  return m;
}

}  // namespace dv::cli
