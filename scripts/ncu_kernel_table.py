#!/usr/bin/env python3
"""ncu_kernel_table.py: where a decode step's time goes, kernel by kernel, from Nsight Compute's raw CSV
(`ncu --import REPORT --csv --page raw`, metrics gpu__time_duration.sum and dram__bytes_read.sum, as
scripts/device/step_decode.sh's `profile` part writes it). Each kernel ran alone under ncu (serialized, caches
flushed), so a kernel's time here is its own, launch gaps and overlap excluded; the bench's step time minus the
sum over one step's kernels is what the launches, waits and PDL overlap add or save.

Prints a markdown table, one row per kernel name: launches, mean time (us), mean DRAM bytes read, achieved GB/s,
and the share of all profiled kernel time; --copy-gbps adds the %-of-copy column.

  python3 scripts/ncu_kernel_table.py results/.../profile/ncu.csv [--copy-gbps 4200] [--top 30]
"""
import argparse
import csv
import sys
from collections import defaultdict

UNIT_SCALE = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6,  # ncu 2025's time units (older: nsecond, ...)
              "nsecond": 1e-3, "usecond": 1.0, "msecond": 1e3, "second": 1e6,
              "byte": 1.0, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "KB": 1e3, "MB": 1e6, "GB": 1e9}


def read_rows(path):
    """(kernel name, time us, bytes) per profiled launch; the units row after the header sets the scales."""
    with open(path, newline="") as f:
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
            t = float(r[col["gpu__time_duration.sum"]].replace(",", "")) * scale["gpu__time_duration.sum"]
            b = float(r[col["dram__bytes_read.sum"]].replace(",", "")) * scale["dram__bytes_read.sum"]
        except ValueError:
            continue
        rows.append((r[col["Kernel Name"]], t, b))
    return rows


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
    a = ap.parse_args()
    rows = read_rows(a.csv)
    if not rows:
        sys.exit(f"{a.csv}: no profiled kernels")
    agg = defaultdict(lambda: [0, 0.0, 0.0])
    for name, t, b in rows:
        e = agg[short_name(name)]
        e[0] += 1
        e[1] += t
        e[2] += b
    total = sum(e[1] for e in agg.values())
    print(f"{len(rows)} kernel launches, {total:.1f} us in all\n")
    head = "| kernel | launches | mean us | mean MB read | GB/s | share |"
    if a.copy_gbps:
        head += " % of copy |"
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    for name, (n, t, b) in sorted(agg.items(), key=lambda kv: -kv[1][1])[:a.top]:
        gbps = b / (t * 1e3) if t > 0 else 0.0
        line = f"| `{name}` | {n} | {t / n:.2f} | {b / n / 1e6:.3f} | {gbps:.0f} | {100 * t / total:.1f}% |"
        if a.copy_gbps:
            line += f" {100 * gbps / a.copy_gbps:.1f}% |"
        print(line)


if __name__ == "__main__":
    main()
