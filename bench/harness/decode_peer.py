#!/usr/bin/env python3
"""PyTorch peer of ai.anvil.bench.DecodeBench: greedy decoding with a KV cache, batch 1.

The same GPT-2 (pre-LN, learned positions, tied embeddings, tanh GELU MLP of 4x, biases, vocabulary padded
to a multiple of 64) and the same measurement: a one-token prompt, then greedy tokens to the end of the
context, timed end to end (prefill, every step, argmax over the real vocabulary and the copy of the token
to the host included). The cache is preallocated per layer, (1, heads, context, head_dim) for K and V,
written in place each step: PyTorch's fastest plain-eager form (no torch.cat per step).

Prints one JSON line per vocabulary, like DecodeBench:
  {"bench": "decode_peer", ..., "tokens_per_s_mean": ..., "tokens_per_s_best": ...}
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, c, n_head):
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(c)
        self.c_attn = nn.Linear(c, 3 * c)
        self.attn_proj = nn.Linear(c, c)
        self.ln_2 = nn.LayerNorm(c)
        self.c_fc = nn.Linear(c, 4 * c)
        self.mlp_proj = nn.Linear(4 * c, c)

    def forward(self, x, k_cache, v_cache, pos):
        # x (1, T, C); caches (1, H, Tmax, D); positions [pos, pos + T)
        b, t, c = x.shape
        h, d = self.n_head, c // self.n_head
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q = q.view(b, t, h, d).transpose(1, 2)
        k_cache[:, :, pos:pos + t] = k.view(b, t, h, d).transpose(1, 2)
        v_cache[:, :, pos:pos + t] = v.view(b, t, h, d).transpose(1, 2)
        keys, values = k_cache[:, :, :pos + t], v_cache[:, :, :pos + t]
        att = (q @ keys.transpose(-2, -1)) * (1.0 / math.sqrt(d))
        if t > 1:  # causal, bottom-right aligned
            mask = torch.ones(t, pos + t, dtype=torch.bool).tril(diagonal=pos)
            att = att.masked_fill(~mask, float("-inf"))
        y = (F.softmax(att, dim=-1) @ values).transpose(1, 2).contiguous().view(b, t, c)
        x = x + self.attn_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, n_layer, n_head, c, block, vocab):
        super().__init__()
        self.vocab = vocab
        padded = (vocab + 63) // 64 * 64
        self.wte = nn.Embedding(padded, c)
        self.wpe = nn.Embedding(block, c)
        self.h = nn.ModuleList([Block(c, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(c)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward_last(self, ids, caches, pos):
        t = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(pos, pos + t))
        for block, (k, v) in zip(self.h, caches):
            x = block(x, k, v, pos)
        return F.linear(self.ln_f(x[:, -1:]), self.wte.weight)[0, -1, :self.vocab]


def run(args, vocab):
    torch.manual_seed(1)
    model = GPT(args.layers, args.heads, args.width, args.context, vocab).eval()
    d = args.width // args.heads
    n = args.context - 1

    def generate():
        caches = [(torch.zeros(1, args.heads, args.context, d), torch.zeros(1, args.heads, args.context, d))
                  for _ in range(args.layers)]
        start = time.perf_counter()
        ids = torch.zeros(1, 1, dtype=torch.long)
        pos = 0
        for _ in range(n):
            logits = model.forward_last(ids, caches, pos)
            pos += ids.shape[1]
            nxt = int(torch.argmax(logits))
            ids = torch.tensor([[nxt]])
        return n / (time.perf_counter() - start)

    with torch.inference_mode():
        generate()  # warm-up
        rates = [generate() for _ in range(args.reps)]
    print(json.dumps({"bench": "decode_peer", "torch": torch.__version__, "layers": args.layers, "heads": args.heads,
                      "width": args.width, "context": args.context, "vocab": vocab,
                      "threads": torch.get_num_threads(), "tokens": n,
                      "tokens_per_s_mean": round(sum(rates) / len(rates), 1),
                      "tokens_per_s_best": round(max(rates), 1)}), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--vocab", type=int, default=0, help="one vocabulary (default: 65 and 50257)")
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--width", type=int, default=384)
    p.add_argument("--context", type=int, default=256)
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    for vocab in ([args.vocab] if args.vocab else [65, 50257]):
        run(args, vocab)


if __name__ == "__main__":
    main()
