// bench_run_stage.h: bench as a stage of `dejavu run` (run_stage.h) on the CUDA engine: the experiment's
// checkpoint with real selections when bench.shapes lists "model" (the train stage's predictors when train
// runs), random weights of the built-in shapes listed, one bench.json / bench.csv / bench.png. CUDA builds
// only; without a GPU the stage is skipped with the reason.
#pragma once

#include "pipeline/run/run_stage.h"

namespace dv {

const RunStage& bench_run_stage();

}  // namespace dv
