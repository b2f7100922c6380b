// bench_stage.h: the bench stage of `dejavu run` (BenchRunner, run_experiment.h) on the CUDA engine: the
// experiment's checkpoint with real selections when bench.shapes lists "model" (the train stage's predictors
// when train runs), random weights of the built-in shapes listed, one bench.json / bench.csv / bench.png.
// CUDA builds only; without a GPU the stage is skipped with the reason.
#pragma once

#include "pipeline/stages/run_experiment.h"

namespace dv::cli {

BenchRunner cuda_bench_runner();

}  // namespace dv::cli
