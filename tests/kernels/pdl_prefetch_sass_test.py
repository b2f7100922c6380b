#!/usr/bin/env python3
"""pdl_prefetch_sass_test.py: the decode kernels that stream weights before their PDL wait really do, in SASS.

A work-unit op issues its first weight loads (they depend on the selection only) before sync.inputs(), whose
griddepcontrol.wait lets the previous kernel finish first; the loads then overlap that kernel's tail. ptxas may
undo it: griddepcontrol.wait is an acquire, so it may move read-only (.nc) loads from above it to below it, and
it did in sparse_mlp_down and the predictor GEMVs (CUDA 13: the wait's SASS, ACQBULK, came first). This test
dumps the SASS of the built kernel libraries and asserts, for every instantiation in KERNELS, that a weight
load comes before the first wait in program order: a streaming load (LDG...NA..., from L1::no_allocate) or an
L2 prefetch (CCTL...PF...). The opcodes are sm_90's (griddepcontrol.wait -> ACQBULK, found by compiling a
one-line kernel; launch_dependents -> PREEXIT).

Usage: pdl_prefetch_sass_test.py CUOBJDUMP LIB=PATH...   (CMake passes both; CUOBJDUMP may be '' or *-NOTFOUND)
A missing cuobjdump skips (exit 77), or fails under CI=true (tests/python/missing_dependency.py).
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from missing_dependency import missing_dependency  # noqa: E402

WAIT = "ACQBULK"
WEIGHT_LOAD = re.compile(r"^(LDG\S*\.NA\b\S*|CCTL\S*\.P(F|ML)\S*)$")

# library -> (demangled-name pattern of the instantiations meant to load before their wait, how many there are).
# Not listed, by design: the PdlSync<true> instantiations of selection readers (they wait before reading the
# selection), kv_catchup (its list comes from the kernel before it), row_dot_kernel (pdl_begin() first).
KERNELS = {
    # Four batch-tile / rows-per-index instantiations, each with and without the row statistics (kRowStats).
    "dv_kernel_sparse_mlp_down": (r"sparse_mlp_down_kernel<.*, false>\(", 8),
    # Two or three units per SM (SparseQkvArgs::units_per_sm, kernel_bench's A/B variant), the CTAs that loop
    # over units (SparseQkvArgs::loop_units, two per SM) and the tiled weight layout (tiled_weights, two per SM).
    "dv_kernel_sparse_qkv": (r"qkv_unit_kernel<dv::kernels::SparseQkvOp, false, [23], (false|true), (false|true)>\(",
                             4),
    "dv_kernel_fused_mlp": (r"fused_mlp_kernel<.*, false>\(", 3),
    # The predictor's weights do not depend on the step at all: both instantiations.
    "dv_kernel_lowrank_predictor": (r"unit_kernel<dv::kernels::Lowrank(Scores|Z)Op<.*>, (true|false)>\(", 24),
}


def find_cuobjdump(given):
    """The CMake-found cuobjdump, else PATH's, else the copy bundled with triton (torch's dependency)."""
    if given and not given.endswith("NOTFOUND") and os.path.exists(given):
        return given
    if shutil.which("cuobjdump"):
        return shutil.which("cuobjdump")
    spec = importlib.util.find_spec("triton")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(root, "backends", "nvidia", "bin", "cuobjdump")
        if os.path.exists(path):
            return path
    return None


def demangle(names):
    """Demangled names via c++filt (binutils), or the mangled ones where it is missing."""
    if not names or shutil.which("c++filt") is None:
        return names
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def functions(cuobjdump, lib):
    """{demangled kernel name: [opcode, ...] in program order} of the sm_90 SASS in `lib`."""
    sass = subprocess.run([cuobjdump, "-sass", lib], capture_output=True, text=True, check=True).stdout
    names, bodies = [], []
    for line in sass.splitlines():
        m = re.search(r"Function : (\S+)", line)
        if m:
            names.append(m.group(1))
            bodies.append([])
            continue
        m = re.match(r"\s+/\*[0-9a-f]{4,}\*/\s+(@!?U?P\w+\s+)?([A-Z][\w.]*)", line)
        if m and bodies:
            bodies[-1].append(m.group(2))
    return dict(zip(demangle(names), bodies))


def check(name, ops):
    """'' when a weight load precedes the first wait, else why not."""
    if WAIT not in ops:
        return f"no {WAIT} (griddepcontrol.wait): did its SASS opcode change?"
    first = ops.index(WAIT)
    loads = [op for op in ops[:first] if WEIGHT_LOAD.match(op)]
    if loads:
        print(f"ok    {name}: {len(loads)} weight loads ({', '.join(sorted(set(loads)))}) before {WAIT} #{first}")
        return ""
    return f"no weight load before {WAIT} (instruction {first} of {len(ops)})"


def main(argv):
    cuobjdump = find_cuobjdump(argv[1] if len(argv) > 1 else "")
    if cuobjdump is None:
        missing_dependency("cuobjdump (CUDA toolkit or triton's bundled copy) not found")
    libs = dict(arg.split("=", 1) for arg in argv[2:])
    failures = []
    for lib, (pattern, expected) in KERNELS.items():
        if lib not in libs or not os.path.exists(libs[lib]):
            failures.append(f"{lib}: library not given or not built ({libs.get(lib)})")
            print(f"FAIL  {failures[-1]}")
            continue
        found = {n: ops for n, ops in functions(cuobjdump, libs[lib]).items() if re.search(pattern, n)}
        if len(found) != expected:
            why = f"{lib}: {len(found)} kernels match {pattern!r}, expected {expected}"
            print(f"FAIL  {why}")
            failures.append(why)
        for name, ops in found.items():
            why = check(name, ops)
            if why:
                print(f"FAIL  {name}: {why}")
                failures.append(f"{name}: {why}")
    if failures:
        print(f"\n{len(failures)} failure(s): the weight loads must be issued before the PDL wait "
              "(kernels/README.md, 'Loads before the PDL wait')")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
