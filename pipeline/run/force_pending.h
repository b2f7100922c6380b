// force_pending.h: what a `dejavu run --force` had still to redo when it stopped. The command printed to resume
// an interrupted run leaves --force out (with it the stages that finished would run again), so the run folder
// keeps the forced stages that have not finished yet in <output_dir>/force.pending, one name a line: a later
// run without --force still runs them (resuming the stopped one's partial work) instead of finding their old
// results unchanged and skipping them.
#pragma once

#include <set>
#include <string>

namespace dv {

class ForcePending {
 public:
  explicit ForcePending(const std::string& run_root);
  bool contains(const std::string& stage) const { return stages_.count(stage) > 0; }
  bool empty() const { return stages_.empty(); }
  // Adds the stages a --force run selected and writes the file.
  void add(const std::set<std::string>& stages);
  // A forced stage finished: drops it (and the file once none is left).
  void done(const std::string& stage);

 private:
  void save() const;
  std::string path_;
  std::set<std::string> stages_;
};

}  // namespace dv
