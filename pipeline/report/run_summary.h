// run_summary.h: the few numbers a person runs an experiment for, read back from a run folder's results:
// oracle MLP sparsity and heads needed (measure), how well the predictors find the active neurons and
// what they keep at threshold 0.5 against the oracle (measure), perplexity dense vs oracle vs predicted at
// each density and the sparsest predicted point within 1% of dense (eval), any other stage's result files,
// and the stage times. `dejavu run` prints it at the end; the report opens with it.
#pragma once

#include <string>
#include <vector>

#include "pipeline/report/run_info.h"

namespace dv {

// Lines of plain text, each one fact; a stage whose results are missing contributes nothing.
std::vector<std::string> summarize_run(const RunInfo& info);

// How far a sparse perplexity is from dense, in the results READMEs' style: "+1.0%", "-0.03%", "x2.4".
std::string ppl_change(double ratio);

}  // namespace dv
