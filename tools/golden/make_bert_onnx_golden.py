#!/usr/bin/env python3
"""A tiny ONNX export of BertModel and ONNX Runtime's outputs, for ai.anvil.models.bert.BertOnnxImportTest.

The encoder of golden/bert (make_bert_golden.py) is exported with torch.onnx's TorchScript exporter
(dynamo=False), as the all-MiniLM-L6-v2 file was made: Linear weights become `onnx::MatMul_*`
initializers stored (in, out), the rest keep their HF names. transformers 5 only exports through a
wrapper module, so the names carry its prefix (`m.embeddings...`, node `/m/encoder/...`), which the
importer must strip. Run from the repository root (after make_bert_golden.py):

    /tmp/bert-venv/bin/pip install --no-index --find-links /opt/pypi/files onnx onnxruntime onnxscript
    /tmp/bert-venv/bin/python tools/golden/make_bert_onnx_golden.py

Writes src/test/resources/golden/bert-onnx/model.onnx (about 120 KB) and outputs.safetensors: a
right-padded batch (input_ids, token_type_ids, attention_mask), ONNX Runtime's last_hidden_state for it
(CPU provider, fp32) and transformers' float64 last_hidden_state of the same weights.
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime
import torch
from safetensors.numpy import save_file
from transformers import BertModel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "src/test/resources/golden/bert")
OUT = os.path.join(ROOT, "src/test/resources/golden/bert-onnx")


class Wrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.m = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state


def main():
    os.makedirs(OUT, exist_ok=True)
    model = BertModel.from_pretrained(SRC, add_pooling_layer=False, attn_implementation="eager").eval()
    ids = torch.ones(2, 5, dtype=torch.long)
    path = os.path.join(OUT, "model.onnx")
    dynamic = {k: {0: "b", 1: "t"} for k in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")}
    torch.onnx.export(Wrapper(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)), path,
                      input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
                      dynamic_axes=dynamic, opset_version=14, dynamo=False)
    onnx.checker.check_model(onnx.load(path))

    g = torch.Generator().manual_seed(3)
    lengths, t = [9, 6, 2], 9
    input_ids = torch.zeros(3, t, dtype=torch.long)
    types = torch.zeros(3, t, dtype=torch.long)
    mask = torch.zeros(3, t, dtype=torch.long)
    for b, n in enumerate(lengths):
        input_ids[b, :n] = torch.randint(1, 101, (n,), generator=g)
        types[b, n // 2:n] = 1
        mask[b, :n] = 1
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    ort = session.run(None, {"input_ids": input_ids.numpy(), "attention_mask": mask.numpy(),
                             "token_type_ids": types.numpy()})[0]
    with torch.no_grad():
        ref = model.double()(input_ids=input_ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    print(f"ORT vs transformers fp64: max abs {np.abs(ort - ref.numpy()).max():.3e}", file=sys.stderr)
    save_file({"input_ids": input_ids.numpy(), "token_type_ids": types.numpy(), "attention_mask": mask.numpy(),
               "ort.last_hidden_state": ort.astype(np.float32),
               "hf64.last_hidden_state": ref.numpy().astype(np.float32)},
              os.path.join(OUT, "outputs.safetensors"),
              metadata={"onnxruntime": onnxruntime.__version__, "torch": torch.__version__})
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
