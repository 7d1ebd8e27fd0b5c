#!/usr/bin/env python3
"""Golden files for GPT-2 and Llama conformance, made with transformers (the reference framework).

For each of a tiny GPT-2 (GPT2LMHeadModel, tied head) and a tiny Llama (LlamaForCausalLM: grouped-query
attention with 4 query and 2 key/value heads, rope_theta 1000, untied head), both with a vocabulary of 83
that Anvil pads to 128 inside, it writes into <out>/<model>/:

  config.json, model.safetensors   the fp32 model as save_pretrained writes it (HF layout: GPT-2's Conv1D
                                   weights are (in, out))
  golden.safetensors               ids, targets (int32, B x T; target -1 is ignored), the logits, and
                                   grad.<name> for every parameter (HF names and layouts), for one batch;
                                   greedy_prompt, greedy_tokens, greedy_logits: 6 greedy steps from a
                                   5-token prompt (the logits of each step's last position)
  golden.json                      loss, the losses of 10 AdamW steps (11 values: before each update and
                                   after the last), the AdamW hyper-parameters, and the error of the same
                                   computation done by torch in fp32 (the yardstick for Anvil's fp32)

Every parameter gets random values (HF's init leaves biases at 0 and norm weights at 1, which would hide a
wrong bias or norm path). The golden numbers are computed in float64 from the fp32 weights, so they are
the exact math of the model up to the final rounding; two places where transformers itself computes in
fp32 whatever the model dtype are kept as transformers has them or aligned:
  - Llama's rotary angles are formed in fp32 (LlamaRotaryEmbedding casts to float): kept, and Anvil forms
    its angles the same way (native/cpu/rope.cpp);
  - LlamaRMSNorm upcasts to float32 and eager attention runs softmax in float32: for the float64 run the
    norm is computed in float64 and attention uses SDPA, so no fp32 rounding enters the golden values.

The loss is mean cross-entropy over the non-ignored targets of the batch (Anvil: sum / count):
targets are given explicitly (no internal shift). AdamW is torch.optim.AdamW with the hyper-parameters in
ADAMW below, weight decay on parameters of rank >= 2 only (two param groups), as Anvil's AdamW decays
Parameter.decay() (rank >= 2 by default); constant learning rate, no clipping.

Check mode (offline, after `mvn test -Dtest='Gpt2GoldenTest,LlamaGoldenTest'`): those tests write what Anvil
saves into <buildDir>/golden-roundtrip/<model>/{initial,trained}/; this loads each with
AutoModelForCausalLM.from_pretrained and checks that `initial` holds exactly the golden weights (so GPT-2's
Conv1D transposition and the vocabulary padding round-trip) and that transformers' loss of the `trained`
model on the golden batch equals the loss Anvil recorded for it.

  python make_gpt2_llama_golden.py [--out src/test/resources/golden]
  python make_gpt2_llama_golden.py --check-anvil /tmp/anvil-target/golden-roundtrip

Needs torch, transformers and safetensors from the local wheels (../shared/DATA.md):
  python3.11 -m venv /tmp/golden-venv && /tmp/golden-venv/bin/pip install --no-index \
    --find-links /opt/wheels --find-links /opt/pypi/files --find-links /opt/pypi-more/files \
    'torch==2.13.0+cpu' 'transformers==5.18.0' safetensors numpy
"""
import argparse
import copy
import json
import math
import os
import shutil
import sys

import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import load_file, save_file
from transformers import (AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM)
from transformers.models.llama import modeling_llama

IGNORE = -1
VOCAB = 83
ADAMW = {"lr": 1e-2, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1, "steps": 10}
GREEDY_PROMPT = 5
GREEDY_STEPS = 6


def gpt2_model():
    config = GPT2Config(vocab_size=VOCAB, n_positions=16, n_embd=24, n_layer=2, n_head=3, n_inner=None,
                        activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        layer_norm_epsilon=1e-5, tie_word_embeddings=True, bos_token_id=VOCAB - 1,
                        eos_token_id=VOCAB - 1)
    return GPT2LMHeadModel(config), (2, 11)


def llama_model():
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=24, intermediate_size=40, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=6, max_position_embeddings=32,
                         rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 1000.0},
                         tie_word_embeddings=False, attention_bias=False, mlp_bias=False, bos_token_id=1,
                         eos_token_id=2, pad_token_id=None)
    return LlamaForCausalLM(config), (2, 13)


MODELS = {"gpt2": gpt2_model, "llama": llama_model}


def randomize(model, seed):
    """Every parameter random: weights N(0, 0.2), norm weights 1 + N(0, 0.1), biases N(0, 0.1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if p.dim() >= 2:
                p.copy_(0.2 * noise)
            elif "ln" in name or "norm" in name:
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(0.1 * noise)


def rms_norm_in_input_dtype(self, hidden_states):
    """LlamaRMSNorm without its float32 upcast, for the float64 run."""
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


def batch(seed, b, t):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (b, t), generator=g)
    targets = torch.cat([ids[:, 1:], torch.randint(0, VOCAB, (b, 1), generator=g)], dim=1)
    targets[0, 3] = IGNORE
    targets[b - 1, t - 2] = IGNORE
    return ids, targets


def loss_of(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)


def adamw(model):
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": ADAMW["weight_decay"]},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=ADAMW["lr"], betas=tuple(ADAMW["betas"]), eps=ADAMW["eps"], foreach=False)


def run(model, ids, targets):
    """logits, loss, grads (by name) of one batch; then 11 losses around 10 AdamW steps (model changes)."""
    model.zero_grad(set_to_none=True)
    logits = model(ids).logits
    loss = loss_of(logits, targets)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    optimizer = adamw(model)
    losses = []
    for _ in range(ADAMW["steps"]):
        optimizer.zero_grad(set_to_none=True)
        step_loss = loss_of(model(ids).logits, targets)
        losses.append(step_loss.item())
        step_loss.backward()
        optimizer.step()
    with torch.no_grad():
        losses.append(loss_of(model(ids).logits, targets).item())
    return logits.detach(), loss.item(), grads, losses


def greedy(model, prompt):
    """GREEDY_STEPS argmax steps by recomputation; the tokens and each step's last-position logits."""
    seq = prompt.clone()
    tokens, rows = [], []
    with torch.no_grad():
        for _ in range(GREEDY_STEPS):
            last = model(seq).logits[:, -1, :]
            nxt = int(torch.argmax(last[0]))
            tokens.append(nxt)
            rows.append(last[0])
            seq = torch.cat([seq, torch.tensor([[nxt]])], dim=1)
    return tokens, torch.stack(rows)


def max_rel(a, b):
    """max |a - b| / max |b| over a tensor (normwise relative error)."""
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def make(name, out_root, seed):
    torch.manual_seed(seed)
    model32, (b, t) = MODELS[name]()
    randomize(model32, seed)
    model32.eval()
    if name == "gpt2":
        model32.set_attn_implementation("eager")
    model64 = copy.deepcopy(model32).double()
    if name == "llama":
        model64.set_attn_implementation("sdpa")
    ids, targets = batch(seed + 1, b, t)

    out = os.path.join(out_root, name)
    os.makedirs(out, exist_ok=True)
    tmp = os.path.join(out, "_save")
    model32.save_pretrained(tmp)
    for f in ("config.json", "model.safetensors"):
        shutil.move(os.path.join(tmp, f), os.path.join(out, f))
    shutil.rmtree(tmp)

    norm_forward = modeling_llama.LlamaRMSNorm.forward
    modeling_llama.LlamaRMSNorm.forward = rms_norm_in_input_dtype
    try:
        greedy_tokens, greedy_logits = greedy(model64, ids[:1, :GREEDY_PROMPT])
        logits, loss, grads, losses = run(model64, ids, targets)
    finally:
        modeling_llama.LlamaRMSNorm.forward = norm_forward
    logits32, loss32, grads32, losses32 = run(model32, ids, targets)

    tensors = {"ids": ids.to(torch.int32), "targets": targets.to(torch.int32), "logits": logits.float(),
               "greedy_prompt": ids[0, :GREEDY_PROMPT].to(torch.int32),
               "greedy_tokens": torch.tensor(greedy_tokens, dtype=torch.int32),
               "greedy_logits": greedy_logits.float()}
    for n, g in grads.items():
        tensors["grad." + n] = g.float().contiguous()
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out, "golden.safetensors"),
              metadata={"format": "pt"})
    yardstick = {"logits": max_rel(logits32, logits), "loss": abs(loss32 - loss) / abs(loss),
                 "grads": max(max_rel(grads32[n], grads[n]) for n in grads),
                 "losses": max(abs(x - y) / abs(y) for x, y in zip(losses32, losses))}
    meta = {"model": name, "loss": loss, "losses": losses, "ignore_index": IGNORE, "adamw": ADAMW,
            "adamw_decay": "parameters of rank >= 2", "seed": seed, "torch": torch.__version__,
            "transformers": transformers.__version__,
            "torch_fp32_max_relative_error": yardstick,
            "note": "golden values computed in float64 from the fp32 weights; errors are max|a-b|/max|b| per tensor"}
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    sizes = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"{name}: loss {loss:.9f}, 10 AdamW steps -> {losses[-1]:.9f}; torch fp32 vs fp64: "
          + ", ".join(f"{k} {v:.1e}" for k, v in yardstick.items()) + f"; {sizes / 1024:.0f} KiB")


def check_anvil(root, golden_root):
    failures = 0
    for name in MODELS:
        golden = os.path.join(golden_root, name)
        initial, trained = os.path.join(root, name, "initial"), os.path.join(root, name, "trained")
        if not os.path.isdir(initial):
            print(f"{name}: {initial} missing (run the Java golden tests first)")
            failures += 1
            continue
        expected = load_file(os.path.join(golden, "model.safetensors"))
        model, info = AutoModelForCausalLM.from_pretrained(initial, output_loading_info=True)
        problems = {k: v for k, v in info.items() if v and k != "missing_keys"}
        missing = [k for k in info.get("missing_keys", []) if k != "lm_head.weight"]
        state = model.state_dict()
        worst = max(float((state[k].float() - v.float()).abs().max()) for k, v in expected.items())
        ok = not problems and not missing and worst == 0.0
        print(f"{name}: transformers loads Anvil's save of the golden weights: max |difference| {worst:g}"
              + (f", loading problems {problems} {missing}" if problems or missing else "") + (" OK" if ok else " FAIL"))
        failures += 0 if ok else 1

        with open(os.path.join(trained, "anvil.json")) as f:
            anvil = json.load(f)
        tensors = load_file(os.path.join(golden, "golden.safetensors"))
        model = AutoModelForCausalLM.from_pretrained(trained).double().eval()
        if name == "llama":
            model.set_attn_implementation("sdpa")
        with torch.no_grad():
            loss = loss_of(model(tensors["ids"].long()).logits, tensors["targets"].long()).item()
        rel = abs(loss - anvil["loss"]) / abs(loss)
        ok = rel <= 1e-5
        print(f"{name}: transformers' loss of Anvil's trained checkpoint {loss:.9f}, Anvil's {anvil['loss']:.9f}, "
              f"relative difference {rel:.1e}" + (" OK" if ok else " FAIL"))
        failures += 0 if ok else 1
    return failures


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.normpath(os.path.join(here, "..", "..", "src", "test", "resources", "golden"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=default_out, help="golden folder (default: %(default)s)")
    parser.add_argument("--check-anvil", metavar="DIR", help="check Anvil's saved checkpoints under DIR instead")
    args = parser.parse_args()
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    if args.check_anvil:
        sys.exit(1 if check_anvil(args.check_anvil, args.out) else 0)
    for i, name in enumerate(MODELS):
        make(name, args.out, 1000 + 100 * i)


if __name__ == "__main__":
    main()
