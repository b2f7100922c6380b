// decode_trace.h: where a persistent decode step's time goes, from one traced launch (PersistentOpTrace per
// op, persistent_types.h). Plain C++ (its CPU test needs no GPU).
// Per op: start / end as the kernel saw them, and ready = the latest end among the ops it waits for (the step's
// first start when it waits for none): the op cannot finish before ready, and run = end - max(start, ready) is
// what the op itself took once it could go (weights streamed before ready included in neither). Summed by op
// name (qkv, attention, out_proj, mlp, ...) over the layers, beside the step's span, run says which ops to make
// faster; the gaps between an op's ready and its dependencies' ends are zero by construction, so the span minus
// the critical path's runs is the time no op on it was running (waits, polls, the counter's visibility).
#pragma once

#include <string>
#include <vector>

#include "kernels/persistent_decode/decode_schedule.h"
#include "kernels/persistent_decode/persistent_types.h"

namespace dv::kernels {

struct OpTiming {
  int op = 0;
  std::string name;
  int layer = -1;
  int units = 0;
  double start_us = 0, end_us = 0, ready_us = 0;  // from the step's first start
  double run_us = 0;                              // end - max(start, ready)
  double busy_us = 0;                             // summed over the op's instructions (CTA time, waits included)
};

struct OpNameTotal {
  std::string name;
  int ops = 0;
  double run_us = 0, busy_us = 0;
};

struct StepTrace {
  std::vector<OpTiming> ops;           // in op order
  std::vector<OpNameTotal> by_name;    // in order of first appearance
  double span_us = 0;                  // last end - first start
  double critical_us = 0;              // runs along the longest ready -> end chain ending at the last op to end
  std::vector<int> critical_path;      // its ops, first to last
};

// Throws dv::Error when the sizes differ, an op never ran (start still ~0 or end 0 with units > 0), or an op
// ended before an op it waits for (a broken trace or a broken schedule).
StepTrace analyze_step_trace(const std::vector<ScheduleOp>& ops, const std::vector<PersistentOpTrace>& raw);

// CSV: op,name,layer,units,start_us,ready_us,end_us,run_us,busy_us,critical (one line per op).
std::string step_trace_csv(const StepTrace& t);

// A few lines: the span, the critical path's run share, and the per-name totals (largest run first).
std::string step_trace_summary(const StepTrace& t);

}  // namespace dv::kernels
