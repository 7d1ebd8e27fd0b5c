"""PyTorch's scaled_dot_product_attention (flash and cuDNN backends) at the attention playground's bench
shapes, timed the same way (CUDA events, warm-up, median of up to 50 runs within ~0.3 s, random inputs),
then the table joined with the playground's CSV (given: only the shapes it has): per shape and pass the best
Anvil version, the best SDPA backend, and the ratio (>= 1.0: Anvil as fast or faster). bwd is the backward
alone, as in the playground.

    python3 kernels/dev/attention/torch_peer.py torch.csv [anvil.csv]
"""
import csv
import statistics
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

SHAPES = [  # name, B, H, Tq, Tk, D, causal  (as kernels/dev/attention/attention.cu bench_all)
    ("gpt2", 8, 12, 1024, 1024, 64, True),
    ("d128_t4096", 2, 16, 4096, 4096, 128, True),
    ("d128_t4096_full", 2, 16, 4096, 4096, 128, False),
    ("decode_1k", 8, 32, 1, 1024, 128, False),
    ("decode_8k", 8, 32, 1, 8192, 128, False),
    ("decode_4k_d64", 8, 12, 1, 4096, 64, False),
]
BACKENDS = (("sdpa flash", SDPBackend.FLASH_ATTENTION), ("sdpa cudnn", SDPBackend.CUDNN_ATTENTION))


def median_ms(fn):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times, total = [], 0.0
    while len(times) < 50 and (len(times) < 3 or total < 300):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
        total += times[-1]
    return statistics.median(times)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "attention-torch.csv"
    torch.manual_seed(3)
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}", flush=True)
    rows = []
    wanted = None  # with the playground's CSV: its shapes only
    if len(sys.argv) > 2:
        with open(sys.argv[2]) as f:
            wanted = {r["name"] for r in csv.DictReader(f)}
    for name, b, h, tq, tk, d, causal in SHAPES:
        if wanted is not None and name not in wanted:
            continue
        q = torch.randn(b, h, tq, d, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        k = torch.randn(b, h, tk, d, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        v = torch.randn(b, h, tk, d, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        pairs = b * h * tq * tk * (0.5 if causal else 1.0)
        fwd_flops, bwd_flops = 4.0 * pairs * d, 10.0 * pairs * d
        kv_bytes = 2.0 * b * tk * h * d * 2
        for peer, backend in BACKENDS:
            try:
                with sdpa_kernel(backend):
                    fwd = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    ms = median_ms(fwd)
                    rate, unit = (kv_bytes / ms / 1e6, "GB/s") if tq == 1 else (fwd_flops / ms / 1e9, "TFLOP/s")
                    rows.append((name, "fwd", peer, ms, rate, unit))
                    print(f"{name:16s} fwd {peer:12s} {ms:9.3f} ms {rate:8.1f} {unit}", flush=True)
                    if tq > 1:
                        o = fwd()
                        g = torch.randn_like(o)
                        ms = median_ms(lambda: torch.autograd.grad(o, (q, k, v), g, retain_graph=True))
                        rows.append((name, "bwd", peer, ms, bwd_flops / ms / 1e9, "TFLOP/s"))
                        print(f"{name:16s} bwd {peer:12s} {ms:9.3f} ms {rows[-1][4]:8.1f} TFLOP/s", flush=True)
            except Exception as e:  # a backend that refuses a shape must not lose the others
                print(f"{name} [{peer}]: FAILED {e!r}", flush=True)
        del q, k, v
        torch.cuda.empty_cache()
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("name", "pass", "peer", "ms", "rate", "unit"))
        w.writerows(rows)
    if len(sys.argv) > 2:
        best_anvil, best_torch = {}, {}
        with open(sys.argv[2]) as f:
            for r in csv.DictReader(f):
                key = (r["name"], r["pass"])
                if key not in best_anvil or float(r["ms"]) < best_anvil[key][1]:
                    best_anvil[key] = ("v" + r["version"], float(r["ms"]), float(r["rate"]), r["unit"])
        for name, p, peer, ms, rate, unit in rows:
            if (name, p) not in best_torch or ms < best_torch[(name, p)][1]:
                best_torch[(name, p)] = (peer, ms, rate, unit)
        print(f"\n{'shape':16s} {'pass':4s} {'anvil':>16s} {'best SDPA':>22s} {'ratio':>6s}")
        for key, (peer, ms, rate, unit) in best_torch.items():
            if key in best_anvil:
                v, ams, arate, _ = best_anvil[key]
                print(f"{key[0]:16s} {key[1]:4s} {arate:8.1f} ({v:3s}) {rate:8.1f} ({peer:10s}) {ms / ams:6.2f}  {unit}")


if __name__ == "__main__":
    main()
