// decode_schedule.h: the host side of the persistent decode kernel's scheduling: from the step's ops in
// order (each with its unit count at capacity and the earlier ops it waits for) to one instruction list per
// CTA, built once per shape and capacity; selections change what a unit reads, never the lists.
//
// Deadlock freedom, by construction (check_decode_schedule verifies each condition):
//   1. every wait of op o is on an op p < o (the step's ops are in a dependency order);
//   2. every CTA's list is in non-decreasing op order;
//   3. no unit waits for a unit of its own op (the unit convention, work_units.cuh);
//   4. every CTA is resident at once (a cooperative launch, which fails instead of under-subscribing).
// Suppose the kernel stalls. Take the smallest op o with a unit not yet finished, and in the CTA that owns
// it the first such instruction. Everything before it in that list has op <= o and is finished (2, and the
// minimality of o; a unit of o earlier in the same list would be the first). So the CTA is running that
// instruction (4), and its waits are on ops < o (1, 3), all finished: the wait returns and the unit
// completes, a contradiction.
// Placement: each op's units go to the CTAs round-robin from a cursor that moves on with every op, in one
// contiguous range per CTA (ops with fewer units than CTAs get one unit on each of the next CTAs), so every
// CTA carries a near-equal share of every large op and small ops spread over different CTAs.
// Side CTAs (side_ctas > 0): CTAs [0, side_ctas) carry the ops marked `side` (the predictors) and nothing else,
// the others every other op, each group with its own cursor: the persistent kernel's form of the graph path's
// side stream. Without them a CTA runs its predictor units between its units of the layer's main chain, which
// then waits for the CTAs it delayed (session 14's trace: a third of the step on opt-13b). Placement never
// affects the deadlock argument above: it holds for any split of the units over the lists.
// Dynamic placement (ScheduleOp::dynamic): such an op with at least as many units as its group has CTAs gets one
// dynamic instruction on every CTA of the group (persistent_types.h: each takes units from the op's grab counter until
// none is left), so a CTA that reaches the op early runs more of it than one still busy with earlier work; the
// static lists give each CTA a fixed share, and the op ends with its latest CTA. The argument still holds: a
// unit is only grabbed by a CTA that runs it at once, every CTA of the group reaches the instruction in op
// order, and the smallest unfinished op's grabbed units wait only on finished ops.
#pragma once

#include <string>
#include <vector>

#include "kernels/persistent_decode/persistent_types.h"

namespace dv::kernels {

struct ScheduleOp {
  std::string name;              // for error lines: "fc1", "qkv", ...
  int layer = -1;                // -1: not a layer's op
  int kind = 0;                  // the kernel's dispatch kind (DecodeOpKind)
  int units = 0;                 // units at capacity (max_units())
  std::vector<int> index_deps;   // ops writing the selection this op reads (sync.indices())
  std::vector<int> input_deps;   // ops writing this op's inputs (sync.inputs())
  bool side = false;             // placed on the side CTAs when the schedule has any
  bool dynamic = false;          // dynamic placement (above) where it has at least as many units as its CTAs
};

struct DecodeSchedule {
  int num_ctas = 0;
  std::vector<PersistentInstruction> instructions;  // CTA c: [cta_first[c], cta_first[c + 1])
  std::vector<int> cta_first;                       // [num_ctas + 1]
  std::vector<PersistentOpHeader> headers;          // [ops]
  std::vector<int> deps;                            // what the headers index
};

// Throws dv::Error when an op waits on itself or a later op, num_ctas < 1, or side_ctas outside [0, num_ctas).
DecodeSchedule build_decode_schedule(const std::vector<ScheduleOp>& ops, int num_ctas, int side_ctas = 0);

// Throws dv::Error naming the first violation of 1-2 above, a unit that is not in exactly one instruction (a
// dynamic op: not on exactly unit_end CTAs once each, or mixed with static instructions), or headers that do not
// match the ops.
void check_decode_schedule(const std::vector<ScheduleOp>& ops, const DecodeSchedule& schedule);

// "fc1 (op 12, layer 3)": how error lines name an op.
std::string describe_schedule_op(const std::vector<ScheduleOp>& ops, int op);

}  // namespace dv::kernels
