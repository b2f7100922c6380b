// persistent_types.h: the plain structs the host and the persistent decode kernel share: the schedule's
// instructions and op headers (built on the host, decode_schedule.h), the device control block and the
// watchdog's report (persistent_sync.cuh says how they are used).
#pragma once

namespace dv::kernels {

// Device state of one schedule, zeroed once when the schedule is built (and after an error).
struct PersistentControl {
  unsigned long long epoch = 0;     // steps finished; advanced by the last CTA of a step
  unsigned long long finished = 0;  // CTAs finished, tagged like the op counters: (epoch + 1) * CTAs at the end
  int abort = 0;                    // a wait timed out: every CTA leaves
};

// The first watchdog report, in host-mapped memory (written by the device, read by the host at any time).
struct PersistentError {
  int flag = 0;            // 1 once written
  int op = -1;             // the op whose unit waited
  int dep = -1;            // the op it waited for
  int unit = -1;
  unsigned long long target = 0, seen = 0, epoch = 0;
};

// unit_begin of a dynamic instruction (decode_schedule.h): the CTA takes units of the op one at a time from its
// grab counter until none is left; unit_end is then the number of CTAs that share the op this way. Each of them
// makes exactly one failed grab a step, so the counter grows by units + unit_end a step and stays tagged by step
// like the op counters.
constexpr int kDynamicUnits = -1;

// One instruction of a CTA's list: units [unit_begin, unit_end) of op `op`, or (unit_begin == kDynamicUnits)
// whichever units of `op` the CTA grabs.
struct PersistentInstruction {
  int op = 0;
  int unit_begin = 0;
  int unit_end = 0;
};

// Where an op's waits are: deps[index_begin, input_begin) are the ops writing the selection it reads
// (waited in sync.indices()), deps[input_begin, input_end) the ops writing its inputs (sync.inputs()).
struct PersistentOpHeader {
  int kind = 0;
  int units = 0;
  int index_begin = 0, input_begin = 0, input_end = 0;
};

// One op's times in a traced launch (DEJAVU_PERSISTENT_TRACE, decode_trace.h), %globaltimer ns: the earliest
// time a CTA reached one of its instructions (before the units' waits), the latest time a CTA finished one
// (after its counter add), and the sum over instructions of finish - reach. The host sets start to ~0, the rest
// to 0, before each traced launch.
struct PersistentOpTrace {
  unsigned long long start = ~0ull;
  unsigned long long end = 0;
  unsigned long long busy = 0;
};

struct PersistentWaitContext {
  const PersistentOpHeader* headers = nullptr;
  const int* deps = nullptr;
  unsigned long long* counters = nullptr;   // [ops]
  unsigned long long* grabs = nullptr;      // [ops]: the dynamic instructions' unit counters (null: none)
  PersistentControl* control = nullptr;
  PersistentError* error = nullptr;  // device view of host-mapped memory
  long long watchdog_ns = 1000000000LL;
  int stuck_op = -1;                 // tests: every wait of this op asks one unit more than exists
};

}  // namespace dv::kernels
