// collect_run_stage.h: collect as a stage of `dejavu run` (run_stage.h): the experiment's collect section
// onto CollectOptions, the shared model run over collect.text into <collect>/acts.h5.
#pragma once

#include "pipeline/run/run_stage.h"

namespace dv {

const RunStage& collect_run_stage();

}  // namespace dv
