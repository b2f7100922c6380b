// main.cpp: the `dejavu` command: only the subcommand table and the one place errors are caught.
// Every dv::Error (bad input, failed I/O, failed device call) prints one line and exits 2.
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/io/interrupt.h"
#include "kernels/common/build_info.h"
#include "kernels/common/error.h"
#include "pipeline/train/cmd_train.h"
#ifdef DEJAVU_HAVE_CUDA
#include "pipeline/bench/cmd_bench.h"
#endif
#include "pipeline/cli/commands.h"
#include "pipeline/cli/parse_errors.h"

int main(int argc, char** argv) {
  CLI::App app{"dejavu: contextual sparsity (Deja Vu) for OPT models: collect, train, measure, eval, bench"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("dejavu 0.1.0, built from commit ") + dv::build_commit());
  dv::cli::add_generate_command(app);
  dv::cli::add_perplexity_command(app);
  dv::cli::add_collect_command(app);
  dv::cli::add_train_command(app);
  dv::cli::add_measure_command(app);
  dv::cli::add_eval_command(app);
  dv::cli::add_tasks_command(app);
  dv::cli::add_tp_balance_command(app);
  dv::cli::add_run_command(app);
  dv::cli::add_report_command(app);
#ifdef DEJAVU_HAVE_CUDA
  dv::cli::add_bench_command(app);
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ExtrasError& e) {
    std::fprintf(stderr, "dejavu: %s\n", dv::cli::describe_parse_error(app, e).c_str());
    return dv::kErrorExitCode;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "dejavu: %s (see dejavu --help)\n", e.what());
    return dv::kErrorExitCode;
  } catch (const dv::Interrupted& e) {
    std::fprintf(stderr, "dejavu: %s\n", e.what());
    return dv::kInterruptExitCode;
  } catch (const dv::Error& e) {
    std::fprintf(stderr, "dejavu: error: %s\n", e.what());
    return dv::kErrorExitCode;
  } catch (const std::exception& e) {
    // LibTorch and the standard library throw their own types; report their first line the same way.
    std::string what = e.what();
    std::fprintf(stderr, "dejavu: error: %s\n", what.substr(0, what.find('\n')).c_str());
    return dv::kErrorExitCode;
  }
  return 0;
}
