#!/usr/bin/env python3
"""ncu_kernel_table.py: where a decode step's time goes, kernel by kernel, from Nsight Compute's raw CSV
(`ncu --import REPORT --csv --page raw`, metrics gpu__time_duration.sum and dram__bytes_read.sum, as
scripts/device/step_decode.sh's `profile` part writes it). Each kernel ran alone under ncu (serialized; since
62f2ef9 with caches and clocks left as they are), so a kernel's time here is its own, launch gaps and overlap
excluded; the bench's step time minus the sum over one step's kernels is what the launches, waits and PDL
overlap add or save.

Prints a markdown table, one row per kernel name: launches, mean time (us), mean DRAM bytes read, achieved GB/s,
and the share of all profiled kernel time; --copy-gbps adds the %-of-copy column, and each of EXTRA's metrics
the CSV holds (the Occupancy / WarpStateStats / LaunchStats sections) adds its mean as a column. --stalls adds a
second table: every warp-stall reason the CSV holds (WarpStateStats), a row each, its mean warps per issued
instruction for each kernel in a column, largest first (what a kernel that streams slower than another waits on).

  python3 scripts/ncu_kernel_table.py results/.../profile/ncu.csv[.gz] [--copy-gbps 4200] [--top 30] [--stalls]
(step_decode.sh keeps the CSV gzipped: the working tree travels to the GPU machine under a size limit.)
"""
import argparse
import csv
import gzip
import re
import sys
from collections import defaultdict

UNIT_SCALE = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6,  # ncu 2025's time units (older: nsecond, ...)
              "nsecond": 1e-3, "usecond": 1.0, "msecond": 1e3, "second": 1e6,
              "byte": 1.0, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "KB": 1e3, "MB": 1e6, "GB": 1e9}


# Optional metrics shown when present: (raw metric, column title).
EXTRA = [("launch__grid_size", "grid"), ("launch__registers_per_thread", "regs"),
         ("sm__warps_active.avg.pct_of_peak_sustained_active", "occupancy %"),
         ("smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio", "long-sb stall"),
         ("smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio", "barrier stall")]
STALL = re.compile(r"smsp__average_warps_issue_stalled_(\w+)_per_issue_active\.ratio")


def number(text):
    return float(text.replace(",", ""))


def read_rows(path, stalls=False):
    """(kernel name, time us, bytes, {extra metric: value}) per profiled launch; the units row after the header
    sets the scales. stalls: every warp-stall column is an extra metric too."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        lines = [l for l in f if l.startswith('"')]  # ncu's own messages are not quoted CSV rows
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        sys.exit(f"{path}: no CSV header (did ncu profile anything?)")
    need = ["Kernel Name", "gpu__time_duration.sum", "dram__bytes_read.sum"]
    missing = [k for k in need if k not in header]
    if missing:
        sys.exit(f"{path}: columns {missing} missing from the CSV header")
    col = {k: header.index(k) for k in need}
    extra = [m for m, _ in EXTRA if m in header]
    if stalls:
        extra += [m for m in header if STALL.fullmatch(m) and m not in extra]
    scale = {"gpu__time_duration.sum": 1e-3, "dram__bytes_read.sum": 1.0}  # ncu's base units: ns, bytes
    rows = []
    for r in reader:
        if len(r) < len(header):
            continue
        if not r[0].strip().isdigit():  # the units row
            for k in scale:
                unit = r[col[k]].strip()
                if unit in UNIT_SCALE:
                    scale[k] = UNIT_SCALE[unit]
            continue
        try:
            t = number(r[col["gpu__time_duration.sum"]]) * scale["gpu__time_duration.sum"]
            b = number(r[col["dram__bytes_read.sum"]]) * scale["dram__bytes_read.sum"]
        except ValueError:
            continue
        ex = {}
        for m in extra:
            try:
                ex[m] = number(r[header.index(m)])
            except ValueError:
                pass
        rows.append((r[col["Kernel Name"]], t, b, ex))
    return rows, extra


def short_name(name, width=90):
    """The name without its trailing argument list ("(anonymous)" inside template arguments stays)."""
    base = name.strip()
    if base.endswith(")"):
        depth = 0
        for i in range(len(base) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(base[i], 0)
            if depth == 0:
                base = base[:i]
                break
    base = base.removeprefix("void ").replace("dv::kernels::", "").replace("(anonymous namespace)::", "")
    return base if len(base) <= width else base[:width - 3] + "..."


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv")
    ap.add_argument("--copy-gbps", type=float, default=0.0, help="device copy bandwidth for the %% column")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--stalls", action="store_true", help="a second table: every warp-stall reason per kernel")
    a = ap.parse_args()
    rows, extra = read_rows(a.csv, a.stalls)
    if not rows:
        sys.exit(f"{a.csv}: no profiled kernels")
    agg = defaultdict(lambda: [0, 0.0, 0.0, defaultdict(list)])
    for name, t, b, ex in rows:
        e = agg[short_name(name)]
        e[0] += 1
        e[1] += t
        e[2] += b
        for m, v in ex.items():
            e[3][m].append(v)
    total = sum(e[1] for e in agg.values())
    print(f"{len(rows)} kernel launches, {total:.1f} us in all\n")
    head = "| kernel | launches | mean us | mean MB read | GB/s | share |"
    if a.copy_gbps:
        head += " % of copy |"
    titles = dict(EXTRA)
    columns = [m for m in extra if m in titles]
    for m in columns:
        head += f" {titles[m]} |"
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    kernels = sorted(agg.items(), key=lambda kv: -kv[1][1])[:a.top]  # most time first
    for name, (n, t, b, ex) in kernels:
        gbps = b / (t * 1e3) if t > 0 else 0.0
        line = f"| `{name}` | {n} | {t / n:.2f} | {b / n / 1e6:.3f} | {gbps:.0f} | {100 * t / total:.1f}% |"
        if a.copy_gbps:
            line += f" {100 * gbps / a.copy_gbps:.1f}% |"
        for m in columns:
            v = ex.get(m)
            line += f" {sum(v) / len(v):.4g} |" if v else " - |"
        print(line)
    stall_columns = [m for m in extra if STALL.fullmatch(m)]
    if a.stalls and stall_columns:
        print_stalls(kernels, stall_columns)


def print_stalls(kernels, stall_columns):
    """Warp-stall reasons (rows, largest first by their largest kernel) against kernels (columns, in the given
    order: most time first)."""
    mean = {(name, m): (sum(e[3][m]) / len(e[3][m]) if e[3][m] else 0.0)
            for name, e in kernels for m in stall_columns}
    order = sorted(stall_columns, key=lambda m: -max(mean[(name, m)] for name, _ in kernels))
    print("\nWarp stalls (warps per issued instruction, mean over launches):\n")
    print("| stall | " + " | ".join(f"`{name}`" for name, _ in kernels) + " |")
    print("|" + " --- |" * (len(kernels) + 1))
    for m in order:
        cells = " | ".join(f"{mean[(name, m)]:.3g}" for name, _ in kernels)
        print(f"| {STALL.fullmatch(m).group(1)} | {cells} |")


if __name__ == "__main__":
    main()
