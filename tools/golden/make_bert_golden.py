#!/usr/bin/env python3
"""Golden state of a tiny BERT from Hugging Face transformers, for ai.anvil.models.bert.BertGoldenTest.

Run from the repository root with the local wheels (../shared/DATA.md):

    python3 -m venv /tmp/bert-venv
    /tmp/bert-venv/bin/pip install --no-index --find-links /opt/wheels --find-links /opt/pypi/files \
        torch==2.13.0+cpu transformers==5.18.0 safetensors numpy
    /tmp/bert-venv/bin/python tools/golden/make_bert_golden.py

It writes src/test/resources/golden/bert/:
  config.json, model.safetensors   a seeded BertForMaskedLM (vocab 101, hidden 32, 2 layers, 4 heads,
                                   intermediate 37, 24 positions, no dropout, init std 0.2 so attention
                                   is far from uniform) saved by save_pretrained,
                                   LayerNorms and biases randomized so that none is trivially 1 or 0
  golden.safetensors               one batch (3 rows of lengths 11, 7, 4, right-padded, two segments,
                                   masked-LM labels with -100 elsewhere) and, from that model:
                                   logits, loss, grad.<name> for every parameter, adamw_losses (the
                                   losses of 10 AdamW steps, before each step), the BertModel view of the
                                   same weights plus a seeded pooler (base.hidden, base.pooled,
                                   base.mean: sentence-transformers' masked mean) and pooler.dense.*

The reference runs in float64 (model.double() of the fp32 weights, eager attention) so the test
measures Anvil's fp32 error alone; the metadata records how far HF's own fp32 run is from it.

Checking that transformers loads what Anvil saved (offline, not in CI):

    mvn -o test -Dtest=BertGoldenTest -Danvil.golden.export=/tmp/anvil-bert
    /tmp/bert-venv/bin/python tools/golden/make_bert_golden.py --check /tmp/anvil-bert

/tmp/anvil-bert/mlm is the model after Anvil's 10 AdamW steps (BertForMaskedLM layout) and
/tmp/anvil-bert/base the BertModel view (bare names, pooler): each must load with from_pretrained with
no missing or unexpected keys, hold exactly the saved tensors, and give, for the mlm folder, HF's own
logits after HF's 10 steps, and for the base folder the golden hidden states and pooled output.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import transformers
from safetensors.numpy import load_file
from safetensors.torch import save_file
from transformers import BertConfig, BertForMaskedLM, BertModel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "src/test/resources/golden/bert")

LR, BETAS, EPS, WEIGHT_DECAY, STEPS = 3e-3, (0.9, 0.999), 1e-8, 0.01, 10
MASK_ID = 3


def config():
    return BertConfig(vocab_size=101, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=37, max_position_embeddings=24, type_vocab_size=2,
                      hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                      layer_norm_eps=1e-12, pad_token_id=0, initializer_range=0.2, attn_implementation="eager")


def batch():
    g = torch.Generator().manual_seed(7)
    lengths, t = [11, 7, 4], 11
    ids = torch.zeros(3, t, dtype=torch.long)
    types = torch.zeros(3, t, dtype=torch.long)
    mask = torch.zeros(3, t, dtype=torch.long)
    labels = torch.full((3, t), -100, dtype=torch.long)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(5, 101, (n,), generator=g)
        mask[b, :n] = 1
        types[b, n // 2:n] = 1                          # a second segment in every row
        for i in range(1, n):
            if torch.rand((), generator=g) < 0.35:
                labels[b, i] = ids[b, i]
                ids[b, i] = MASK_ID
        if (labels[b] == -100).all():
            labels[b, 1] = ids[b, 1]
            ids[b, 1] = MASK_ID
    return ids, types, mask, labels


def make_model():
    torch.manual_seed(1234)
    model = BertForMaskedLM(config())
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.02 * torch.randn_like(p))
    return model


def loss_of(model, inputs):
    ids, types, mask, labels = inputs
    out = model(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=labels)
    return out.logits, out.loss


def adamw(model):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": rest, "weight_decay": 0.0}],
                             lr=LR, betas=BETAS, eps=EPS)


def train(model, inputs):
    opt = adamw(model)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        _, loss = loss_of(model, inputs)
        loss.backward()
        losses.append(loss.item())
        opt.step()
    return losses


def base_view(mlm):
    """BertModel holding the MLM's encoder weights and a seeded pooler."""
    torch.manual_seed(99)
    base = BertModel(config())
    with torch.no_grad():
        base.pooler.dense.bias.copy_(0.02 * torch.randn_like(base.pooler.dense.bias))
    missing, unexpected = base.load_state_dict(
        {k[len("bert."):]: v for k, v in mlm.state_dict().items() if k.startswith("bert.")}, strict=False)
    assert missing == ["pooler.dense.weight", "pooler.dense.bias"] and not unexpected, (missing, unexpected)
    return base


def mean_pool(hidden, mask):
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)


def f32(t):
    return t.detach().to(torch.float32).contiguous()


def generate():
    os.makedirs(OUT, exist_ok=True)
    model = make_model()
    model.save_pretrained(OUT)
    inputs = batch()
    base32 = base_view(model)

    ref = BertForMaskedLM.from_pretrained(OUT).double()
    logits, loss = loss_of(ref, inputs)
    loss.backward()
    tensors = {"input_ids": inputs[0], "token_type_ids": inputs[1], "attention_mask": inputs[2], "labels": inputs[3],
               "logits": f32(logits), "loss": f32(loss.reshape(1))}
    for name, p in ref.named_parameters():
        tensors["grad." + name] = f32(p.grad)

    base = base_view(ref).double()
    with torch.no_grad():
        base.pooler.dense.weight.copy_(base32.pooler.dense.weight.double())
        base.pooler.dense.bias.copy_(base32.pooler.dense.bias.double())
        out = base(input_ids=inputs[0], token_type_ids=inputs[1], attention_mask=inputs[2])
    tensors["pooler.dense.weight"] = f32(base32.pooler.dense.weight)
    tensors["pooler.dense.bias"] = f32(base32.pooler.dense.bias)
    tensors["base.hidden"] = f32(out.last_hidden_state)
    tensors["base.pooled"] = f32(out.pooler_output)
    tensors["base.mean"] = f32(mean_pool(out.last_hidden_state, inputs[2]))

    # HF's own fp32 run, to record the size of plain fp32 error against the fp64 reference.
    hf32 = BertForMaskedLM.from_pretrained(OUT)
    logits32, loss32 = loss_of(hf32, inputs)
    loss32.backward()
    # key biases have an analytically zero gradient (softmax ignores a per-row constant): left out here.
    grad_err = max(((p32.grad.double() - p.grad).abs().max() / p.grad.abs().max()).item()
                   for (name, p), p32 in zip(ref.named_parameters(), hf32.parameters()) if not name.endswith("key.bias"))
    fp32_note = {"hf_fp32_logits_max_abs_err": float((logits32.detach().double() - logits.detach()).abs().max()),
                 "hf_fp32_loss_rel_err": float(abs(loss32.item() - loss.item()) / abs(loss.item())),
                 "hf_fp32_grad_max_err_over_max_abs": grad_err}

    ref64 = BertForMaskedLM.from_pretrained(OUT).double()
    losses = train(ref64, inputs)
    tensors["adamw_losses"] = torch.tensor(losses, dtype=torch.float32)
    hf32_losses = train(BertForMaskedLM.from_pretrained(OUT), inputs)
    fp32_note["hf_fp32_adamw_loss_max_rel_err"] = max(abs(a - b) / abs(b) for a, b in zip(hf32_losses, losses))
    with torch.no_grad():
        tensors["trained.logits"] = f32(loss_of(ref64, inputs)[0])

    meta = {"transformers": transformers.__version__, "torch": torch.__version__, "reference_dtype": "float64",
            "lr": str(LR), "beta1": str(BETAS[0]), "beta2": str(BETAS[1]), "eps": str(EPS),
            "weight_decay": str(WEIGHT_DECAY), "decay": "parameters with dim >= 2", "steps": str(STEPS),
            "fp32_note": json.dumps(fp32_note)}
    save_file(tensors, os.path.join(OUT, "golden.safetensors"), metadata=meta)
    print(f"wrote {OUT}: loss {loss.item():.6f}, adamw losses {[round(x, 5) for x in losses]}", file=sys.stderr)
    print(f"HF fp32 vs fp64: {fp32_note}", file=sys.stderr)


def check(export):
    """transformers loads what Anvil saved, and it computes what HF computes."""
    golden = load_file(os.path.join(OUT, "golden.safetensors"))
    inputs = [torch.from_numpy(golden[k]).long() for k in ("input_ids", "token_type_ids", "attention_mask", "labels")]
    worst = {}
    for sub, cls in (("mlm", BertForMaskedLM), ("base", BertModel)):
        path = os.path.join(export, sub)
        model, info = cls.from_pretrained(path, output_loading_info=True)
        bad = {k: v for k, v in info.items() if v}
        assert not bad, f"{path}: {bad}"
        saved = load_file(os.path.join(path, "model.safetensors"))
        state = model.state_dict()
        for name, value in saved.items():
            assert np.array_equal(state[name].numpy(), value), f"{path}: {name} differs after loading"
        model.eval()
        with torch.no_grad():
            if sub == "mlm":
                got = model(input_ids=inputs[0], token_type_ids=inputs[1], attention_mask=inputs[2]).logits
                want = torch.from_numpy(golden["trained.logits"])
                worst["mlm trained logits"] = float(((got - want).abs().max() / want.abs().max()))
            else:
                out = model(input_ids=inputs[0], token_type_ids=inputs[1], attention_mask=inputs[2])
                for key, got in (("base.hidden", out.last_hidden_state), ("base.pooled", out.pooler_output)):
                    want = torch.from_numpy(golden[key])
                    worst[key] = float(((got - want).abs().max() / want.abs().max()))
    print(f"transformers {transformers.__version__} loads {export}/mlm and {export}/base; "
          f"max error / max |value|: {worst}")
    limit = {"mlm trained logits": 1e-5, "base.hidden": 1e-5, "base.pooled": 1e-5}
    failed = {k: v for k, v in worst.items() if v > limit[k]}
    if failed:
        sys.exit(f"FAILED: {failed} (limits {limit})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", metavar="DIR", help="check the folders Anvil exported into DIR instead of generating")
    args = parser.parse_args()
    if args.check:
        check(args.check)
    else:
        generate()
