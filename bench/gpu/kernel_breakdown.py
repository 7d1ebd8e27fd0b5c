"""Per-kernel breakdown of a profiled run: reads Nsight Compute's raw CSV (one row per kernel launch, metric
gpu__time_duration.sum) and prints, per kernel name, the time per step, launches per step, mean time per
launch and share of the total, most expensive first, as CSV.

    python3 kernel_breakdown.py ncu.csv STEPS            a fixed number of profiled steps
    python3 kernel_breakdown.py ncu.csv KERNEL_NAME      steps = launches of a once-per-step kernel

When the profile was cut short (ncu --launch-count), only whole steps count: launches after the last
once-per-step kernel are dropped.
"""
import csv
import sys
from collections import defaultdict


def main(path, steps):
    with open(path, newline="") as f:
        lines = [line for line in f if line.startswith('"')]  # ncu's own log lines come unquoted
    rows = list(csv.reader(lines))
    if not rows:
        print("no kernel rows in", path)
        return 1
    header = rows[0]
    name_col = header.index("Kernel Name")
    time_col = header.index("gpu__time_duration.sum")
    unit_row = rows[1] if len(rows) > 1 and not rows[1][time_col].replace(".", "").replace(",", "").isdigit() else None
    scale = {"nsecond": 1e-6, "usecond": 1e-3, "msecond": 1.0, "ns": 1e-6, "us": 1e-3, "ms": 1.0}
    to_ms = scale.get(unit_row[time_col] if unit_row else "nsecond", 1e-6)
    launches = []
    for row in rows[2 if unit_row else 1:]:
        if len(row) <= max(name_col, time_col):
            continue
        try:
            launches.append((row[name_col], float(row[time_col].replace(",", "")) * to_ms))
        except ValueError:
            continue
    if isinstance(steps, str):
        marker = steps
        ends = [i for i, (name, _) in enumerate(launches) if name == marker]
        if not ends:
            print("no launch of", marker, "in", path)
            return 1
        launches = launches[:ends[-1] + 1]
        steps = len(ends)
        print(f"# {steps} step(s), ended by {marker}")
    total = defaultdict(float)
    calls = defaultdict(int)
    for name, ms in launches:
        total[name] += ms
        calls[name] += 1
    all_ms = sum(total.values())
    print("kernel,ms_per_step,launches_per_step,us_per_launch,share")
    for name in sorted(total, key=total.get, reverse=True):
        print(f"{name[:90]},{total[name] / steps:.3f},{calls[name] / steps:.1f},"
              f"{1000 * total[name] / calls[name]:.1f},{100 * total[name] / all_ms:.1f}%")
    print(f"TOTAL,{all_ms / steps:.3f},{sum(calls.values()) / steps:.1f},,100%")
    return 0


if __name__ == "__main__":
    arg = sys.argv[2] if len(sys.argv) > 2 else "1"
    sys.exit(main(sys.argv[1], int(arg) if arg.isdigit() else arg))
