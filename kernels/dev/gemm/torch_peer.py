"""torch.matmul (cuBLAS) at the GEMM playground's bench shapes, timed the same way (CUDA events, warm-up,
median of up to 50 runs within ~0.3 s, random inputs rotated past L2), then the table joined with the
playground's CSV: per shape and Anvil version its TFLOP/s, cuBLAS's, and the ratio (>= 1.0: Anvil as fast
or faster).

    python3 kernels/dev/gemm/torch_peer.py torch.csv [anvil.csv]

With anvil.csv, only the shapes it holds are timed (so a --quick playground run gets a --quick peer).
"""
import csv
import math
import statistics
import sys

import torch

ROTATE_BYTES = 200 << 20


def shapes():
    bt = 8192
    out = [("square4096", "NT", 4096, 4096, 4096), ("square8192", "NT", 8192, 8192, 8192)]
    for name, fan_in, fan_out in (("c_attn", 768, 2304), ("attn.c_proj", 768, 768), ("c_fc", 768, 3072),
                                  ("mlp.c_proj", 3072, 768), ("lm_head", 768, 50304)):
        out += [(name, "NT", bt, fan_out, fan_in), (name, "NN", bt, fan_in, fan_out), (name, "TN", fan_out, fan_in, bt)]
    return out


def operands(layout, m, n, k):
    """Stored operands as the playground stores them: A (m,k) or (k,m); B (k,n) or (n,k)."""
    a = torch.randn((k, m) if layout[0] == "T" else (m, k), device="cuda").to(torch.bfloat16)
    b = torch.randn((n, k) if layout[1] == "T" else (k, n), device="cuda").to(torch.bfloat16)
    return a, b


def product(layout, a, b):
    opa = a.t() if layout[0] == "T" else a
    opb = b.t() if layout[1] == "T" else b
    if layout == "TN":  # the weight gradient: Anvil writes it in fp32
        try:
            return torch.mm(opa, opb, out_dtype=torch.float32)
        except TypeError:
            return torch.mm(opa, opb)
    return torch.mm(opa, opb)


def median_ms(fn, copies):
    for i in range(2):
        fn(i % copies)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times, total, i = [], 0.0, 0
    while i < 50 and (i < 3 or total < 300):
        start.record()
        fn(i % copies)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
        total += times[-1]
        i += 1
    return statistics.median(times)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "gemm-torch.csv"
    torch.manual_seed(7)
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}", flush=True)
    rows = []
    todo = shapes()
    if len(sys.argv) > 2:
        seen = []
        with open(sys.argv[2]) as f:
            for r in csv.DictReader(f):
                key = (r["name"], r["layout"], int(r["m"]), int(r["n"]), int(r["k"]))
                if key not in seen:
                    seen.append(key)
        todo = seen
    for name, layout, m, n, k in todo:
        copies = max(1, min(8, math.ceil(ROTATE_BYTES / ((m * k + k * n) * 2))))
        ops = [operands(layout, m, n, k) for _ in range(copies)]
        ms = median_ms(lambda i: product(layout, *ops[i]), copies)
        rows.append((name, layout, m, n, k, ms, 2.0 * m * n * k / ms / 1e9))
        print(f"{name:12s} {layout} {m:6d} {n:6d} {k:6d} cuBLAS {ms:9.3f} ms {rows[-1][-1]:8.1f} TFLOP/s", flush=True)
        del ops
        torch.cuda.empty_cache()
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("name", "layout", "m", "n", "k", "ms", "tflops"))
        w.writerows(rows)
    if len(sys.argv) > 2:
        runs = {}  # (name, layout) -> [(version, ms, tflops)] in the CSV's order
        with open(sys.argv[2]) as f:
            for r in csv.DictReader(f):
                runs.setdefault((r["name"], r["layout"]), []).append(
                    (r["version"], float(r["ms"]), float(r["tflops"])))
        print(f"\n{'shape':12s} {'lay':3s} {'m':>6s} {'n':>6s} {'k':>6s} {'anvil':>12s} {'cuBLAS':>8s} {'ratio':>6s}"
              "  (anvil TFLOP/s of each version, cuBLAS TFLOP/s, cuBLAS ms / anvil ms)")
        for name, layout, m, n, k, ms, tf in rows:
            for v, ams, atf in runs.get((name, layout), []):
                print(f"{name:12s} {layout:3s} {m:6d} {n:6d} {k:6d} {atf:7.1f} (v{v}) {tf:8.1f} {ms / ams:6.2f}")

if __name__ == "__main__":
    main()
