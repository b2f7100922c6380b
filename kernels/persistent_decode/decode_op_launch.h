// decode_op_launch.h: each persistent-decode op launched on its own, one CTA per unit (work_units.cuh's
// launch_units, PDL between kernels): how the kernel tests hold an op against its reference, and the checks
// of every op's fields (check_decode_op), which the engine also runs on each op it puts in a schedule.
// Host C++: the op structs come from their headers without device code.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/persistent_decode/decode_op.cuh"

namespace dv::kernels {

// Throws dv::Error naming the op and the field that is out of range, null or misaligned.
void check_decode_op(DecodeOpKind kind, const DecodeOpParams& op);

// check_decode_op, then one plain launch of the op's units on `stream`.
void launch_decode_op(DecodeOpKind kind, const DecodeOpParams& op, cudaStream_t stream);

}  // namespace dv::kernels
