"""Joins CudaOpBench's and peers.py's CSVs into one table: each Anvil op, its rate, and every PyTorch peer
timed on the same shapes in the same run, with the ratio anvil_ms / peer_ms (below 1: Anvil is faster).

    python3 bench/gpu/table.py bench-anvil.csv bench-torch.csv "NVIDIA H100 80GB HBM3" > results.md
"""
import csv
import math
import sys
from datetime import date


def read(path):
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def main():
    anvil, torch, card = read(sys.argv[1]), read(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "?"
    print(f"GPU check, {card}, {date.today().isoformat()}\n")
    print("| op | shape | Anvil ms | Anvil rate | peer | peer ms | Anvil/peer |")
    print("|---|---|---:|---:|---|---:|---:|")
    names = [r["name"] for r in anvil] + [r["name"] for r in torch if r["name"] not in {a["name"] for a in anvil}]
    seen = set()
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        mine = [r for r in anvil if r["name"] == name]
        # a peer row of a shape Anvil did not time still shows, with no Anvil figures
        mine += [{"shape": s, "ms": "nan", "work": "0", "unit": ""}
                 for s in dict.fromkeys(r["shape"] for r in torch if r["name"] == name)
                 if s not in {a["shape"] for a in mine}]
        for a in mine:
            peers = [r for r in torch if r["name"] == name and r["shape"] == a["shape"]] or \
                [{"peer": "-", "ms": "nan", "shape": ""}]
            ms = float(a["ms"])
            rate = ""
            if a["unit"] in ("TFLOP/s", "GB/s") and ms > 0 and not math.isnan(ms):
                scale = 1e9 if a["unit"] == "TFLOP/s" else 1e6
                rate = f"{float(a['work']) / ms / scale:.1f} {a['unit']}"
            for p in peers:
                pms = float(p["ms"])
                ratio = f"{ms / pms:.2f}" if pms > 0 and not math.isnan(pms) and not math.isnan(ms) else "-"
                print(f"| {name} | {a['shape'] or p['shape']} | {ms:.3f} | {rate} | {p['peer']} | {pms:.3f} | {ratio} |")


if __name__ == "__main__":
    main()
