#!/usr/bin/env python3
"""Golden cases for ai.anvil.metrics, made by the reference tools.

What it writes (src/test/resources/golden/metrics/, all JSON, ASCII-escaped):
  tokenize_13a.json    sacreBLEU's 13a tokenizer: input line -> tokenized line
  bleu.json            sacreBLEU corpus BLEU (defaults, some lowercase, multiple and
                       variable numbers of references) and sentence BLEU
                       (effective order, as sacrebleu.sentence_bleu does)
  rouge.json           ROUGE-1/2/L precision/recall/F with rouge-score's defaults and
                       with use_stemmer=True, multi-reference (score_multi) and corpus
                       means; plus NLTK Porter stems (the stemmer rouge-score uses)
  classification.json  scikit-learn accuracy_score and precision_recall_fscore_support
                       (binary/macro/micro/weighted/per-class, zero_division=0), and the
                       inputs sklearn refuses
  distinct.json        distinct-1/2 over whitespace tokens and over token ids
  perplexity.json      token-weighted perplexity from (nll_sum, token_count) pairs

Reference implementations:
  * BLEU: sacrebleu (the wheel's version is recorded in bleu.json).
  * P/R/F1, accuracy: scikit-learn (version recorded).
  * ROUGE: rouge-score is not among the local wheels, so this script implements
    rouge-score's published definition (google-research/rouge, rouge_scorer.py and
    tokenize.py): lower-case, [^a-z0-9]+ -> space, split on whitespace, Porter-stem
    tokens longer than 3 characters when asked (nltk.stem.porter.PorterStemmer(), its
    default NLTK_EXTENSIONS mode, exactly as rouge-score constructs it), keep tokens
    matching ^[a-z0-9]+$; n-gram overlap with clipped counts, LCS by dynamic
    programming, F = 2PR/(P+R) (0 when P+R == 0); score_multi keeps, per ROUGE type,
    the first reference with the highest F.
  * distinct-n and perplexity have no reference package; they are written out below
    from their definitions (distinct-n: unique n-grams / total n-grams over the corpus,
    n-grams never cross examples, 0 when there are none; perplexity: exp(sum nll /
    sum tokens)).

Rerun (deterministic: one seeded random.Random; same wheels give byte-identical files):
  python3 -m venv /tmp/goldenv
  /tmp/goldenv/bin/pip install --no-index --find-links /opt/pypi/files \
      --find-links /opt/pypi-more/files --find-links /opt/wheels sacrebleu scikit-learn nltk
  /tmp/goldenv/bin/python tools/golden/make_metrics_golden.py
(The wheel folders are the ones `find / -name 'torch-2*.whl'` shows, see ../shared/DATA.md.)
The Java side is src/test/java/ai/anvil/metrics/*GoldenTest.java, matched to 4 decimals.
"""

import json
import math
import os
import random
import re
import sys
import warnings
from collections import Counter

import sacrebleu
import sklearn
from nltk.stem import porter
from sacrebleu.metrics import BLEU
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

SEED = 20261111
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                   "src", "test", "resources", "golden", "metrics")

rng = random.Random(SEED)

# ---------------------------------------------------------------- text material

WORDS = """the a an of to and in is was for on that with as by at from it this be are
were he she they we you i his her their our not or but which one all would there
what so up out if about who get go me when make can like time no just him know take
people into year your good some could them see other than then now look only come
its over think also back after use two how work first well way even new want because
any these give day most us cat dog house river bank money light running runs ran
relational conditional rational valenci hesitanci digitizer conformabli radicalli
differentli vileli analogousli vietnamization predication operator feudalism
decisiveness hopefulness callousness formaliti sensitiviti sensibiliti triplicate
formative formalize electriciti electrical hopeful goodness revival allowance
inference airliner gyroscopic adjustable defensible irritant replacement adjustment
dependent adoption homologou communism activate angulariti homologous effective
bowdlerize probate rate cease controll roll caresses ponies ties caress cats feed
agreed plastered bled motoring sing conflated troubled sized hopping tanned falling
hissing fizzed failing filing happy sky skies dying lying tying news innings outings
cannings howe proceed exceed succeed flies dies spied died enjoy generously
generalization oscillators archaeology geology theology philology beautifully
carefully quickly studies studying studied agreement arguing argued""".split()
CASED = ["The", "NASA", "iPhone", "Paris", "McDonald's", "UNESCO", "Hello", "World",
         "THE", "Running", "A", "I", "OK"]
NUMBERS = ["3", "42", "3.14", "1,000", "2-3", "10.5%", "$5", "1990s", "0", "7th",
           "12:30", "-4", "1.", ",5", "2,", "99.9", "3-", "4.5.6", "1,2,3"]
PUNCT = [".", ",", "!", "?", ";", ":", "'", '"', "(", ")", "-", "--", "...", "&",
         "&amp;", "&quot;", "&lt;", "&gt;", "&#39;", "<skipped>", "/", "@", "#", "{", "}",
         "[", "]", "`", "~", "^", "_", "|", "\\", "*", "+", "=", "<", ">", "%", "$"]
UNICODE = ["caf\u00e9", "na\u00efve", "Z\u00fcrich", "\u65e5\u672c\u8a9e", "\u4e2d\u6587",
           "\u041f\u0440\u0438\u0432\u0435\u0442", "\u0645\u0631\u062d\u0628\u0627",
           "\U0001f642", "\U0001f44d\U0001f3fd", "\ufb01ne", "\u0130stanbul",
           "stra\u00dfe", "\u03a9mega", "\u212a", "\u00bd", "\u00e9t\u00e9",
           "\u00c9COLE", "\u2014", "\u2026", "\u201cquoted\u201d", "\u00bfqu\u00e9?",
           "x\u0301", "\u0391\u0398\u0397\u039d\u0391", "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3",
           "\u03a3", "A\u03a3'", "\u03a3\u0391\u03a3."]
ATTACHED = ["end.", "word,", "a.b", "U.S.", "e.g.", "don't", "it's", "mother-in-law",
            "co-operate", "(parens)", "\"quote\"", "x,y", "3.5.", "hi!", "yes?", "a/b",
            "x=y", "tag<b>", "semi;colon", "a--b", "50-50", "v2.0", "end..."]
# Python's str.isspace() set and some look-alikes that are not whitespace (U+200B).
SEPARATORS = [" "] * 40 + ["  ", "\t", "\u00a0", "\u3000", "\u2028", "\x1c", "\x85",
                           "\u2009", "\u200b", " \n ", "-\n", "\r\n", "\x0b", "\x0c"]


def token():
    r = rng.random()
    if r < 0.62:
        return rng.choice(WORDS)
    if r < 0.70:
        return rng.choice(CASED)
    if r < 0.78:
        return rng.choice(NUMBERS)
    if r < 0.88:
        return rng.choice(PUNCT)
    if r < 0.94:
        return rng.choice(ATTACHED)
    return rng.choice(UNICODE)


def sentence(n, fancy_sep=0.1):
    out = []
    for i in range(n):
        if i:
            out.append(rng.choice(SEPARATORS) if rng.random() < fancy_sep else " ")
        out.append(token())
    return "".join(out)


def perturb(s, strength):
    """A hypothesis near a reference: drops, swaps, substitutions and insertions."""
    toks = s.split(" ")
    out = []
    for t in toks:
        r = rng.random()
        if r < strength * 0.3:
            continue
        if r < strength * 0.6:
            out.append(token())
        else:
            out.append(t)
        if rng.random() < strength * 0.2:
            out.append(token())
    if len(out) > 1 and rng.random() < strength:
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    if rng.random() < 0.1:
        out = [t.upper() if rng.random() < 0.5 else t for t in out]
    return " ".join(out)


def hypothesis_for(ref):
    r = rng.random()
    if r < 0.06:
        return ""
    if r < 0.12:
        return ref
    if r < 0.18:
        return sentence(rng.randint(1, 12))
    if r < 0.22:
        return ref + rng.choice(["", " ", "  ", "\t", "\u00a0", " \u3000"])
    return perturb(ref, rng.choice([0.1, 0.3, 0.5, 0.8]))


# ---------------------------------------------------------------- 13a tokenizer

def make_tokenize():
    tok = Tokenizer13a()
    fixed = ["", " ", "Hello, world!", "3.14 and 1,000 and 2-3", "a.b,c", "x.5 5.x",
             "U.S.A.", "e.g., i.e.", "&amp; &quot;x&quot; &lt;tag&gt;", "a <skipped> b",
             "line-\nbreak", "two\nlines", "tab\there", "nbsp\u00a0here", "\u3000ideo\u3000",
             "{}[]()`~^_|\\/@#$%&*+=<>:;", "\u00bfqu\u00e9?", "1990s-era", "5-", "-5", "a-b",
             "3,5.7", ".,.,", "1.2.3.4", "end .", "emoji\U0001f642.", "\u2028sep\x85x\x1cy",
             "zero\u200bwidth", "'quotes' \"double\"", "trailing   ", "..."]
    cases = [{"in": s, "out": tok(s.rstrip())} for s in fixed]
    while len(cases) < 160:
        s = sentence(rng.randint(1, 14), fancy_sep=0.3)
        cases.append({"in": s, "out": tok(s.rstrip())})
    return cases


# ---------------------------------------------------------------- BLEU

def bleu_corpus_case(kind):
    n_seg = rng.randint(1, 6)
    n_refs = rng.choice([1, 1, 1, 2, 3])
    lowercase = rng.random() < 0.15
    refs_by_seg = []
    hyps = []
    for _ in range(n_seg):
        base = sentence(rng.randint(0 if kind == "edge" else 1, 15))
        seg_refs = [base] + [perturb(base, 0.4) for _ in range(n_refs - 1)]
        if n_refs > 1 and rng.random() < 0.15:
            seg_refs[rng.randrange(1, n_refs)] = None  # variable number of references
        refs_by_seg.append(seg_refs)
        hyps.append(hypothesis_for(base))
    if kind == "edge":
        choice = rng.randrange(6)
        if choice == 0:
            hyps = ["" for _ in hyps]
        elif choice == 1:
            hyps = [r[0] for r in refs_by_seg]
        elif choice == 2:
            hyps = ["zzz qqq" for _ in hyps]
        elif choice == 3:
            hyps = [" ".join(r[0].split()[:2]) for r in refs_by_seg]
        elif choice == 4:
            refs_by_seg = [[""] + r[1:] for r in refs_by_seg]
        else:
            hyps = [r[0] + " " + r[0] for r in refs_by_seg]
    streams = [[seg[k] for seg in refs_by_seg] for k in range(n_refs)]
    return hyps, streams, lowercase


def bleu_entry(hyps, streams, lowercase):
    bleu = BLEU(lowercase=lowercase)
    s = bleu.corpus_score(hyps, streams)
    return {
        "hyps": hyps, "refs": streams, "lowercase": lowercase,
        "score": s.score, "counts": list(s.counts), "totals": list(s.totals),
        "precisions": list(s.precisions), "bp": s.bp, "sys_len": s.sys_len,
        "ref_len": s.ref_len, "signature": str(bleu.get_signature()),
    }


def make_bleu():
    corpus = []
    # Hand-made cases for the rules that random text rarely hits.
    hand = [
        (["the cat sat on the mat"], [["the cat sat on the mat"]], False),
        (["the cat"], [["the cat sat on the mat"]], False),
        (["a b c d e"], [["a b c d"], ["a b c d e f"]], False),  # tie: shorter wins
        (["a b c d e"], [["a b c d e f"], ["a b c d"]], False),
        (["one two three four five six"], [["one two"], ["one two three four five six seven eight"]], False),
        (["", ""], [["some words here", "more words"]], False),
        (["x y z", "q"], [["a b c", "r"]], False),
        (["The Cat", "HELLO there"], [["the cat", "hello there"]], True),
        (["The Cat", "HELLO there"], [["the cat", "hello there"]], False),
        (["it is a guide to action which ensures that the military always obeys the commands of the party",
          "he read the book because he was interested in world history"],
         [["it is a guide to action that ensures that the military will forever heed party commands",
           "he was interested in world history because he read the book"],
          ["it is the guiding principle which guarantees the military forces always being under the command of the party",
           None]], False),
        (["a a a a a a a"], [["a a"]], False),
        (["1,000 people, 3.14 pi."], [["1,000 people , 3.14 pi ."]], False),
        # Python's final-sigma rule when lower-casing: ODYSSEUS, a lone sigma, sigma after a dash
        (["\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3 \u03a3 x-\u03a3 \u03a3\u0391\u03a3."],
         [["\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c2 \u03c3 x-\u03c3 \u03c3\u03b1\u03c2."]], True),
    ]
    for h, r, lc in hand:
        corpus.append(bleu_entry(h, r, lc))
    while len(corpus) < 130:
        kind = "edge" if len(corpus) % 7 == 0 else "plain"
        corpus.append(bleu_entry(*bleu_corpus_case(kind)))

    sentence_cases = []
    while len(sentence_cases) < 120:
        base = sentence(rng.randint(1, 16))
        refs = [base] + [perturb(base, 0.5) for _ in range(rng.choice([0, 0, 1, 2]))]
        hyp = hypothesis_for(base)
        bleu = BLEU(effective_order=True)
        s = bleu.sentence_score(hyp, refs)
        sentence_cases.append({
            "hyp": hyp, "refs": refs, "score": s.score, "counts": list(s.counts),
            "totals": list(s.totals), "bp": s.bp, "sys_len": s.sys_len, "ref_len": s.ref_len,
            "signature": str(bleu.get_signature()),
        })
    return {"sacrebleu": sacrebleu.__version__, "corpus": corpus, "sentence": sentence_cases}


# ---------------------------------------------------------------- ROUGE (rouge-score's definition)

STEMMER = porter.PorterStemmer()  # rouge-score: porter.PorterStemmer() if use_stemmer


def rouge_tokenize(text, stem):
    text = text.lower()
    text = re.sub(r"[^a-z0-9]+", " ", text)
    tokens = re.split(r"\s+", text)
    if stem:
        tokens = [STEMMER.stem(x) if len(x) > 3 else x for x in tokens]
    return [x for x in tokens if re.match(r"^[a-z0-9]+$", x)]


def fmeasure(p, r):
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def ngrams(tokens, n):
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def score_ngrams(t, p):
    inter = sum(min(c, p[g]) for g, c in t.items())
    tc, pc = sum(t.values()), sum(p.values())
    prec, rec = inter / max(pc, 1), inter / max(tc, 1)
    return (prec, rec, fmeasure(prec, rec))


def lcs_len(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            cur[j] = prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1])
        prev = cur
    return prev[-1]


def score_lcs(t, p):
    if not t or not p:
        return (0.0, 0.0, 0.0)
    lcs = lcs_len(t, p)
    prec, rec = lcs / len(p), lcs / len(t)
    return (prec, rec, fmeasure(prec, rec))


def rouge_score(target, prediction, stem):
    tt, pt = rouge_tokenize(target, stem), rouge_tokenize(prediction, stem)
    return {"rouge1": score_ngrams(ngrams(tt, 1), ngrams(pt, 1)),
            "rouge2": score_ngrams(ngrams(tt, 2), ngrams(pt, 2)),
            "rougeL": score_lcs(tt, pt)}


def rouge_multi(targets, prediction, stem):
    per = [rouge_score(t, prediction, stem) for t in targets]
    out = {}
    for k in ("rouge1", "rouge2", "rougeL"):
        fs = [s[k][2] for s in per]
        out[k] = per[fs.index(max(fs))][k]  # np.argmax: the first maximum
    return out


def make_rouge():
    cases = []
    hand = [("The quick brown fox jumps over the lazy dog", "The quick brown dog jumps on the log."),
            ("", "anything"), ("anything", ""), ("", ""), ("!!! ...", "???"),
            ("caf\u00e9 na\u00efve", "cafe naive"), ("A B A B A", "a b"), ("running runs ran", "run running")]
    for t, p in hand:
        for stem in (False, True):
            cases.append({"targets": [t], "prediction": p, "stem": stem, **rouge_multi([t], p, stem)})
    # Several targets with equal F but different P/R: the first one must win.
    for targets, p in [(["a b", "a b c d e f g h"], "a b c d"), (["a b c d e f g h", "a b"], "a b c d"),
                       (["x", "y z"], "q"), (["the cat", "The cat!", "a dog"], "the cat sat")]:
        for stem in (False, True):
            cases.append({"targets": targets, "prediction": p, "stem": stem,
                          **rouge_multi(targets, p, stem)})
    while len(cases) < 240:
        base = sentence(rng.randint(0, 25), fancy_sep=0.2)
        targets = [base] + [perturb(base, 0.5) for _ in range(rng.choice([0, 0, 0, 1, 2]))]
        pred = hypothesis_for(base)
        stem = len(cases) % 2 == 1
        cases.append({"targets": targets, "prediction": pred, "stem": stem,
                      **rouge_multi(targets, pred, stem)})

    corpus = []
    while len(corpus) < 40:
        n = rng.randint(1, 6)
        targets = [sentence(rng.randint(1, 15)) for _ in range(n)]
        preds = [hypothesis_for(t) for t in targets]
        stem = len(corpus) % 2 == 0
        per = [rouge_score(t, p, stem) for t, p in zip(targets, preds)]
        entry = {"targets": targets, "predictions": preds, "stem": stem}
        for k in ("rouge1", "rouge2", "rougeL"):
            entry[k] = [sum(s[k][i] for s in per) / n for i in range(3)]  # mean P, R, F
        corpus.append(entry)

    # Porter stems: suffix rules crossed with stems, the irregular forms, y runs, digits.
    words = set(WORDS) | {"sky", "skies", "dying", "lying", "tying", "news", "innings",
                          "inning", "outings", "canning", "howe", "proceed", "exceed",
                          "succeed", "yyyy", "syzygy", "toy", "by", "yes", "ay", "abc1ing",
                          "1990s", "ies", "ied", "dies", "tied", "flies", "fly", "spy",
                          "generalli", "fulli", "geologi", "archaeologi", "theologi"}
    stems = ["relat", "condit", "hop", "fil", "troubl", "conflat", "siz", "control", "gener",
             "nation", "form", "electr", "sens", "adopt", "effect", "agre", "happ", "play",
             "crit", "analog", "norm", "digit", "fall", "hiss", "fizz", "tan", "b", "ab", "y",
             "tr", "sy", "bey", "stud", "argu", "ceas", "prob", "geo", "theo", "phil"]
    suffixes = ["", "s", "es", "ies", "sses", "ss", "ed", "eed", "ied", "ing", "y", "ational",
                "tional", "enci", "anci", "izer", "bli", "abli", "alli", "entli", "eli",
                "ousli", "ization", "ation", "ator", "alism", "iveness", "fulness", "ousness",
                "aliti", "iviti", "biliti", "fulli", "logi", "icate", "ative", "alize",
                "iciti", "ical", "ful", "ness", "al", "ance", "ence", "er", "ic", "able",
                "ible", "ant", "ement", "ment", "ent", "ion", "sion", "tion", "ou", "ism",
                "ate", "iti", "ous", "ive", "ize", "e", "ll", "lled", "ling", "ally"]
    for s in stems:
        for suf in suffixes:
            if rng.random() < 0.25:
                words.add(s + suf)
    stems_out = [[w, STEMMER.stem(w)] for w in sorted(words)]
    return {"stemmer": "nltk " + __import__("nltk").__version__ + " PorterStemmer(NLTK_EXTENSIONS)",
            "cases": cases, "corpus": corpus, "porter": stems_out}


# ---------------------------------------------------------------- classification (scikit-learn)

LABEL_SETS = [[0, 1], ["neg", "pos"], [0, 1, 2, 3, 4], ["a", "b", "c"], [1], ["only"],
              [3, 7, 10, 2], ["\u00e9t\u00e9", "Z", "a", "10", "9"]]


def labels_case():
    labels = rng.choice(LABEL_SETS)
    n = rng.choice([1, 2, 3, 5, 8, 13, 21, 30])
    y_true = [rng.choice(labels) for _ in range(n)]
    r = rng.random()
    if r < 0.15:
        y_pred = list(y_true)
    elif r < 0.25:
        y_pred = [labels[0]] * n  # majority-style constant predictor
    else:
        acc = rng.random()
        y_pred = [t if rng.random() < acc else rng.choice(labels) for t in y_true]
    if rng.random() < 0.1 and isinstance(labels[0], int):
        y_pred[rng.randrange(n)] = max(labels) + 1  # a label never in y_true
    return y_true, y_pred


def make_classification():
    acc, prf, per_class = [], [], []
    while len(acc) < 120:
        yt, yp = labels_case()
        acc.append({"y_true": yt, "y_pred": yp, "accuracy": accuracy_score(yt, yp)})
    # Per average, 110 cases sklearn scores and the ones it refuses (binary on 3+ labels, or a
    # pos_label that is neither of two labels), which the Java side must refuse too.
    for average in ["binary", "macro", "micro", "weighted"]:
        valid, refused = 0, 0
        while valid < 110:
            yt, yp = labels_case()
            pool = sorted(set(yt) | set(yp), key=str)
            pos = rng.choice(pool + [1 if isinstance(yt[0], int) else "pos"])
            entry = {"y_true": yt, "y_pred": yp, "average": average, "pos_label": pos}
            try:
                p, r, f, _ = precision_recall_fscore_support(yt, yp, average=average, pos_label=pos,
                                                             zero_division=0)
                entry.update({"precision": p, "recall": r, "f1": f})
                valid += 1
            except ValueError as e:
                if refused >= 25:
                    continue
                entry.update({"error": str(e)})
                refused += 1
            prf.append(entry)
    while len(per_class) < 100:
        yt, yp = labels_case()
        p, r, f, s = precision_recall_fscore_support(yt, yp, average=None, zero_division=0)
        labels = sorted(set(yt) | set(yp))
        per_class.append({"y_true": yt, "y_pred": yp, "labels": labels,
                          "precision": list(map(float, p)), "recall": list(map(float, r)),
                          "f1": list(map(float, f)), "support": list(map(int, s))})
    return {"sklearn": sklearn.__version__, "accuracy": acc, "prf": prf, "per_class": per_class}


# ---------------------------------------------------------------- distinct-n, perplexity (definitions)

def distinct(token_lists, n):
    grams = [tuple(t[i:i + n]) for t in token_lists for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def make_distinct():
    text, ids = [], []
    text.append({"texts": [], "distinct1": 0.0, "distinct2": 0.0})
    text.append({"texts": ["", "  "], "distinct1": 0.0, "distinct2": 0.0})
    text.append({"texts": ["a"], "distinct1": 1.0, "distinct2": 0.0})
    while len(text) < 120:
        n = rng.randint(1, 8)
        texts = [sentence(rng.randint(0, 15), fancy_sep=0.2) for _ in range(n)]
        if rng.random() < 0.3:
            texts = [t + " " + t for t in texts]  # repetition
        toks = [t.split() for t in texts]
        text.append({"texts": texts, "distinct1": distinct(toks, 1), "distinct2": distinct(toks, 2)})
    while len(ids) < 100:
        n = rng.randint(1, 6)
        vocab = rng.choice([2, 5, 50, 50257])
        seqs = [[rng.randrange(vocab) for _ in range(rng.randint(0, 20))] for _ in range(n)]
        ids.append({"ids": seqs, "distinct1": distinct(seqs, 1), "distinct2": distinct(seqs, 2)})
    return {"tokenization": "python str.split()", "texts": text, "ids": ids}


def make_perplexity():
    cases = []
    while len(cases) < 120:
        n = rng.randint(1, 10)
        counts = [rng.choice([0, 1, 3, 17, 128, 1000]) for _ in range(n)]
        if sum(counts) == 0:
            counts[0] = 5
        per_token = rng.choice([0.0, 0.01, 0.5, 2.0, 3.5, 7.0, 10.8])
        nll = [c * per_token * rng.uniform(0.5, 1.5) for c in counts]
        total_nll, total = 0.0, 0
        for x, c in zip(nll, counts):
            total_nll += x
            total += c
        cases.append({"nll_sums": nll, "token_counts": counts, "mean_nll": total_nll / total,
                      "perplexity": math.exp(total_nll / total)})
    return {"definition": "exp(sum nll_sums / sum token_counts)", "cases": cases}


# ---------------------------------------------------------------- main

def write(name, obj):
    path = os.path.join(OUT, name)
    with open(path, "w", encoding="ascii") as f:
        json.dump(obj, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    print(f"{path}: {os.path.getsize(path)} bytes", file=sys.stderr)


def main():
    warnings.simplefilter("ignore", UndefinedMetricWarning)
    warnings.simplefilter("ignore", UserWarning)
    import logging
    logging.getLogger("sacrebleu").setLevel(logging.ERROR)
    os.makedirs(OUT, exist_ok=True)
    # Fixed order of generation: every part draws from the one seeded stream.
    write("tokenize_13a.json", {"sacrebleu": sacrebleu.__version__, "cases": make_tokenize()})
    write("bleu.json", make_bleu())
    write("rouge.json", make_rouge())
    write("classification.json", make_classification())
    write("distinct.json", make_distinct())
    write("perplexity.json", make_perplexity())


if __name__ == "__main__":
    main()
