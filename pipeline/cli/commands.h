// commands.h: one add_<name>_command per subcommand file (cmd_<name>.cpp); main.cpp is the table.
#pragma once

#include <CLI/CLI.hpp>

namespace dv::cli {

void add_generate_command(CLI::App& app);
void add_perplexity_command(CLI::App& app);
void add_collect_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_measure_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_tasks_command(CLI::App& app);
void add_tp_balance_command(CLI::App& app);

}  // namespace dv::cli
