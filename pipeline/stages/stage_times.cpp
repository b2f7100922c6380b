// stage_times.cpp: see stage_times.h.
#include "pipeline/stages/stage_times.h"

#include "engine/io/atomic_file.h"

namespace dv {

void StageTimes::record(const std::string& stage, const std::string& status, double seconds) {
  times_[stage] = {{"status", status}, {"seconds", seconds}};
  write_file_atomic(path_, times_.dump(1) + "\n");
}

}  // namespace dv
