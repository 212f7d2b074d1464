"""Lexical search speed at 100k cards: typo repair, concept tokens and BM25 on a synthetic corpus.

    python benchmarks/bench_lexical_scale.py [--cards 100000]

The corpus mixes the shipped note's words with random made-up words (Zipf-distributed), which gives a
vocabulary of the size a large real corpus has (~150k distinct words). Typo repair is timed two ways in
the same run: the naive scan (edit distance against every known word with the same first letter, what
kb did before) as the baseline, and kb's TypoCorrector (letter-count prefilter, then edit distance).
"""
from __future__ import annotations

import random
import string
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.notes.corpus import load_corpus  # noqa: E402
from kb.retrieval.lexical import STOPWORDS, LexicalIndex, TypoCorrector, edit_distance_within, words  # noqa: E402


def naive_correct(vocabulary: dict[str, int], word: str) -> str:
    """The baseline: edit distance against every known word sharing the first letter."""
    if word in vocabulary or len(word) < 4 or not word.isalpha() or word in STOPWORDS:
        return word
    limit = 1 if len(word) <= 6 else 2
    best, best_key = word, None
    for candidate in vocabulary:
        if candidate[0] == word[0] and len(candidate) >= 4 and candidate.isalpha():
            d = edit_distance_within(word, candidate, limit)
            if d is not None and (best_key is None or (d, -vocabulary[candidate]) < best_key):
                best, best_key = candidate, (d, -vocabulary[candidate])
    return best


def synthetic_texts(n_cards: int, rng: random.Random) -> list[str]:
    real = [w for c in load_corpus(ROOT / "corpus").cards for w in words(f"{c.question} {c.answer_text}")]
    made_up = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 11))) for _ in range(200_000)]
    ranks = np.arange(1, len(made_up) + 1)
    zipf = (1 / ranks) / (1 / ranks).sum()
    picks = np.random.default_rng(0).choice(len(made_up), size=n_cards * 40, p=zipf)
    texts = []
    for i in range(n_cards):
        fake = " ".join(made_up[j] for j in picks[i * 40 : (i + 1) * 40])
        texts.append(" ".join(rng.sample(real, 40)) + " " + fake)
    return texts


def p50_ms(fn, items) -> float:
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def main() -> None:
    n_cards = int(sys.argv[sys.argv.index("--cards") + 1]) if "--cards" in sys.argv else 100_000
    rng = random.Random(1)
    texts = synthetic_texts(n_cards, rng)
    start = time.perf_counter()
    index = LexicalIndex(texts)
    build_s = time.perf_counter() - start
    vocabulary = index.vocabulary
    typos = ["quantlie", "regresion", "distilation", "entrpoy", "hubber", "advantge", "divergance", "clasification", "normalisaton", "reinforse"]
    start = time.perf_counter()
    corrector = TypoCorrector(vocabulary)
    corrector_s = time.perf_counter() - start
    assert [corrector.correct(t) for t in typos[:3]] == [naive_correct(vocabulary, t) for t in typos[:3]]
    naive = p50_ms(lambda t: naive_correct(vocabulary, t), typos)
    fast = p50_ms(corrector.correct, typos)
    queries = ["entrpoy bonus in reinforcement learning", "smooth L1 vs huber loss", "proximal policy optimization clip",
               "why cross-entropy for classification"]
    query_ms = p50_ms(index.scores, queries * 3)
    print(f"cards {n_cards:,}  vocabulary {len(vocabulary):,} words  lexical index build {build_s:.1f} s (typo index {corrector_s:.1f} s)")
    print(f"typo repair of one unknown word, p50: naive scan {naive:.1f} ms  ->  TypoCorrector {fast:.2f} ms")
    print(f"whole lexical query (repair + concepts + BM25), p50: {query_ms:.1f} ms")


if __name__ == "__main__":
    main()
