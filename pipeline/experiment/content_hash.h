// content_hash.h: what `dejavu run` compares to skip a stage whose config and inputs have not
// changed since its last successful run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/experiment/experiment.h"

namespace dv {

// Files up to this size are identified by content, larger ones by size and mtime (hashing a
// multi-GB checkpoint or activation store on every run would cost more than it saves).
constexpr int64_t kContentHashLimitBytes = 16 << 20;

// Identity of a file or directory, stable across runs and machines for unchanged content:
//   small file:  "sha256:<hex>"
//   large file:  "size=<bytes>;mtime_ns=<ns>"
//   directory:   "dir:<sha256 of the sorted 'relative/path<TAB>identity' lines of the files that can change
//                a result>": weights, configs and tokenizer files (*.json, *.safetensors, *.bin, *.txt,
//                *.model), not documentation, images or hidden files, so that editing a checkpoint's
//                MODEL_CARD.md or README does not make `dejavu run` collect again.
// dv::Error naming the path when it does not exist or cannot be read.
std::string file_identity(const std::string& path, int64_t hash_limit_bytes = kContentHashLimitBytes);

// sha256 hex of a stage's resolved config (stage_config_yaml) and the identity of each input
// (paths in the given order: model directory, text file, upstream outputs, ...).
std::string stage_hash(const Experiment& e, Stage stage, const std::vector<std::string>& inputs);

// stage_hash for `dejavu run`: an input inside run_root (an earlier stage's output, e.g. collect/acts.h5) is
// named relative to run_root and identified by the stage.hash of the stage folder holding it (what made it),
// so that a run folder copied or moved elsewhere (new absolute paths, new mtimes) keeps its hashes.
std::string run_stage_hash(const Experiment& e, Stage stage, const std::vector<std::string>& inputs,
                           const std::string& run_root);

}  // namespace dv
