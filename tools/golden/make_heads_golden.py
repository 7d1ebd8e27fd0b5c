#!/usr/bin/env python3
"""Golden task heads from Hugging Face transformers, for ai.anvil.models.heads.HeadsGoldenTest.

Run from the repository root with the local wheels (../shared/DATA.md):

    python3 -m venv /tmp/bert-venv
    /tmp/bert-venv/bin/pip install --no-index --find-links /opt/wheels --find-links /opt/pypi/files \
        torch==2.13.0+cpu transformers==5.18.0 safetensors numpy
    /tmp/bert-venv/bin/python tools/golden/make_heads_golden.py

It writes src/test/resources/golden/heads/:
  seq/  config.json + model.safetensors of a seeded BertForSequenceClassification (vocab 61, hidden 16,
        2 layers, 2 heads, intermediate 24, 16 positions, 3 labels named neg/pos/mixed, no dropout,
        init std 0.2), saved by save_pretrained
  tok/  the same for BertForTokenClassification (4 labels, no pooler)
  golden.safetensors   one right-padded batch (ids, mask; rows of lengths 9, 5, 2), labels, and from
        each model in float64: seq.logits (3, 3), seq.loss (mean cross-entropy), tok.logits (3, 9, 4),
        tok.loss (mean over real tokens, -100 on padding)

Checking that transformers loads what Anvil saved (offline, not in CI):

    /tmp/bert-venv/bin/python tools/golden/make_heads_golden.py --check DIR

where DIR is a folder HeadCheckpoint.save wrote for a BERT sequence classifier with pooling "pooler":
it must load with from_pretrained with no missing or unexpected keys and give the golden seq.logits
(HeadsGoldenTest's round trip of golden/heads/seq is such a folder).
"""
import argparse
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertForSequenceClassification, BertForTokenClassification

OUT = "src/test/resources/golden/heads"


def config(num_labels, labels):
    return BertConfig(vocab_size=61, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=24, max_position_embeddings=16, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0, initializer_range=0.2, num_labels=num_labels,
                      id2label={i: n for i, n in enumerate(labels)},
                      label2id={n: i for i, n in enumerate(labels)}, attn_implementation="eager")


def randomize_norms(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("LayerNorm.weight"):
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


def make():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20261127)
    torch.manual_seed(1)
    seq = BertForSequenceClassification(config(3, ["neg", "pos", "mixed"])).eval()
    torch.manual_seed(2)
    tok = BertForTokenClassification(config(4, ["O", "B", "I", "X"])).eval()
    randomize_norms(seq, gen)
    randomize_norms(tok, gen)
    seq.save_pretrained(os.path.join(OUT, "seq"))
    tok.save_pretrained(os.path.join(OUT, "tok"))

    lengths = [9, 5, 2]
    t = max(lengths)
    ids = torch.zeros(3, t, dtype=torch.long)
    mask = torch.zeros(3, t, dtype=torch.long)
    for r, n in enumerate(lengths):
        ids[r, :n] = torch.randint(1, 61, (n,), generator=gen)
        mask[r, :n] = 1
    seq_labels = torch.tensor([2, 0, 1])
    tok_labels = torch.randint(0, 4, (3, t), generator=gen)
    tok_labels[mask == 0] = -100

    out = {"ids": ids.int(), "mask": mask.int(), "seq.labels": seq_labels.int(), "tok.labels": tok_labels.int()}
    with torch.no_grad():
        for name, model, labels in (("seq", seq, seq_labels), ("tok", tok, tok_labels)):
            m = model.double()
            r = m(input_ids=ids, attention_mask=mask, labels=labels)
            out[name + ".logits"] = r.logits.float()
            out[name + ".loss"] = r.loss.float().reshape(1)
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(OUT, "golden.safetensors"))
    print("wrote", OUT)


def check(folder):
    model, info = BertForSequenceClassification.from_pretrained(folder, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if bad:
        sys.exit(f"{folder}: {bad}")
    from safetensors.torch import load_file
    g = load_file(os.path.join(OUT, "golden.safetensors"))
    with torch.no_grad():
        logits = model.double().eval()(input_ids=g["ids"].long(), attention_mask=g["mask"].long()).logits
    err = (logits.float() - g["seq.logits"]).abs().max().item()
    if err > 1e-5:
        sys.exit(f"{folder}: logits differ from the golden ones by {err}")
    print(folder, "loads as BertForSequenceClassification with labels", model.config.id2label,
          f"and gives the golden logits (max error {err:.1e})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--check")
    a = ap.parse_args()
    check(a.check) if a.check else make()
