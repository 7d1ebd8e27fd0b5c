"""GPT-2 small (124M) in PyTorch as nanoGPT writes it, the peer of Anvil's GPT-2 on the GPU: tied
embeddings, the vocabulary padded to 50304, tanh GELU, SDPA attention, and an optional per-layer KV cache
for decoding. Used by gpt2_train.py (training and decoding) and peers.py (one step beside the kernels)."""

import torch
import torch.nn.functional as F

C, H, L, V, VP = 768, 12, 12, 50257, 50304


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.ln_2 = torch.nn.LayerNorm(C), torch.nn.LayerNorm(C)
        self.c_attn, self.c_proj = torch.nn.Linear(C, 3 * C), torch.nn.Linear(C, C)
        self.c_fc, self.mlp_proj = torch.nn.Linear(C, 4 * C), torch.nn.Linear(4 * C, C)

    def forward(self, x, cache=None):
        b, t, _ = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (z.view(b, t, H, C // H).transpose(1, 2) for z in (q, k, v))
        if cache is not None:  # decoding: append this step's keys and values
            if cache[0] is not None:
                k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
            cache[0], cache[1] = k, v
        causal = cache is None or t > 1
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal).transpose(1, 2).reshape(b, t, C)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt2(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = torch.nn.Embedding(VP, C), torch.nn.Embedding(1024, C)
        self.h = torch.nn.ModuleList(Block() for _ in range(L))
        self.ln_f = torch.nn.LayerNorm(C)

    def hidden(self, ids, start=0, caches=None):
        """The final hidden states of ids at positions start.. (caches: one [k, v] list per layer, or None)."""
        pos = torch.arange(start, start + ids.shape[1], device=ids.device)
        x = self.wte(ids) + self.wpe(pos)
        for i, block in enumerate(self.h):
            x = block(x, None if caches is None else caches[i])
        return self.ln_f(x)

    def forward(self, ids, targets):
        logits = F.linear(self.hidden(ids), self.wte.weight)
        return F.cross_entropy(logits.view(-1, VP).float(), targets.view(-1))
