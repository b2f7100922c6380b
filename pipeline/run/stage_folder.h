// stage_folder.h: how `dejavu run` replaces a stage's output folder. A stage writes into
// "<dir>.partial/" and the finished folder takes the place of <dir> in one rename (an exchange when <dir>
// exists), so no file of an earlier run survives beside new results and a reader sees either the old folder
// or the new one whole. The partial folder also keeps what an interrupted stage had finished (collect's
// acts.h5.partial, train's finished layers) together with the stage hash it was started for
// (attempt.hash): a re-run with the same settings resumes in it, a re-run with other settings (or --force)
// discards it first and says so.
#pragma once

#include <string>

namespace dv {

enum class PartialFolder {
  kNone,       // no partial folder
  kResumable,  // left by an interrupted or failed run with the same settings: the stage resumes in it
  kStale,      // left by a run with other settings (or of unknown settings): discarded before the stage runs
};

// "<dir>.partial".
std::string partial_folder_path(const std::string& dir);

// What a run with stage hash `hash` would find in <dir>.partial.
PartialFolder partial_folder_state(const std::string& dir, const std::string& hash);

// One line for --dry-run and the run's log: "resumes ..." / "discards ..." / "" for kNone.
std::string describe_partial_folder(const std::string& dir, PartialFolder state);

// Makes <dir>.partial ready for a stage run with `hash`: a stale one (or any, with discard) is removed with a
// line on stderr, then the folder is created and attempt.hash written. Returns what was found.
PartialFolder prepare_partial_folder(const std::string& dir, const std::string& hash, bool discard);

// Moves the finished <dir>.partial onto <dir> (stage_hash written into it as stage.hash, attempt.hash
// dropped) and removes the folder it replaced.
void commit_partial_folder(const std::string& dir, const std::string& stage_hash);

}  // namespace dv
