// planted_store.h: small activation stores whose labels a low-rank predictor can learn exactly.
// Per layer, fc1 activity is "score > threshold" for a score that is a rank-r linear function of
// the MLP predictor's input, and head norms are exp of a rank-r function of the head predictor's
// input (layer l-1's attention input, the paper's lookahead). A rank >= r predictor can therefore
// rank neurons and heads perfectly; recall well below 1 means the training code is wrong.
#pragma once

#include <cstdint>
#include <string>

#include "engine/io/opt_config.h"

namespace dv::test {

struct PlantedSpec {
  int64_t n_layers = 2;
  int64_t d = 40;
  int64_t ffn = 100;        // not a multiple of 8: exercises the packed bits' tail
  int64_t heads = 5;
  int64_t rows = 3000;
  int64_t true_rank = 4;
  double threshold = 0.8;   // in score standard deviations: ~21% of neurons active
  bool mlp_from_prev_layer = false;  // plant MLP labels on layer l-1's mlp_input (lookahead tests)
  bool with_values = false;          // store fc1_value (enables MLP mass metrics)
  int64_t chunk_rows = 64;
  uint64_t seed = 7;
};

OptConfig planted_config(const PlantedSpec& spec);
// Writes a complete store at `path` (overwriting).
void write_planted_store(const std::string& path, const PlantedSpec& spec);

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace dv::test
