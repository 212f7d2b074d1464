"""Lexical retrieval: BM25 (bm25s) over stemmed words, with typo repair and ML synonym expansion.

Typos: a query word the corpus never uses is replaced by the closest corpus word
(edit distance 1, or 2 for long words). Synonyms and acronyms come from a general
ML glossary (kb/data/synonyms.txt), applied only to the query.
"""
from __future__ import annotations

import functools
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-'][A-Za-z0-9]+)*|\d+(?:\.\d+)?")
SYNONYMS_FILE = Path(__file__).parent / "data" / "synonyms.txt"
STOPWORDS = frozenset(
    """a an and are as at be but by can do does for from how i if in into is it its me of on or so
    than that the their then there these this to use used using was what when where which while who
    why will with would you your whats s t vs about explain tell describe""".split()
)


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-cased words; hyphenated compounds also give their parts ("kullback-leibler")."""
    out = []
    for match in WORD_RE.finditer(text.lower()):
        word = match.group(0).replace("'", "")
        out.append(word)
        if "-" in word:
            out.extend(part for part in word.split("-") if part)
    return out


def stem_all(tokens: list[str]) -> list[str]:
    return _stemmer().stemWords([t for t in tokens if t not in STOPWORDS])


@functools.lru_cache(maxsize=1)
def synonym_groups() -> list[tuple[str, ...]]:
    """Groups of phrases that mean the same thing, one group per line, separated by '|'."""
    groups = []
    if SYNONYMS_FILE.exists():
        for line in SYNONYMS_FILE.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                groups.append(tuple(p.strip().lower() for p in line.split("|") if p.strip()))
    return groups


def expand_synonyms(query: str) -> list[str]:
    """Phrases to add to a query: the other members of every glossary group the query mentions."""
    padded = " " + " ".join(words(query)) + " "
    extra: list[str] = []
    for group in synonym_groups():
        if any(f" {' '.join(words(p))} " in padded for p in group):
            extra.extend(p for p in group if f" {' '.join(words(p))} " not in padded)
    return extra


def _edit_distance_within(a: str, b: str, limit: int) -> bool:
    if abs(len(a) - len(b)) > limit:
        return False
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous[j - 2] + 1 if j >= 2 else current[j])  # transposition
        if min(current) > limit:
            return False
        previous = current
    return previous[-1] <= limit


class LexicalIndex:
    """BM25 over question (counted twice: it names the topic) + family + answer."""

    def __init__(self, texts: list[str]):
        import bm25s

        self.size = len(texts)
        corpus_tokens = [stem_all(words(t)) for t in texts]
        self.vocabulary: dict[str, int] = defaultdict(int)
        for text in texts:
            for w in words(text):
                self.vocabulary[w] += 1
        self._by_prefix: dict[str, list[str]] = defaultdict(list)
        for w in self.vocabulary:
            if len(w) >= 4 and w.isalpha():
                self._by_prefix[w[0]].append(w)
        self.retriever = bm25s.BM25(k1=1.2, b=0.75)
        self._empty = not any(corpus_tokens)
        if not self._empty:
            self.retriever.index(corpus_tokens, show_progress=False)
            self._token_ids = self.retriever.vocab_dict

    def correct(self, word: str) -> str:
        """The corpus word closest to an unknown query word, or the word itself."""
        if word in self.vocabulary or len(word) < 4 or not word.isalpha() or word in STOPWORDS:
            return word
        limit = 1 if len(word) <= 6 else 2
        best, best_count = word, 0
        for candidate in self._by_prefix.get(word[0], ()):  # typos rarely hit the first letter
            if self.vocabulary[candidate] > best_count and _edit_distance_within(word, candidate, limit):
                best, best_count = candidate, self.vocabulary[candidate]
        return best

    def query_tokens(self, query: str) -> list[str]:
        corrected = [self.correct(w) for w in words(query)]
        text = " ".join(corrected)
        expansion = " ".join(expand_synonyms(text))
        return stem_all(words(text + " " + expansion))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for the query (zeros when nothing matches)."""
        if self._empty or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        tokens = [t for t in self.query_tokens(query) if t in self._token_ids]
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.retriever.get_scores(tokens), dtype=np.float32)
