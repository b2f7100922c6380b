"""missing_dependency.py: the suite's one rule for a test whose module, data file or tool is missing.

On a developer's machine the test skips (exit 77, ctest's SKIP_RETURN_CODE). Under CI=true (the clean-clone CI,
.ci/run) it fails (exit 1): scripts/install_deps.sh installs every dependency there, so a skip would only hide
that the test's evidence was never produced. A test that needs a GPU is not a dependency skip: it keeps
skipping without one. The C++ twin is tests/common/missing_dependency.h; both read CI the same way.
"""
import os
import sys


def under_ci():
    """True when CI is set to anything but '', '0' or 'false' (GitHub Actions, GitLab and .ci/run set CI=true)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def missing_dependency(why):
    """Skip (exit 77) or, under CI=true, fail (exit 1), saying what is missing."""
    if under_ci():
        print(f"FAIL: {why} (CI=true: a missing dependency fails the test instead of skipping it;"
              f" scripts/install_deps.sh installs what the tests need)")
        sys.exit(1)
    print(f"SKIP: {why}")
    sys.exit(77)
