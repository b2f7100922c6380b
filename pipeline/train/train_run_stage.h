// train_run_stage.h: train as a stage of `dejavu run` (run_stage.h): the experiment's train section onto
// TrainOptions, predictors fitted to the collect stage's store into <train>/.
#pragma once

#include "pipeline/run/run_stage.h"

namespace dv {

const RunStage& train_run_stage();

}  // namespace dv
