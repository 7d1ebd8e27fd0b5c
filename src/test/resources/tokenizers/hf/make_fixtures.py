"""Makes the Hugging Face tokenizer fixtures of BpeTokenizerHfTest with the `tokenizers` library.

    python3 -m venv /tmp/hfv && /tmp/hfv/bin/pip install --no-index --find-links /opt/pypi/files tokenizers==0.22.2
    cd src/test/resources/tokenizers/hf && /tmp/hfv/bin/python make_fixtures.py

Writes two small byte-level BPE vocabularies trained by HF on Moby Dick's first chapter (moby.txt):
gpt2-style.json (ByteLevel pre-tokenizer) and split-style.json (a Llama-3-like Split regex, then ByteLevel
without its regex), plus golden.json: HF's ids for SAMPLES under each.
"""
import json
from tokenizers import Tokenizer, Regex, models, pre_tokenizers, decoders, trainers

SAMPLES = [
    "Call me Ishmael. Some years ago—never mind how long precisely—",
    "It's 1851; they'll say we've 3,000 whales, I'd think. DON'T!",
    "  leading spaces, trailing spaces   \n\n\ttabs\tand\r\nCRLF",
    "Ünïcödé: naïve café, 東京タワー, 안녕하세요, Привет, عربى",
    "emoji 🐋🐳 👩‍👩‍👧 👍🏽 and symbols ∑ ≠ ∞",
    "special <|endoftext|>between<pad> tokens<|endoftext|>",
    "numbers 12345678901234567890 and ①②③ Ⅻ",
    "whale" * 20,
    "",
]

LLAMA3_LIKE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def train(pre, name):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train(["moby.txt"], trainer)
    tok.save(name)
    return tok


gpt2 = train(pre_tokenizers.ByteLevel(add_prefix_space=False), "gpt2-style.json")
split = train(pre_tokenizers.Sequence([
    pre_tokenizers.Split(Regex(LLAMA3_LIKE), behavior="isolated"),
    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]), "split-style.json")
golden = {"samples": SAMPLES,
          "gpt2-style.json": [gpt2.encode(s, add_special_tokens=False).ids for s in SAMPLES],
          "split-style.json": [split.encode(s, add_special_tokens=False).ids for s in SAMPLES]}
with open("golden.json", "w", encoding="utf-8") as f:
    json.dump(golden, f, ensure_ascii=False, indent=1)
