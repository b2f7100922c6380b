// decode_path.h: how CudaEngine runs a decode step: the graph path (a CUDA graph of ~a dozen kernels a layer,
// the reference and the fallback, and the only path for tensor parallelism) or the persistent path (one
// kernel a step, engine/cuda/persistent). `--decode-path graph|persistent` on the CLI.
#pragma once

#include <string>

#include "kernels/common/error.h"

namespace dv::engine {

enum class DecodePath { kGraph, kPersistent };

inline const char* decode_path_name(DecodePath p) { return p == DecodePath::kGraph ? "graph" : "persistent"; }

inline DecodePath parse_decode_path(const std::string& name) {
  if (name == "graph") return DecodePath::kGraph;
  if (name == "persistent") return DecodePath::kPersistent;
  DV_FAIL("decode path '{}': expected graph or persistent", name);
}

}  // namespace dv::engine
