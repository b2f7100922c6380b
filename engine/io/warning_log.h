// warning_log.h: warnings that reach the run's summary and report, not only the terminal. A stage (or a
// check before the stages) calls warn(): the line goes to stderr at once, as before, and is also kept by
// the innermost open WarningLog, which `dejavu run` opens around each stage and writes into the stage's
// folder (warnings.json) for the summary and report (pipeline/report/) to read back.
//
// A second exception to the project's no-globals rule (interrupt.h is the first): a warning is raised deep
// inside a stage (a plot script that failed, a store that looks untrained) where threading a log through
// every signature would touch every layer for one line of text; the open logs are a process-wide stack
// guarded by a mutex, so a writer thread may warn too.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dv {

struct Warning {
  std::string code;  // a stable name readers test for ("random_weights"), or "" for a plain message
  std::string text;  // the line as printed after "warning: "
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Warning, code, text)

// Prints "warning: <text>" on stderr and keeps it in the innermost open WarningLog (if any).
void warn(const std::string& text, const std::string& code = "");

// Keeps the warnings raised while it is the innermost open log. Open and close on one thread, nested.
class WarningLog {
 public:
  WarningLog();
  ~WarningLog();
  WarningLog(const WarningLog&) = delete;
  WarningLog& operator=(const WarningLog&) = delete;
  std::vector<Warning> warnings() const;

 private:
  friend void warn(const std::string& text, const std::string& code);
  std::vector<Warning> kept_;
};

// The warnings file of a folder: "<dir>/warnings.json".
constexpr const char* kWarningsFileName = "warnings.json";
// Writes the log's warnings into <dir>/warnings.json (nothing, and any old file removed, when there are none).
void write_warnings(const std::string& dir, const std::vector<Warning>& warnings);
// The warnings <dir>/warnings.json holds; empty when there is no such file or it does not parse.
std::vector<Warning> read_warnings(const std::string& dir);

}  // namespace dv
