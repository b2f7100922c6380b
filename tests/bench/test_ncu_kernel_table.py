#!/usr/bin/env python3
"""scripts/ncu_kernel_table.py on a CSV shaped like `ncu --import R --csv --page raw` writes it: ncu's own
messages and the units row are skipped, Mbyte and usecond units are scaled, template names keep their
"(anonymous namespace)" parts while the argument list goes, the means, GB/s and shares are right, and a
section metric the CSV holds becomes a column of its mean; --stalls tables every warp-stall reason against the
kernels, largest first, and without it no stall table is printed."""
import gzip
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "ncu_kernel_table.py")


def run(work, text, *args):
    path = os.path.join(work, "ncu.csv")
    with open(path, "w") as f:
        f.write(text)
    return subprocess.run([sys.executable, SCRIPT, path, *args], capture_output=True, text=True)


def main():
    work = sys.argv[2] if len(sys.argv) > 2 else "/tmp/test_ncu_kernel_table"
    os.makedirs(work, exist_ok=True)
    qkv = "void dv::kernels::(anonymous namespace)::units_kernel<dv::kernels::SparseQkvOp, (int)8>(T1, int)"
    csv_text = ('==PROF== Connected to process 1\n'
                '"ID","Process ID","Kernel Name","gpu__time_duration.sum","dram__bytes_read.sum"\n'
                '"","","","us","Mbyte"\n'
                f'"0","1","{qkv}","10","40"\n'
                f'"1","1","{qkv}","30","40"\n'
                '"2","1","gemvx_kernel(int)","1,000","3,000"\n')
    r = run(work, csv_text, "--copy-gbps", "4000")
    # With a section's metric: one more column, the mean over the kernel's launches.
    occ = "sm__warps_active.avg.pct_of_peak_sustained_active"
    with_occ = run(work, csv_text.replace('"dram__bytes_read.sum"\n', f'"dram__bytes_read.sum","{occ}"\n')
                   .replace('"Mbyte"\n', '"Mbyte","%"\n').replace('"40"\n', '"40","25.5"\n', 1)
                   .replace('"40"\n', '"40","12.5"\n', 1).replace('"3,000"\n', '"3,000","90"\n'))
    assert with_occ.returncode == 0, with_occ.stderr
    occ_lines = [l for l in with_occ.stdout.splitlines() if l.startswith("| `")]
    assert "occupancy % |" in with_occ.stdout, with_occ.stdout
    assert occ_lines[1].endswith("| 19 |"), occ_lines[1]  # (25.5 + 12.5) / 2
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.startswith("| `")]
    assert len(lines) == 2, r.stdout
    # gemvx: 1000 us, 3000 MB -> 3000 GB/s, 75% of copy, 1000/1040 of the time; listed first (most time).
    assert lines[0] == "| `gemvx_kernel` | 1 | 1000.00 | 3000.000 | 3000 | 96.2% | 75.0% |", lines[0]
    # the qkv op: mean 20 us, 40 MB a launch -> 2000 GB/s.
    assert lines[1] == "| `units_kernel<SparseQkvOp, (int)8>` | 2 | 20.00 | 40.000 | 2000 | 3.8% | 50.0% |", lines[1]
    assert "3 kernel launches, 1040.0 us in all" in r.stdout, r.stdout
    # The gzipped CSV that step_decode.sh keeps gives the same table.
    gz = os.path.join(work, "ncu.csv.gz")
    with gzip.open(gz, "wt") as f:
        f.write(csv_text)
    r_gz = subprocess.run([sys.executable, SCRIPT, gz, "--copy-gbps", "4000"], capture_output=True, text=True)
    assert r_gz.returncode == 0 and r_gz.stdout == r.stdout, (r_gz.stdout, r_gz.stderr)
    # --stalls: each stall reason a row (largest first by its largest kernel), each kernel a column (by time).
    ls = "smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio"
    ni = "smsp__average_warps_issue_stalled_no_instruction_per_issue_active.ratio"
    stall_csv = (csv_text.replace('"dram__bytes_read.sum"\n', f'"dram__bytes_read.sum","{ls}","{ni}"\n')
                 .replace('"Mbyte"\n', '"Mbyte","",""\n').replace('"40"\n', '"40","2","0.5"\n', 1)
                 .replace('"40"\n', '"40","4","1.5"\n', 1).replace('"3,000"\n', '"3,000","1","9"\n'))
    st = run(work, stall_csv, "--stalls")
    assert st.returncode == 0, st.stderr
    rows = [l for l in st.stdout.split("Warp stalls")[1].splitlines() if l.startswith("| ") and "---" not in l]
    assert rows[0] == "| stall | `gemvx_kernel` | `units_kernel<SparseQkvOp, (int)8>` |", rows
    assert rows[1] == "| no_instruction | 9 | 1 |", rows  # the qkv op: (0.5 + 1.5) / 2
    assert rows[2] == "| long_scoreboard | 1 | 3 |", rows
    plain = run(work, stall_csv)
    assert plain.returncode == 0 and "Warp stalls" not in plain.stdout, plain.stdout
    assert "long-sb stall |" in plain.stdout, plain.stdout
    # A CSV without the metrics is an error naming the file and the missing columns, not a traceback.
    r = run(work, '"ID","Kernel Name"\n"0","k"\n')
    assert r.returncode != 0 and "ncu.csv" in r.stderr and "gpu__time_duration.sum" in r.stderr, r.stderr
    r = run(work, "==PROF== no kernels were profiled\n")
    assert r.returncode != 0 and "no CSV header" in r.stderr, r.stderr
    print("ncu_kernel_table: ok")


if __name__ == "__main__":
    main()
