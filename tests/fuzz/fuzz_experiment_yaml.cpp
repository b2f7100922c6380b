// fuzz_experiment_yaml.cpp: dv::parse_experiment over arbitrary text (filesystem checks off). Either a
// dv::Error naming the file (never a yaml-cpp or standard exception escaping), or an experiment whose
// resolved YAML (what is saved beside each stage's output) parses back to an equal experiment, and whose
// per-stage configs (the content hashes' input) are valid experiment files too.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernels/common/error.h"
#include "pipeline/experiment/experiment.h"
#include "pipeline/experiment/experiment_yaml.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string where = "fuzz/exp.yaml";
  const std::string text(reinterpret_cast<const char*>(data), size);
  dv::ParseOptions options;
  options.check_files = false;
  dv::Experiment e;
  try {
    e = dv::parse_experiment(text, where, options);
  } catch (const dv::Error& err) {
    dv::fuzz::require_names(err.what(), where);
    return 0;
  }
  const std::string resolved = dv::experiment_to_yaml(e);
  try {
    if (!(dv::parse_experiment(resolved, where, options) == e)) {
      std::fprintf(stderr, "resolved YAML parses to a different experiment:\n%s\n", resolved.c_str());
      std::abort();
    }
    for (dv::Stage s : dv::kAllStages)
      if (e.runs(s)) dv::parse_experiment(dv::stage_config_yaml(e, s), where, options);
  } catch (const dv::Error& err) {
    std::fprintf(stderr, "resolved YAML of an accepted experiment is rejected: %s\n%s\n", err.what(),
                 resolved.c_str());
    std::abort();
  }
  return 0;
}
