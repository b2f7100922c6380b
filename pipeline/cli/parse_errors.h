// parse_errors.h: the command line's own mistakes said in the command's words. CLI11's message for an option
// a subcommand does not have is "The following arguments were not expected: dense --mode"; a user needs the
// option named, the subcommand it was given to, and the options they probably meant.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace dv::cli {

// One line for a parse error of `app` (after app.parse threw it): for unexpected arguments, "eval: unknown
// option --mode (did you mean --model or --modes?)"; any other error as CLI11 says it.
std::string describe_parse_error(const CLI::App& app, const CLI::ParseError& error);

}  // namespace dv::cli
