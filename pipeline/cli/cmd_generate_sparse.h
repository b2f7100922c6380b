// cmd_generate_sparse.h: the CUDA engine (engine/cuda) on the command line, dense or sparse:
//   dejavu generate-cuda   greedy generation from a prompt (`--sparse --predictors DIR`: Deja Vu decoding)
//   dejavu perplexity-cuda windowed perplexity through the engine; --compare-reference also scores the same
//                          windows with the CPU reference model masked with exactly the selections the engine
//                          used at every position, and prints both (they agree to fp16 rounding).
// Only in CUDA builds.
#pragma once

#include <CLI/CLI.hpp>

namespace dv::cli {

void add_generate_cuda_command(CLI::App& app);
void add_perplexity_cuda_command(CLI::App& app);

}  // namespace dv::cli
