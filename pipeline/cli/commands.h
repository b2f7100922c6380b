// commands.h: one add_<name>_command per subcommand file (cmd_<name>.cpp).
#pragma once

#include <CLI/CLI.hpp>

namespace dv::cli {

void add_generate_command(CLI::App& app);
void add_perplexity_command(CLI::App& app);
// collect, train, measure, eval, run, bench: registered by the pipeline's own files as they land.
void add_pipeline_commands(CLI::App& app);

}  // namespace dv::cli
