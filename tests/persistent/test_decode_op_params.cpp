// test_decode_op_params.cpp: the persistent kernel's op table entry (decode_op.cuh) on the host: a default
// entry is all zero bytes, and an entry built from an op struct keeps that struct's default member initializers
// (the layer norm's eps, the row op's plain epilogue). The persistent plan once filled LayerNormOp and RowGemvOp
// field by field through a default-constructed union, which skipped those initializers: the layer norms ran
// with whatever bytes the stack held as eps.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/persistent_decode/decode_op.cuh"

namespace dv::kernels {
namespace {

TEST(DecodeOpParams, DefaultIsAllZeroBytes) {
  const DecodeOpParams p;
  std::vector<unsigned char> bytes(sizeof(p));
  std::memcpy(bytes.data(), &p, sizeof(p));
  for (size_t i = 0; i < bytes.size(); ++i) EXPECT_EQ(bytes[i], 0u) << "byte " << i;
}

TEST(DecodeOpParams, BuiltFromAnOpKeepsItsDefaults) {
  LayerNormOp n;
  n.B = 3;
  n.d = 160;
  const DecodeOpParams ln(n);
  EXPECT_EQ(ln.layer_norm.eps, 1e-5f);
  EXPECT_EQ(ln.layer_norm.residual, nullptr);
  EXPECT_EQ(ln.layer_norm.bias, nullptr);
  EXPECT_EQ(ln.layer_norm.sum_out, nullptr);
  EXPECT_EQ(ln.layer_norm.d, 160);

  RowGemvOp r;
  r.K = 96;
  const DecodeOpParams g(r);
  EXPECT_EQ(g.row_gemv.epilogue, RowEpilogue::kHalf);
  EXPECT_EQ(g.row_gemv.bias, nullptr);
  EXPECT_FALSE(g.row_gemv.relu);
  EXPECT_EQ(g.row_gemv.pos_embed, nullptr);
  EXPECT_EQ(g.row_gemv.idx, nullptr);
  EXPECT_EQ(g.row_gemv.count, nullptr);
  EXPECT_EQ(g.row_gemv.K, 96);
}

}  // namespace
}  // namespace dv::kernels
