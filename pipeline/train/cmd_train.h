// cmd_train.h: `dejavu train`: fit the low-rank sparsity predictors to an activation store.
#pragma once

#include <CLI/CLI.hpp>

namespace dv::cli {

void add_train_command(CLI::App& app);

}  // namespace dv::cli
