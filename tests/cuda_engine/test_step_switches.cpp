// test_step_switches.cpp: the persistent path's switches (engine/cuda/step_switches.h), CPU only: each reads its
// default when unset or empty, its other value when named, and refuses anything else with one line naming the
// variable and the value (bad input is an error, never a silent default).
#include <gtest/gtest.h>

#include <string>

#include "engine/cuda/step_switches.h"
#include "kernels/common/error.h"
#include "tests/common/scoped_env.h"

namespace dv::test {
namespace {

// The call's error line, or "" when it returned.
template <class Read>
std::string error_of(Read&& read) {
  try {
    read();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(StepSwitches, PersistentTwoValueSwitches) {
  struct Case {
    const char* name;
    bool (*read)();
    const char* default_value;
    const char* other;
    bool default_result;
  };
  const Case cases[] = {{"DEJAVU_PERSISTENT_MLP", engine::persistent_split_mlp, "split", "fused", true},
                        {"DEJAVU_PERSISTENT_LOADS", engine::persistent_l1_loads, "l1", "l2", true},
                        {"DEJAVU_PERSISTENT_MLP_LN", engine::persistent_fold_mlp_ln, "op", "fold", false},
                        {"DEJAVU_PERSISTENT_SCORES", engine::persistent_early_scores, "late", "early", false},
                        {"DEJAVU_PERSISTENT_DOWN_UNITS", engine::persistent_one_down_unit, "1", "2", true},
                        {"DEJAVU_PERSISTENT_UNITS", engine::persistent_dynamic_units, "static", "dynamic", false},
                        {"DEJAVU_PERSISTENT_DOWN_PREFETCH", engine::persistent_down_prefetch, "0", "1", false},
                        {"DEJAVU_PERSISTENT_SMEM", engine::persistent_plan_smem, "plan", "max", true},
                        {"DEJAVU_PERSISTENT_QKV", engine::persistent_tiled_qkv, "tiled", "rowmajor", true}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    {
      ScopedEnv env(c.name, "");
      EXPECT_EQ(c.read(), c.default_result);
    }
    {
      ScopedEnv env(c.name, c.default_value);
      EXPECT_EQ(c.read(), c.default_result);
    }
    {
      ScopedEnv env(c.name, c.other);
      EXPECT_EQ(c.read(), !c.default_result);
    }
    ScopedEnv env(c.name, "Fused ");
    const std::string line = error_of(c.read);
    EXPECT_NE(line.find(c.name), std::string::npos) << line;
    EXPECT_NE(line.find("'Fused '"), std::string::npos) << line;
  }
}

TEST(StepSwitches, PersistentCtaCounts) {
  struct Case {
    const char* name;
    int (*read)(int);
  };
  const Case cases[] = {{"DEJAVU_PERSISTENT_SIDE_CTAS", engine::persistent_side_ctas},
                        {"DEJAVU_PERSISTENT_SELECT_CTAS", engine::persistent_select_ctas}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    {
      ScopedEnv env(c.name, "");
      EXPECT_EQ(c.read(264), 0);
    }
    {
      ScopedEnv env(c.name, "2");
      EXPECT_EQ(c.read(264), 2);
    }
    {
      ScopedEnv env(c.name, "263");
      EXPECT_EQ(c.read(264), 263);
    }
    for (const char* bad : {"264", "-1", "2x", "two"}) {
      ScopedEnv env(c.name, bad);
      const std::string line = error_of([&] { c.read(264); });
      EXPECT_NE(line.find(c.name), std::string::npos) << bad << ": " << line;
      EXPECT_NE(line.find("0 to 263"), std::string::npos) << bad << ": " << line;
    }
  }
}

}  // namespace
}  // namespace dv::test
