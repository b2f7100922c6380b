// measure_run_stage.h: measure as a stage of `dejavu run` (run_stage.h): the experiment's measure section
// onto MeasureOptions, oracle vs predicted sparsity of the collect stage's store (and the train stage's
// predictors when train runs) into <measure>/.
#pragma once

#include "pipeline/run/run_stage.h"

namespace dv {

const RunStage& measure_run_stage();

}  // namespace dv
