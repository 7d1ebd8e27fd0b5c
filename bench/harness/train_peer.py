#!/usr/bin/env python3
"""PyTorch peer of `anvil pretrain`: the same GPT, data split, schedule and measurements, in eager PyTorch.

Takes the flags of `anvil pretrain` that define a recipe and prints, like Anvil, one JSON line last:
steps, final_val_loss, best_val_loss, tokens_per_s, train_seconds, params.

Definitions shared with Anvil (ai.anvil.train.Trainer):
  - char-level vocabulary: the sorted distinct characters of the corpus; split: first 90% / last 10% of ids
  - batches: random windows of block_size + 1 tokens, rows drawn independently
  - model: GPT-2 (pre-LN, learned positions, tied embeddings, tanh GELU MLP of 4x, biases), init N(0, 0.02),
    residual projections N(0, 0.02 / sqrt(2 n_layer))
  - AdamW (decoupled decay on 2-D tensors only), lr: linear warmup (s+1)/warmup then cosine to min_lr at
    max_steps; global-norm clipping
  - val loss: mean over eval_iters val batches drawn once and reused by every evaluation
  - tokens/s = batch x grad_accum x block x steps / training time, evaluation left out
"""
import argparse
import gzip
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
KJV = os.path.join(HERE, "..", "..", "runtime", "ai", "anvil", "data", "corpus", "kjv.txt.gz")


class Block(nn.Module):
    def __init__(self, c, n_head, bias):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c, bias=bias)
        self.c_attn = nn.Linear(c, 3 * c, bias=bias)
        self.attn_proj = nn.Linear(c, c, bias=bias)
        self.ln_2 = nn.LayerNorm(c, bias=bias)
        self.c_fc = nn.Linear(c, 4 * c, bias=bias)
        self.mlp_proj = nn.Linear(4 * c, c, bias=bias)
        self.n_head = n_head

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_proj(y.transpose(1, 2).contiguous().view(b, t, c))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, vocab, a):
        super().__init__()
        self.wte = nn.Embedding(vocab, a.n_embd)
        self.wpe = nn.Embedding(a.block_size, a.n_embd)
        self.drop = nn.Dropout(a.dropout)
        self.h = nn.ModuleList(Block(a.n_embd, a.n_head, a.bias) for _ in range(a.n_layer))
        self.ln_f = nn.LayerNorm(a.n_embd, bias=a.bias)
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * a.n_layer))

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, ids, targets, normalizer):
        t = ids.shape[1]
        x = self.drop(self.wte(ids) + self.wpe(torch.arange(t)))
        for block in self.h:
            x = block(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1), reduction="sum") / normalizer


def lr_at(s, a):
    lo = a.min_lr if a.min_lr is not None else a.lr / 10
    if s < a.warmup_steps:
        return a.lr * (s + 1) / a.warmup_steps
    if s >= a.max_steps:
        return lo
    progress = (s - a.warmup_steps) / max(1, a.max_steps - a.warmup_steps)
    return lo + (a.lr - lo) * 0.5 * (1 + math.cos(math.pi * progress))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default=KJV, help="UTF-8 text, or .gz (default: Anvil's embedded KJV)")
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--bias", type=lambda s: s.lower() == "true", default=True)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=None)
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--max-steps", type=int, default=2000)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.99)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--eval-iters", type=int, default=50)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args()

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    opener = gzip.open if a.corpus.endswith(".gz") else open
    with opener(a.corpus, "rt", encoding="utf-8", newline="") as f:
        text = f.read()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    cut = len(ids) * 9 // 10
    train, val = ids[:cut], ids[cut:]
    gen = torch.Generator().manual_seed(a.seed)

    def batch(data, rows):
        starts = torch.randint(len(data) - a.block_size - 1, (rows,), generator=gen)
        x = torch.stack([data[s:s + a.block_size] for s in starts])
        y = torch.stack([data[s + 1:s + 1 + a.block_size] for s in starts])
        return x, y

    eval_batches = [batch(val, a.batch_size) for _ in range(a.eval_iters)]
    model = Gpt(len(chars), a)
    params = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(a.beta1, a.beta2), eps=1e-8)

    def evaluate():
        model.eval()
        with torch.no_grad():
            total = sum(model(x, y, y.numel()).item() for x, y in eval_batches)
        model.train()
        return total / len(eval_batches)

    train_seconds, best, last = 0.0, float("inf"), float("nan")
    tokens_per_step = a.batch_size * a.grad_accum * a.block_size
    # Per-step wall and calling-thread CPU times: with one thread every kernel runs on this thread, so its
    # CPU time is the load-robust measure that ai.anvil.bench.StepBench reports for Anvil.
    step_ms, step_cpu_ms = [], []
    for step in range(a.max_steps):
        start = time.perf_counter()
        cpu_start = time.thread_time()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a)
        opt.zero_grad(set_to_none=True)
        micro = [batch(train, a.batch_size) for _ in range(a.grad_accum)]
        normalizer = sum(y.numel() for _, y in micro)
        loss_sum = 0.0
        for x, y in micro:
            loss = model(x, y, normalizer)
            loss.backward()
            loss_sum += loss.item()
        if a.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
        opt.step()
        step_cpu_ms.append((time.thread_time() - cpu_start) * 1e3)
        step_ms.append((time.perf_counter() - start) * 1e3)
        train_seconds += time.perf_counter() - start
        done = step + 1
        if done % a.eval_interval == 0 or done == a.max_steps:
            last = evaluate()
            best = min(best, last)
            if not a.quiet:
                print(f"step {done}: train loss {loss_sum:.4f} val loss {last:.4f} "
                      f"{tokens_per_step * done / train_seconds:.0f} tok/s", file=sys.stderr, flush=True)
    print(json.dumps({
        "steps": a.max_steps,
        "final_val_loss": last,
        "best_val_loss": best,
        "tokens_per_s": tokens_per_step * a.max_steps / train_seconds,
        "train_seconds": train_seconds,
        "params": params,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "step_ms_median": statistics.median(step_ms),
        "thread_cpu_ms_median": statistics.median(step_cpu_ms),
    }))


if __name__ == "__main__":
    main()
