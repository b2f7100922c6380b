// build_info.cpp: the commit a record names (build_info.h); the baked values live in the generated
// build_info_values.cpp of the build tree.
#include "kernels/common/build_info.h"

#include <cstdlib>

namespace dv {

std::string recorded_commit() {
  const std::string baked = build_commit();
  if (baked != "unknown") return baked;
  const char* env = std::getenv("DEJAVU_COMMIT");
  return env != nullptr && *env != '\0' ? env : baked;
}

}  // namespace dv
