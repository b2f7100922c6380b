// build_info.h: which source this binary was built from, baked in at build time (cmake/write_build_info.cmake
// regenerates one small file whenever the checkout's commit or dirty state changes), so every record of a run
// (stage_run.json, the report, bench JSON) names the binary's commit, whatever the working directory is.
#pragma once

#include <string>

namespace dv {

// `git describe --always --dirty --tags` of the source tree at build time ("a73c879", "a73c879-dirty");
// "unknown" when the tree was not a git checkout (a copy without .git, as on the GPU machine).
const char* build_commit();
// Whether the tree had uncommitted changes to tracked files at build time (the "-dirty" suffix).
bool build_tree_dirty();

// The commit to record: build_commit(), or, only when that is "unknown", the environment's DEJAVU_COMMIT (the GPU
// machine, where .git does not travel with the working tree: its scripts pass the commit by name). "unknown"
// when neither is known.
std::string recorded_commit();

}  // namespace dv
