// test_decode_op_params.cpp: the persistent kernel's op table entry (decode_op.cuh) on the host: a default
// entry is all zero bytes, and an entry built from an op struct keeps that struct's default member initializers
// (the layer norm's eps, the row op's plain epilogue). The persistent plan once filled LayerNormOp and RowGemvOp
// field by field through a default-constructed union, which skipped those initializers: the layer norms ran
// with whatever bytes the stack held as eps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/persistent_decode/decode_op.cuh"
#include "kernels/persistent_decode/persistent_types.h"

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

// A launch sized to its schedule's op kinds (DEJAVU_PERSISTENT_SMEM=plan) gives every kind's unit what it needs:
// the largest of the listed kinds, fused_mlp's whole unit budget when it is listed, and never less than 16 bytes
// (0 would mean the largest op's).
TEST(DecodeOpParams, ScheduleSmemIsTheLargestOfItsKinds) {
  std::vector<PersistentOpHeader> headers(2);
  headers[0].kind = static_cast<int>(DecodeOpKind::kOutProj);
  headers[1].kind = static_cast<int>(DecodeOpKind::kRowGemv);
  const int down_up = decode_schedule_smem_bytes(headers);
  EXPECT_EQ(down_up, std::max({16, PersistentOutProj::kSmemBytes, RowGemvOp::kSmemBytes}));
  EXPECT_LT(down_up, decode_op_smem_bytes());
  headers.push_back(headers[0]);
  headers.back().kind = static_cast<int>(DecodeOpKind::kMlp);
  EXPECT_EQ(decode_schedule_smem_bytes(headers), PersistentMlp::kSmemBytes);
  EXPECT_EQ(decode_schedule_smem_bytes(headers), decode_op_smem_bytes());
  headers.assign(1, PersistentOpHeader{});
  headers[0].kind = static_cast<int>(DecodeOpKind::kEmbed);
  EXPECT_EQ(decode_schedule_smem_bytes(headers), std::max(16, EmbedOp::kSmemBytes));
  for (int k = 0; k <= static_cast<int>(DecodeOpKind::kKvCatchupTiled); ++k)
    EXPECT_LE(decode_op_kind_smem_bytes(static_cast<DecodeOpKind>(k)), decode_op_smem_bytes()) << "kind " << k;
}

}  // namespace
}  // namespace dv::kernels
