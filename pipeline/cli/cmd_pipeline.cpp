// cmd_pipeline.cpp: registers the pipeline stages' subcommands (collect, train, measure, eval, run).
#include "pipeline/cli/commands.h"

namespace dv::cli {

void add_pipeline_commands(CLI::App& app) {}

}  // namespace dv::cli
