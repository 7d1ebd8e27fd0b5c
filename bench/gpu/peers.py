"""PyTorch peers of CudaOpBench: the same ops at the same shapes under the same names, timed the same way
(CUDA events, warm-up, median of 3..50 runs fitting in ~0.3 s, inputs rotated over copies worth more than
twice the L2 cache, random inputs). Writes name,shape,peer,ms rows; .ci/gpu joins them with Anvil's.

    python3 bench/gpu/peers.py out.csv
"""
import csv
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from gpt2_model import C, H, V, VP, Gpt2

B, T = 8, 1024  # the GPT-2 step's shapes: 8 x 1024 tokens, 768 wide, 12 heads (gpt2_model)
DEV = "cuda"
ROTATE_BYTES = 200 << 20
rows = []


def copies(nbytes):
    return max(1, min(8, math.ceil(ROTATE_BYTES / nbytes)))


def timed(name, shape, peer, fn, warmup=3):
    """Median milliseconds of fn(i) for rotation index i, GPU time between two events."""
    try:
        for i in range(warmup):
            fn(i)
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def once(i):
            start.record()
            fn(i)
            end.record()
            end.synchronize()
            return start.elapsed_time(end)

        first = once(warmup)
        n = int(max(3, min(50, math.ceil(300 / max(first, 1e-3)))))
        ms = statistics.median(once(warmup + 1 + i) for i in range(n))
    except Exception as e:  # one failing peer must not lose the others
        print(f"{name} [{peer}]: FAILED {e!r}", flush=True)
        ms = float("nan")
    print(f"{name:24s} {shape:28s} {peer:22s} {ms:9.3f} ms", flush=True)
    rows.append((name, shape, peer, ms))


def randn(*dims, dtype=torch.bfloat16, scale=1.0, grad=False):
    return (torch.randn(*dims, device=DEV, dtype=torch.float32) * scale).to(dtype).requires_grad_(grad)


def matmul():
    # the rows of CudaOpBench.matmul: squares (x W^T), then each GPT-2 Linear (in -> out) as its three
    # products: fwd x W^T, dx = dy W (bf16), dw = dy^T x (fp32 out, as Anvil's fp32 weight gradients)
    for sq in (4096, 8192):
        sa = [randn(sq, sq) for _ in range(copies(sq * sq * 2))]
        sw = randn(sq, sq, scale=0.02)
        if sq == 4096:  # the first timed op of the run: ~50 ms of load first, so the clocks have ramped up
            for i in range(250):
                F.linear(sa[i % len(sa)], sw)
        timed("matmul_fwd_bf16", f"{sq}x{sq}x{sq}", "torch.matmul (cuBLAS)", lambda i: F.linear(sa[i % len(sa)], sw))
        del sa, sw
    m = B * T

    def mm_f32(a, b):
        try:
            return torch.mm(a, b, out_dtype=torch.float32)
        except TypeError:  # a torch without out_dtype: bf16 out
            return torch.mm(a, b)

    for fan_in, fan_out in ((C, 3 * C), (C, C), (C, 4 * C), (4 * C, C), (C, VP)):
        r = copies(m * max(fan_in, fan_out) * 2)
        xs = [randn(m, fan_in) for _ in range(r)]
        dys = [randn(m, fan_out) for _ in range(r)]
        w = randn(fan_out, fan_in, scale=0.02)
        at = f"{m}x{fan_out}x{fan_in}"
        timed("matmul_fwd_bf16", at, "torch.matmul (cuBLAS)", lambda i: F.linear(xs[i % r], w))
        if fan_out == 4 * C:  # 10 back-to-back, as CudaOpBench's matmul_fwd_bf16_x10 (host time overlapped)
            timed("matmul_fwd_bf16_x10", at, "torch.matmul (cuBLAS)",
                  lambda i: [F.linear(xs[(i + j) % r], w) for j in range(10)])
        timed("matmul_dx_bf16", at, "torch.matmul (cuBLAS)", lambda i: dys[i % r] @ w)
        timed("matmul_dw_bf16", at, "torch.matmul (cuBLAS)", lambda i: mm_f32(dys[i % r].t(), xs[i % r]))
        del xs, dys, w


def attention():
    from torch.nn.attention import SDPBackend, sdpa_kernel
    d = C // H
    q, k, v = (randn(B, H, T, d, grad=True) for _ in range(3))
    dout = randn(B, H, T, d)
    shape = "B8 H12 T1024 D64 causal"
    for peer, backend in (("torch sdpa flash", SDPBackend.FLASH_ATTENTION), ("torch sdpa cudnn", SDPBackend.CUDNN_ATTENTION)):
        try:
            with sdpa_kernel(backend):
                timed("attention_fwd_bf16", shape, peer, lambda i: F.scaled_dot_product_attention(q, k, v, is_causal=True))
                out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                timed("attention_bwd_bf16", shape, peer,
                      lambda i: torch.autograd.grad(out, (q, k, v), dout, retain_graph=True))
        except Exception as e:
            print(f"attention [{peer}]: FAILED {e!r}")


def long_attention():
    """Head dim 128, T = 4096, causal; and one-token decode against a 4096 cache (CudaOpBench's shapes)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    b, t, h, d = 2, 4096, 16, 128
    q, k, v = (randn(b, h, t, d, grad=True) for _ in range(3))
    dout = randn(b, h, t, d)
    shape = "B2 H16 T4096 D128 causal"
    qd = randn(8, 32, 1, 128)
    kd, vd = randn(8, 32, 4096, 128), randn(8, 32, 4096, 128)
    for peer, backend in (("torch sdpa flash", SDPBackend.FLASH_ATTENTION), ("torch sdpa cudnn", SDPBackend.CUDNN_ATTENTION)):
        try:
            with sdpa_kernel(backend):
                timed("attention_fwd_bf16", shape, peer, lambda i: F.scaled_dot_product_attention(q, k, v, is_causal=True))
                out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                timed("attention_bwd_bf16", shape, peer,
                      lambda i: torch.autograd.grad(out, (q, k, v), dout, retain_graph=True))
                timed("attention_decode_bf16", "B8 H32 Tk4096 D128", peer,
                      lambda i: F.scaled_dot_product_attention(qd, kd, vd))
        except Exception as e:
            print(f"long attention [{peer}]: FAILED {e!r}")


def layernorm():
    rows_ = B * T
    xs = [randn(rows_, C, grad=True) for _ in range(copies(rows_ * C * 2))]
    w, b = randn(C, grad=True), randn(C, grad=True)
    timed("layernorm_fwd_bf16", f"{rows_}x{C}", "F.layer_norm", lambda i: F.layer_norm(xs[i % len(xs)], (C,), w, b))
    y = F.layer_norm(xs[0], (C,), w, b)
    dy = randn(rows_, C)
    timed("layernorm_bwd_bf16", f"{rows_}x{C}", "F.layer_norm",
          lambda i: torch.autograd.grad(y, (xs[0], w, b), dy, retain_graph=True))


def gelu():
    n = B * T * 4 * C
    xs = [randn(n, grad=True) for _ in range(copies(n * 2))]
    timed("gelu_fwd_bf16", f"{n}", "F.gelu tanh", lambda i: F.gelu(xs[i % len(xs)], approximate="tanh"))
    y = F.gelu(xs[0], approximate="tanh")
    dy = randn(n)
    timed("gelu_bwd_bf16", f"{n}", "F.gelu tanh", lambda i: torch.autograd.grad(y, xs[0], dy, retain_graph=True))


def softmax():
    rows_ = B * H * T
    x = randn(rows_, T)
    timed("softmax_fwd_bf16", f"{rows_}x{T}", "torch.softmax (no scale)", lambda i: torch.softmax(x, -1))


def cross_entropy():
    rows_ = B * T
    logits = randn(rows_, VP, scale=2.0, grad=True)
    targets = torch.randint(0, V, (rows_,), device=DEV)
    timed("cross_entropy_fwd_bf16", f"{rows_}x{VP}", "F.cross_entropy", lambda i: F.cross_entropy(logits, targets))
    loss = F.cross_entropy(logits, targets)
    timed("cross_entropy_bwd_bf16", f"{rows_}x{VP}", "F.cross_entropy",
          lambda i: torch.autograd.grad(loss, logits, retain_graph=True))


def embedding():
    n = B * T
    ids = torch.randint(0, V, (n,), device=DEV)
    table = randn(VP, C, scale=0.02, grad=True)
    timed("embedding_fwd_bf16", f"{n}x{C}", "F.embedding", lambda i: F.embedding(ids, table))
    out = F.embedding(ids, table)
    dout = randn(n, C)
    timed("embedding_bwd_bf16", f"{n}x{C}", "F.embedding", lambda i: torch.autograd.grad(out, table, dout, retain_graph=True))


def gpt2_shapes():
    s = [(VP, C), (1024, C)]
    for _ in range(12):
        s += [(C,), (C,), (3 * C, C), (3 * C,), (C, C), (C,), (C,), (C,), (4 * C, C), (4 * C,), (C, 4 * C), (C,)]
    return s + [(C,), (C,)]


def optimizer():
    params = [torch.nn.Parameter(randn(*s, dtype=torch.float32, scale=0.02)) for s in gpt2_shapes()]
    for p in params:
        p.grad = randn(*p.shape, dtype=torch.float32, scale=1e-3)
    total = sum(p.numel() for p in params)
    groups = [{"params": [p for p in params if p.dim() == 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=6e-4, betas=(0.9, 0.95), eps=1e-8, fused=True)
    shape = f"{total} params in {len(params)} tensors"
    timed("adamw_f32", shape, "torch AdamW fused", lambda i: opt.step())
    grads = [p.grad for p in params]
    timed("grad_norm_f32", shape, "torch _foreach_norm",
          lambda i: torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))).item())
    copies_bf16 = [torch.empty_like(p, dtype=torch.bfloat16) for p in params]

    def fused_step(i):  # what FusedAdamW does in one call: clip on the device, update, bf16 copies
        torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
        opt.step()
        torch._foreach_copy_(copies_bf16, [p.detach() for p in params])
    timed("adamw_fused_clip_bf16copy", shape, "torch clip+AdamW fused+copy", fused_step)
    src = torch.randn(total, device=DEV)
    dst = torch.empty_like(src)
    timed("copy_d2d_f32", f"{total} floats", "torch copy_", lambda i: dst.copy_(src))


def gpt_step():
    b = 4
    model = Gpt2().to(DEV)
    opt = torch.optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, fused=True)
    ids = torch.randint(0, V, (b, T), device=DEV)
    targets = torch.randint(0, V, (b, T), device=DEV)
    for peer, autocast in (("torch eager f32", False), ("torch eager bf16 autocast", True)):
        def step(i):
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                loss = model(ids, targets)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        timed("gpt2_step_f32", "B4 T1024 124M", peer, step, warmup=2)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "bench-torch.csv"
    torch.manual_seed(2024)
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32, as in Anvil's fp32 mode
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}", flush=True)
    t0 = time.time()
    for group in (matmul, attention, long_attention, layernorm, gelu, softmax, cross_entropy, embedding, optimizer, gpt_step):
        try:
            group()
        except Exception as e:
            print(f"{group.__name__}: FAILED {e!r}", flush=True)
        torch.cuda.empty_cache()
        with open(out, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(("name", "shape", "peer", "ms"))
            w.writerows(rows)
    print(f"peers done in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
