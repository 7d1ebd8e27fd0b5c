#!/usr/bin/env python3
"""PEFT adapters both ways between Hugging Face PEFT and Anvil, on the tiny golden GPT-2.

The base is src/test/resources/golden/gpt2 (made by make_gpt2_llama_golden.py: GPT2LMHeadModel, 2 layers,
3 heads, 24 wide, 16 positions, vocabulary 83, random weights).

Make mode (default) writes PEFT-made adapters and what PEFT computes with them into <out>/<name>/:

  adapter_config.json, adapter_model.safetensors   as PeftModel.save_pretrained writes them
  expected.safetensors                             ids (int32, B x T) and logits (B x T x 83) of the
                                                   PeftModel, computed in float64 from the fp32 weights

for these adapters (every trainable tensor random, so nothing is hidden by PEFT's zero init of lora_B):
  lora          LoRA r=4, alpha=8 on c_attn and c_fc (GPT-2 Conv1D: fan_in_fan_out=True)
  lora_rslora   LoRA r=3, alpha=6, use_rslora=True, target_modules="all-linear"
  prompt        prompt tuning, 4 virtual tokens (PEFT puts them at positions 0..3; logits of the text only)
  prefix        prefix tuning, 3 virtual tokens, no projection (the text at positions 3..; every query sees
                the prefix)
PeftGoldenTest (src/test/java/ai/anvil/peft) loads each into Anvil and compares its logits: the PEFT -> Anvil
direction, checked in CI from the committed files.

Check mode (offline, after `mvn test -Dtest=PeftGoldenTest`): that test also writes Anvil-made adapters
(random values, Anvil's save) with Anvil's logits to <buildDir>/peft-roundtrip/<name>/ (adapter files +
anvil_logits.safetensors); this loads each with PeftModel.from_pretrained on the same base and checks that
PEFT's logits equal Anvil's: the Anvil -> PEFT direction.

  python check_peft_roundtrip.py [--out src/test/resources/golden/peft]
  python check_peft_roundtrip.py --check-anvil /tmp/peft-target/peft-roundtrip

Needs torch, transformers, peft and safetensors from the local wheels (../shared/DATA.md):
  python3.11 -m venv /tmp/peft-venv && /tmp/peft-venv/bin/pip install --no-index \
    --find-links /opt/wheels --find-links /opt/pypi/files --find-links /opt/pypi-more/files \
    'torch==2.13.0+cpu' transformers peft safetensors
"""
import argparse
import os
import sys

import torch
from peft import (LoraConfig, PeftModel, PrefixTuningConfig, PromptTuningConfig, TaskType, get_peft_model)
from safetensors.torch import load_file, save_file
from transformers import GPT2LMHeadModel

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = os.path.join(HERE, "..", "..", "src", "test", "resources", "golden", "gpt2")
VOCAB = 83
B, T = 2, 8


def base_model():
    model = GPT2LMHeadModel.from_pretrained(BASE, dtype=torch.float32)
    model.eval()
    return model


def ids_of(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (B, T), generator=g)


def text_logits(model, ids, virtual):
    """The logits of the text positions (PEFT's prompt tuning also returns the virtual tokens' rows)."""
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    return logits[:, -T:, :VOCAB]


def make(out):
    specs = {
        "lora": LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn", "c_fc"], fan_in_fan_out=True, lora_dropout=0.0,
                           task_type=TaskType.CAUSAL_LM),
        "lora_rslora": LoraConfig(r=3, lora_alpha=6, target_modules="all-linear", use_rslora=True, fan_in_fan_out=True,
                                  lora_dropout=0.0, task_type=TaskType.CAUSAL_LM),
        "prompt": PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=4),
        "prefix": PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=3),
    }
    for i, (name, config) in enumerate(specs.items()):
        torch.manual_seed(100 + i)
        model = get_peft_model(base_model(), config)
        g = torch.Generator().manual_seed(200 + i)
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if p.requires_grad:
                    p.copy_(torch.randn(p.shape, generator=g) * (0.2 if "lora" in pname else 0.5))
        model.eval()
        model.peft_config["default"].base_model_name_or_path = "src/test/resources/golden/gpt2"
        target = os.path.join(out, name)
        model.save_pretrained(target)
        os.remove(os.path.join(target, "README.md"))
        ids = ids_of(300 + i)
        # Reload what was saved (so the expected values belong to the files), then compute in float64.
        reloaded = PeftModel.from_pretrained(base_model(), target).to(torch.float64)
        logits = text_logits(reloaded, ids, name in ("prompt", "prefix")).to(torch.float32).contiguous()
        save_file({"ids": ids.to(torch.int32).contiguous(), "logits": logits}, os.path.join(target, "expected.safetensors"))
        print(f"{name}: {sorted(os.listdir(target))}")


def check_anvil(root):
    ok = True
    names = sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n)))
    if not names:
        print(f"nothing under {root}: run `mvn test -Dtest=PeftGoldenTest` first")
        return False
    for name in names:
        d = os.path.join(root, name)
        saved = load_file(os.path.join(d, "anvil_logits.safetensors"))
        ids, anvil = saved["ids"].to(torch.long), saved["logits"]
        model = PeftModel.from_pretrained(base_model(), d)
        model.eval()
        logits = text_logits(model, ids, True)
        err = (logits - anvil).abs().max().item() / anvil.abs().max().item()
        good = err < 1e-5
        ok &= good
        print(f"{name}: PEFT loads Anvil's adapter ({model.peft_config['default'].peft_type.value}); "
              f"logits differ from Anvil's by {err:.2e} of their max ({'ok' if good else 'FAIL'})")
    return ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(HERE, "..", "..", "src", "test", "resources", "golden", "peft"))
    parser.add_argument("--check-anvil", metavar="DIR", help="check Anvil's saved adapters under DIR instead")
    args = parser.parse_args()
    if args.check_anvil:
        sys.exit(0 if check_anvil(args.check_anvil) else 1)
    make(os.path.abspath(args.out))


if __name__ == "__main__":
    main()
