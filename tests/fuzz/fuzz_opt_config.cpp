// fuzz_opt_config.cpp: dv::opt_config_from_json_text over arbitrary text. Either a dv::Error naming the
// file, or a config whose derived quantities are sane: heads divide d, and the list of tensors a
// checkpoint must hold (what Checkpoint checks next) can be built without overflow or huge allocations.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/io/checkpoint.h"
#include "engine/io/opt_config.h"
#include "kernels/common/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string where = "fuzz/config.json";
  const std::string text(reinterpret_cast<const char*>(data), size);
  dv::OptConfig c;
  try {
    c = dv::opt_config_from_json_text(text, where);
  } catch (const dv::Error& e) {
    dv::fuzz::require_names(e.what(), where);
    return 0;
  }
  if (c.head_dim() * c.num_attention_heads != c.hidden_size || c.head_dim() <= 0) std::abort();
  const auto tensors = dv::Checkpoint::expected_tensors(c);
  for (const auto& [name, shape] : tensors)
    for (int64_t d : shape)
      if (d <= 0) std::abort();
  // The resolved config written beside outputs must read back to itself.
  if (dv::opt_config_from_json_text(c.to_json(), where).to_json() != c.to_json()) std::abort();
  return 0;
}
