// run_command.h: the `dejavu run` command line that resumes an interrupted run, printed when a signal stops
// it. It repeats every option that says where the run writes (--out) and what it runs (--only), so that the
// printed command picks up exactly the run that stopped; --force is left out on purpose, since a resume must
// keep the stages that finished (with it they would run again) and continue the stopped stage's partial work.
#pragma once

#include <string>

#include "pipeline/run/run_experiment.h"

namespace dv {

// out: the --out given on the command line, or "" when the experiment's output_dir was used.
std::string resume_command(const std::string& experiment_file, const std::string& out, const RunOptions& options);

// `arg` as one POSIX shell word: unchanged when it has no character the shell treats specially, else in single
// quotes (a ' inside written as '\'').
std::string shell_word(const std::string& arg);

}  // namespace dv
