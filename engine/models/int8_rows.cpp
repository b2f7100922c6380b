// int8_rows.cpp: per-row int8 quantization in LibTorch (the rule is stated in int8_rows.h).
#include "engine/models/int8_rows.h"

#include "kernels/common/error.h"

namespace dv::engine {

Int8Rows quantize_rows_int8(const at::Tensor& w) {
  DV_CHECK(w.dim() == 2, "quantize_rows_int8: expected a 2-d weight, got {} dimensions", w.dim());
  const at::Tensor f = w.to(at::kFloat);
  Int8Rows out;
  out.scale = f.abs().amax({1}) / 127.0f;
  const at::Tensor s = out.scale.unsqueeze(1);
  // Zero rows: 0 / 0 would be NaN; their q is 0 by the rule.
  const at::Tensor q = at::where(s > 0, at::round(f / at::where(s > 0, s, at::ones_like(s))), at::zeros_like(f));
  out.q = q.clamp(-127, 127).to(at::kChar).contiguous();
  out.scale = out.scale.contiguous();
  return out;
}

at::Tensor dequantize_rows_int8(const Int8Rows& rows) {
  return rows.q.to(at::kFloat) * rows.scale.unsqueeze(1);
}

}  // namespace dv::engine
