// eval_run_stage.h: eval as a stage of `dejavu run` (run_stage.h): the experiment's eval section, the
// perplexity sweep (eval_stage.h) and, when eval.tasks lists any, the zero-shot tasks over the same sweep and
// predictors (pipeline/tasks), all into <eval>/.
#pragma once

#include "pipeline/run/run_stage.h"

namespace dv {

const RunStage& eval_run_stage();

}  // namespace dv
