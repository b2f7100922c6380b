// cmd_bench.h: `dejavu bench`: dense vs sparse per-token decode latency of the CUDA engine (engine/cuda),
// with the roofline against the copy bandwidth measured in the same run. Only in CUDA builds.
#pragma once

#include <CLI/CLI.hpp>

namespace dv::cli {

void add_bench_command(CLI::App& app);

}  // namespace dv::cli
