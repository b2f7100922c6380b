// engine_options.cpp: registration and the options -> ScoringPlan mapping.
#include "pipeline/cli/engine_options.h"

#include "kernels/common/error.h"

namespace dv::cli {

void add_engine_option(CLI::App* cmd, std::string& engine) {
  cmd->add_option("--engine", engine, "reference (LibTorch, --device/--dtype) or cuda (the fp16 CUDA engine)")
      ->capture_default_str()
      ->check(CLI::IsMember({"reference", "cuda"}));
}

void add_engine_options(CLI::App* cmd, EngineOptions& o, bool with_oracle) {
  add_engine_option(cmd, o.engine);
  cmd->add_flag("--sparse", o.sparse, with_oracle ? "sparse (Deja Vu): needs --predictors DIR or --oracle"
                                                  : "sparse (Deja Vu): --predictors DIR, or random fixed selections");
  cmd->add_option("--predictors", o.predictors, "predictor directory from `dejavu train` (with --sparse)");
  if (with_oracle)
    cmd->add_flag("--oracle", o.oracle, "with --sparse: each token keeps the top-k of its own dense values");
  cmd->add_option("--mlp-density", o.mlp_density, "fraction of fc1 neurons kept per token (top-k)")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0).description("in (0, 1]"));
  cmd->add_option("--head-density", o.head_density, "fraction of heads kept per token (top-k)")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0).description("in (0, 1]"));
  cmd->add_option("--dense-layers", o.dense_layers, "layers left dense when sparse (-1 = the last)")->delimiter(',');
}

ScoringPlan scoring_plan(const EngineOptions& o, int64_t layers, bool fixed_without_source) {
  ScoringPlan plan;
  DV_CHECK(o.sparse || (o.predictors.empty() && !o.oracle), "--predictors and --oracle need --sparse");
  if (!o.sparse) return plan;
  const bool fixed = fixed_without_source && o.predictors.empty() && !o.oracle;
  DV_CHECK(fixed || !o.predictors.empty() != o.oracle, "--sparse needs one of --predictors DIR or --oracle");
  DV_CHECK(o.mlp_density > 0 && o.head_density > 0, "--mlp-density and --head-density must be > 0 (got {} / {})",
           o.mlp_density, o.head_density);
  plan.selection = fixed ? Selection::kFixed : o.oracle ? Selection::kOracle : Selection::kPredicted;
  plan.mlp_density = o.mlp_density;
  plan.head_density = o.head_density;
  plan.dense_layer = dense_layer_flags(o.dense_layers, layers, "--dense-layers");
  return plan;
}

}  // namespace dv::cli
