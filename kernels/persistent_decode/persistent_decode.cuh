// persistent_decode.cuh: one launch runs a whole decode step. Every CTA (all resident at once: a cooperative
// launch) walks its host-built instruction list (decode_schedule.h), running each instruction's units through
// the op table (decode_op.cuh) and waiting only through the ops' step-tagged counters (persistent_sync.cuh).
// When a CTA has run its list it counts itself finished; the step's last CTA advances the position
// (*pos += 1, positions[b] = *pos, as the graph path's last node does) and the epoch, so the next launch
// (stream-ordered) is the next step and decoding can go on without the host.
// Shared memory: the largest op's unit (decode_op_smem_bytes()), or params.smem_bytes; registers:
// __launch_bounds__(256, 2).
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/persistent_decode/decode_op.cuh"
#include "kernels/persistent_decode/persistent_types.h"

namespace dv::kernels {

struct PersistentDecodeParams {
  PersistentWaitContext wait;                         // headers, deps, counters, control, error, watchdog
  const DecodeOpParams* ops = nullptr;                // [ops] device
  const PersistentInstruction* instructions = nullptr;
  const int* cta_first = nullptr;                     // [ctas + 1]
  int* pos = nullptr;                                 // device scalar
  int* positions = nullptr;                           // [batch]
  int batch = 0;
  PersistentOpTrace* trace = nullptr;                 // [ops] or nullptr: per-op times of this launch (decode_trace.h)
  // Dynamic shared memory a CTA is launched with: 0 = the largest op's (decode_op_smem_bytes()), else at least
  // the largest of the schedule's op kinds (decode_op_kind_smem_bytes; the caller's promise, not checked per op):
  // what an SM does not give to shared memory it keeps as L1 (the engine's default; DEJAVU_PERSISTENT_SMEM=max).
  int smem_bytes = 0;
};

// CTAs of the persistent kernel that fit on one SM (at most 2); throws dv::Error when none fits.
int persistent_decode_ctas_per_sm();
int persistent_decode_smem_bytes();

// A cooperative launch of `ctas` CTAs (the schedule's num_ctas); throws dv::Error when the device cannot
// hold them all at once. l1_inputs: the ops read what the launch wrote with weak loads L1 may cache instead of
// through L2 only (persistent_sync.cuh's load policy; an A/B switch).
void launch_persistent_decode(const PersistentDecodeParams& params, int ctas, cudaStream_t stream,
                              bool l1_inputs = false);

}  // namespace dv::kernels
