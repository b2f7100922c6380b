// collect_section.h: the collect section of an experiment and the flags of `dejavu collect`, declared once
// (option_table.h): each field's default here, its key, help, range and hash role in visit_options.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/experiment/option_table.h"

namespace dv {

struct CollectSection {
  std::string text;
  int64_t max_tokens = 0;
  int64_t seq_len = 0;
  int64_t sample_every = 1;
  int64_t max_rows = 0;
  bool store_fc1_values = false;
  int64_t batch_windows = 1;
  std::vector<std::string> fields;
  std::string compression = "gzip";
  double max_nonfinite = 0.001;
  bool operator==(const CollectSection& o) const;
};
inline const CollectSection kCollectDefaults{};

// In the order the resolved YAML writes them.
template <class Section, class Visitor>
void visit_collect_options(Section& s, Visitor& v) {
  v.text(s.text, {"text", "UTF-8 corpus to run the dense model over (required when collect runs)", true, false});
  v.integer(s.max_tokens, {"max_tokens", "corpus tokens read; 0 = the whole file"}, IntRange{0});
  v.integer(s.seq_len, {"seq_len", "window length in tokens; 0 = min(max_position_embeddings, 2048)"},
            IntRange{0, 1 << 20});
  v.integer(s.sample_every, {"sample_every", "keep every k-th position of each window"}, IntRange{1});
  v.integer(s.max_rows, {"max_rows", "rows recorded; 0 = no limit"}, IntRange{0});
  v.boolean(s.store_fc1_values, {"store_fc1_values", "also keep post-ReLU fc1 values (ffn float16 per row and layer: large)"});
  v.integer(s.batch_windows, {"batch_windows", "windows run through the model together (throughput only)", false},
            IntRange{1, 4096});
  v.choices(s.fields, {"fields", "layer fields stored; empty = all four", true, false},
            {"attn_input", "mlp_input", "fc1_active", "head_norm"});
  v.choice(s.compression, {"compression", "gzip (shuffle + deflate 1) | none (raw chunks: fastest, ~15% larger)", true, false},
           {"gzip", "none"});
  v.number(s.max_nonfinite, {"max_nonfinite", "rows with NaN/Inf are dropped; a larger share of them fails the stage", true, false},
           kUnit);
}

}  // namespace dv
