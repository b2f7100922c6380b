// half8.cuh: eight fp16 values in one 16-byte vector (the kernels' unit of access along a row) as fp32, and the
// layer norm's arithmetic on them, shared by the ops that read rows this way (fused_mlp's staged x and fused
// layer norm, sparse_qkv's fused layer norm, decode_attention's q / K / V).
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

namespace dv::kernels {

__device__ __forceinline__ void half8_to_float(const uint4& v, float (&f)[8]) {
  const __half2* h = reinterpret_cast<const __half2*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 p = __half22float2(h[i]);
    f[2 * i] = p.x;
    f[2 * i + 1] = p.y;
  }
}

// (x - mean) * rstd * gamma + beta for eight values, each rounded to fp16 once: the layer_norm kernel's formula.
__device__ __forceinline__ uint4 layer_norm8(const uint4& x, const uint4& gamma, const uint4& beta, float mean,
                                             float rstd) {
  float f[8], g[8], b[8];
  half8_to_float(x, f);
  half8_to_float(gamma, g);
  half8_to_float(beta, b);
  uint4 o;
  __half2* oh = reinterpret_cast<__half2*>(&o);
#pragma unroll
  for (int i = 0; i < 4; ++i)
    oh[i] = __floats2half2_rn((f[2 * i] - mean) * rstd * g[2 * i] + b[2 * i],
                              (f[2 * i + 1] - mean) * rstd * g[2 * i + 1] + b[2 * i + 1]);
  return o;
}

}  // namespace dv::kernels
