#!/usr/bin/env python3
"""Golden ids for ai.anvil.data.tokenizer.WordPieceTokenizer, made by Hugging Face `tokenizers`.

The tokenizer is BERT uncased (all-MiniLM-L6-v2's tokenizer.json, vocabulary 30,522), committed at
src/test/resources/tokenizers/bert-uncased/tokenizer.json; it comes from the Maven artifact
org.springframework.ai:spring-ai-transformers:1.1.2 (onnx/all-MiniLM-L6-v2/tokenizer.json):

    mvn dependency:copy -Dartifact=org.springframework.ai:spring-ai-transformers:1.1.2 -DoutputDirectory=/tmp/x
    unzip -p /tmp/x/spring-ai-transformers-1.1.2.jar onnx/all-MiniLM-L6-v2/tokenizer.json \
        > src/test/resources/tokenizers/bert-uncased/tokenizer.json

Run from the repository root with the local wheels (../shared/DATA.md):

    python3 -m venv /tmp/bert-venv
    /tmp/bert-venv/bin/pip install --no-index --find-links /opt/pypi/files tokenizers
    /tmp/bert-venv/bin/python tools/golden/make_wordpiece_golden.py

Writes src/test/resources/golden/wordpiece/bert-uncased.json: for each sample the ids with and without
[CLS]/[SEP], the tokens, HF's decode of the ids, and for pairs of samples the pair ids and type ids.
The file's padding (Fixed 128) and truncation (128) are switched off: Anvil's encode applies neither.
"""
import json
import os
import sys

import tokenizers
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKENIZER = os.path.join(ROOT, "src/test/resources/tokenizers/bert-uncased/tokenizer.json")
OUT = os.path.join(ROOT, "src/test/resources/golden/wordpiece/bert-uncased.json")

SAMPLES = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "Ünïcödé: naïve café, résumé, Crème Brûlée, ÅNGSTRÖM",
    "İstanbul'da ΟΔΟΣ σοφία Ωμέγα; Привет, мир! Ölçü ß ẞ",
    "東京タワーは日本の電波塔です。北京大学 中文字符𠀀𫤠",
    "안녕하세요 세계, こんにちは世界",
    "It's 1851; they'll say we've 3,000 whales, I'd think. DON'T! U.S.A. e-mail @home #tag $5.00 50% a+b=c <x> a^b `q` a|b ~",
    "punctuation…「quoted」 ‘single’ “double” — en–dash ¿qué? ¡sí! «guillemets» ·middot·",
    "symbols € £ ¥ © ® ™ ∑ ≠ ∞ ° ± × ÷ → ★ ♥",
    "emoji 🐋🐳 👩‍👩‍👧 👍🏽 😀 and flags 🇫🇷",
    "  leading spaces, trailing spaces   \n\n\ttabs\tand\r\nCRLF\u00a0nbsp\u2003emspace\u3000ideographic ",
    "control\u0000chars\u0007bell\u000bvt\u000cff\u001cfs\u0085nel\u200bzwsp\u00adshy\ufeffbom\ufffdrepl\ue000pua\u0378unassigned",
    "combining: e\u0301 a\u0308 n\u0303 precomposed: é ä ñ; Hangul jamo: \u1100\u1161\u11a8",
    "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "a" * 100,
    "b" * 101,
    "x" * 99 + "é",
    "unbelievably unhappiness tokenization preprocessing transformers embeddings",
    "numbers 12345678901234567890 3.14159 1e-12 0x7fff ①②③ Ⅻ ½ ²",
    "[CLS] special [SEP] tokens [MASK] in [PAD] the [UNK] text [mask] [Mask]x[MASK][MASK]",
    "ǅungla ﬁne ﬂower Ⅸ ＦＵＬＬＷＩＤＴＨ ｆｕｌｌ ｶﾀｶﾅ",
    "Ελληνικά: Σίσυφος ΣΊΣΥΦΟΣ; Türkçe: IĞDIR ılık; Deutsch: STRASSE Straße",
    "Arabic عربى، العربية; Hebrew עברית; Hindi हिन्दी; Thai ภาษาไทย",
    "\u0000\u0000",
    "",
    "   ",
    "a",
    ".",
    "don't do not can't won't I'm you're we've it's",
    "mixed😀text😀with😀emoji and café😀",
]

PAIRS = [(0, 1), (2, 3), (6, 19), (24, 0), (13, 4)]


def main():
    tok = Tokenizer.from_file(TOKENIZER)
    tok.no_padding()
    tok.no_truncation()
    cases = []
    for s in SAMPLES:
        with_special = tok.encode(s)
        plain = tok.encode(s, add_special_tokens=False)
        cases.append({
            "text": s,
            "ids": with_special.ids,
            "type_ids": with_special.type_ids,
            "ids_plain": plain.ids,
            "tokens": plain.tokens,
            "decoded": tok.decode(with_special.ids),
        })
    pairs = []
    for a, b in PAIRS:
        e = tok.encode(SAMPLES[a], SAMPLES[b])
        pairs.append({"a": a, "b": b, "ids": e.ids, "type_ids": e.type_ids})
    truncated = []
    for k, n in [(1, 6), (13, 5), (14, 3), (6, 40)]:
        tok.enable_truncation(max_length=n)
        truncated.append({"sample": k, "max_length": n, "ids": tok.encode(SAMPLES[k]).ids})
        tok.no_truncation()
    golden = {"tokenizers_version": tokenizers.__version__, "samples": cases, "pairs": pairs,
              "truncated": truncated}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=True, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} samples, {len(pairs)} pairs", file=sys.stderr)


if __name__ == "__main__":
    main()
