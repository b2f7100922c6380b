// bench_plan.h: the bench section (bench_section.h) as the engine's bench options, in one place for `dejavu
// bench` and the bench stage of `dejavu run`: what the section decides is set here, the rest (warm-up, ranks,
// union policies, decode paths, seed, ...) keeps the options' defaults or the command's flags. CUDA builds only.
#pragma once

#include "engine/cuda/decode_bench.h"
#include "pipeline/bench/bench_model.h"
#include "pipeline/bench/bench_section.h"

namespace dv::cli {

// The built-in shapes listed (not "model"), their batch sizes (swept on the first shape), the MLP densities
// (the first one also the predictor rows' and the batch sweep's), the head density, prompt and decoded tokens.
void apply_bench_section(const BenchSection& s, engine::DecodeBenchOptions& o);
// The checkpoint's rows: the text, MLP densities, head density, batch sizes, prompt and decoded tokens.
void apply_bench_section(const BenchSection& s, ModelBenchArgs& m);

}  // namespace dv::cli
