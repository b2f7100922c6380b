// plot_scripts.cpp: the search path of plot_scripts.h and try_plot, which runs a script.
#include "pipeline/report/plot_scripts.h"

#include <sys/wait.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "engine/io/warning_log.h"

namespace dv {

namespace fs = std::filesystem;

std::vector<std::string> plot_script_dirs() {
  std::vector<std::string> dirs;
  const char* source = std::getenv("DEJAVU_SOURCE_DIR");
  if (source != nullptr && *source != '\0') dirs.push_back((fs::path(source) / "scripts").string());
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path bin = exe.parent_path();
    dirs.push_back((bin.parent_path() / "share" / "dejavu" / "scripts").lexically_normal().string());
    dirs.push_back((bin / "share" / "dejavu" / "scripts").lexically_normal().string());
  }
  return dirs;
}

std::string find_plot_script(const std::string& what) {
  for (const std::string& dir : plot_script_dirs()) {
    const std::string script = fmt::format("{}/plot_{}.py", dir, what);
    if (fs::exists(script)) return script;
  }
  return "";
}

void try_plot(const std::string& what, const std::string& out_dir) {
  const std::string script = find_plot_script(what);
  if (script.empty()) {
    std::string searched;
    for (const std::string& dir : plot_script_dirs()) searched += (searched.empty() ? "" : ", ") + dir;
    warn(fmt::format("plot_{}.py not found in {}; no plot (install with `cmake --install`, or set "
                     "DEJAVU_SOURCE_DIR to the source checkout)", what, searched));
    return;
  }
  const std::string cmd = fmt::format("python3 '{}' '{}' >/dev/null 2>&1", script, out_dir);
  const int status = std::system(cmd.c_str());
  // system() ignores SIGINT in this process while the plot runs, so a Ctrl-C reaches only the plot: pass it
  // on (to the InterruptGuard's handler, or the default action where there is none) once the plot is gone.
  if ((WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) ||
      (WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGINT)) {
    warn(fmt::format("{} was interrupted; no plot", script));
    std::raise(SIGINT);
    return;
  }
  if (status != 0)
    warn(fmt::format("{} failed (is matplotlib installed?); {} has the CSV/JSON results", script, out_dir));
}

}  // namespace dv
