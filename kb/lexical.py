"""Lexical retrieval: BM25 (bm25s) over stemmed words, with typo repair and ML concept tokens.

Typos: a query word the corpus never uses is replaced by the closest corpus word (edit distance 1,
or 2 for long words), found through a letter-count prefilter so it stays fast on large vocabularies.

Synonyms and acronyms: every phrase of the general ML glossary (kb/data/synonyms.txt) is folded to
one concept token on BOTH sides, so "smooth L1" in a query meets "Huber" in a card, and
"reinforcement learning" meets "RL". In the query, the words of a recognised phrase are replaced by
their concept (kept only at a low weight), so "smooth L1" does not pull up every card that says "L1"
and "reinforcement" does not match REINFORCE.
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
ACRONYM_PLURAL_RE = re.compile(r"\b([A-Z][A-Z0-9]+)s\b")  # "GANs", "SVMs", "LLMs": the stemmer keeps the s
CONCEPT_PREFIX = "concept:"  # never produced by WORD_RE, so it cannot collide with a real word
PHRASE_WORD_WEIGHT = 0.25  # weight of the raw words of a recognised glossary phrase in a query
LETTERS = 26


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def lower(text: str) -> str:
    """Lower-case, after turning acronym plurals into the acronym ("SVMs" -> "svm")."""
    return ACRONYM_PLURAL_RE.sub(r"\1", text).lower()


def words(text: str) -> list[str]:
    """Lower-cased words; hyphenated compounds also give their parts ("kullback-leibler")."""
    out = []
    for match in WORD_RE.finditer(lower(text)):
        word = match.group(0).replace("'", "")
        out.append(word)
        if "-" in word:
            out.extend(part for part in word.split("-") if part)
    return out


def plain_words(text: str) -> list[str]:
    """Lower-cased words in order, compounds split into their parts: the sequence phrases are matched on."""
    return [part for match in WORD_RE.finditer(lower(text)) for part in match.group(0).replace("'", "").split("-") if part]


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


class Glossary:
    """Finds glossary phrases in a word sequence (stemmed, longest match first)."""

    def __init__(self, groups: list[tuple[str, ...]]):
        self.groups = groups
        self.phrases: dict[tuple[str, ...], set[int]] = defaultdict(set)
        for gid, group in enumerate(groups):
            for phrase in group:
                key = tuple(_stemmer().stemWords(plain_words(phrase)))
                if key:
                    self.phrases[key].add(gid)
        self.longest_from: dict[str, int] = {}  # first stem -> longest phrase starting with it
        for key in self.phrases:
            self.longest_from[key[0]] = max(self.longest_from.get(key[0], 0), len(key))

    def spans(self, stems: list[str]) -> list[tuple[int, int, set[int]]]:
        """Non-overlapping (start, end, group ids) for the phrases found, scanning left to right."""
        out, i = [], 0
        while i < len(stems):
            longest = self.longest_from.get(stems[i], 0)
            for length in range(min(longest, len(stems) - i), 0, -1):
                groups = self.phrases.get(tuple(stems[i : i + length]))
                if groups:
                    out.append((i, i + length, groups))
                    i += length
                    break
            else:
                i += 1
        return out

    def concepts(self, text: str) -> list[int]:
        """Group ids mentioned in a text, in order."""
        stems = _stemmer().stemWords(plain_words(text))
        return [g for _, _, groups in self.spans(stems) for g in sorted(groups)]

    def other_forms(self, text: str) -> list[str]:
        """Glossary phrases meaning the same as phrases in the text but not already in it."""
        stems = _stemmer().stemWords(plain_words(text))
        present = set(stems)
        extra: list[str] = []
        for _, _, groups in self.spans(stems):
            for gid in sorted(groups):
                for phrase in self.groups[gid]:
                    if not set(_stemmer().stemWords(plain_words(phrase))) <= present and phrase not in extra:
                        extra.append(phrase)
        return extra


@functools.lru_cache(maxsize=1)
def default_glossary() -> Glossary:
    return Glossary(synonym_groups())


def expand_synonyms(query: str) -> list[str]:
    """Phrases to add to a query: the other members of every glossary group the query mentions."""
    return default_glossary().other_forms(query)


def concept_token(gid: int) -> str:
    return f"{CONCEPT_PREFIX}{gid}"


def document_tokens(text: str, glossary: Glossary, vocabulary: dict[str, int] | None = None) -> list[str]:
    """Stemmed content words plus one concept token per glossary phrase found (one pass over the text).

    With `vocabulary`, also counts the text's words into it (for typo repair)."""
    every, plain = [], []
    for match in WORD_RE.finditer(lower(text)):
        word = match.group(0).replace("'", "")
        every.append(word)
        if "-" in word:
            parts = [part for part in word.split("-") if part]
            every.extend(parts)
            plain.extend(parts)
        else:
            plain.append(word)
    if vocabulary is not None:
        for word in every:
            vocabulary[word] = vocabulary.get(word, 0) + 1
    tokens = stem_all(every)
    stems = _stemmer().stemWords(plain)
    tokens.extend(concept_token(g) for _, _, groups in glossary.spans(stems) for g in sorted(groups))
    return tokens


def query_token_weights(text: str, glossary: Glossary) -> dict[str, float]:
    """Query tokens and their weights: concepts at 1, the words that named them at PHRASE_WORD_WEIGHT."""
    seq = plain_words(text)
    stems = _stemmer().stemWords(seq)
    weights: dict[str, float] = {}
    covered = set()
    for start, end, groups in glossary.spans(stems):
        covered.update(range(start, end))
        for g in groups:
            weights[concept_token(g)] = 1.0
    for i, (word, stem) in enumerate(zip(seq, stems)):
        if word in STOPWORDS:
            continue
        weight = PHRASE_WORD_WEIGHT if i in covered else 1.0
        weights[stem] = max(weights.get(stem, 0.0), weight)
    return weights


def edit_distance_within(a: str, b: str, limit: int) -> int | None:
    """Optimal-string-alignment distance between a and b if it is <= limit, else None."""
    if abs(len(a) - len(b)) > limit:
        return None
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)  # transposition
        if min(current) > limit:
            return None
        previous2, previous = previous, current
    return previous[-1] if previous[-1] <= limit else None


def _letter_counts(word: str) -> np.ndarray:
    counts = np.zeros(LETTERS, dtype=np.int16)
    for ch in word:
        counts[ord(ch) - 97] += 1
    return counts


class TypoCorrector:
    """Closest known word for an unknown one.

    Candidates share the first letter (typos rarely hit it) and pass a letter-count prefilter
    (an edit distance d changes the letter counts by at most 2d), computed with numpy over the
    whole bucket; only the few survivors get a real edit-distance check. That keeps one lookup
    around a millisecond even with a vocabulary of hundreds of thousands of words.
    """

    def __init__(self, counts: dict[str, int]):
        self.counts = counts
        by_letter: dict[str, list[str]] = defaultdict(list)
        for word in counts:
            if len(word) >= 4 and word.isascii() and word.isalpha():
                by_letter[word[0]].append(word)
        self._buckets = {}
        for letter, bucket in by_letter.items():
            matrix = np.stack([_letter_counts(w) for w in bucket])
            lengths = np.array([len(w) for w in bucket], dtype=np.int16)
            self._buckets[letter] = (bucket, matrix, lengths)

    def correct(self, word: str) -> str:
        if word in self.counts or len(word) < 4 or not (word.isascii() and word.isalpha()) or word in STOPWORDS:
            return word
        bucket = self._buckets.get(word[0])
        if bucket is None:
            return word
        candidates, matrix, lengths = bucket
        limit = 1 if len(word) <= 6 else 2
        near = (np.abs(lengths - len(word)) <= limit) & (np.abs(matrix - _letter_counts(word)).sum(axis=1) <= 2 * limit)
        best, best_key = word, None
        for index in np.flatnonzero(near):
            candidate = candidates[index]
            distance = edit_distance_within(word, candidate, limit)
            if distance is not None:
                key = (distance, -self.counts[candidate], candidate)  # nearest, then most frequent
                if best_key is None or key < best_key:
                    best, best_key = candidate, key
        return best


class LexicalIndex:
    """BM25 over question (counted twice: it names the topic) + family + answer, with concept tokens."""

    def __init__(self, texts: list[str], glossary: Glossary | None = None, k1: float = 1.2, b: float = 0.75):
        import bm25s

        self.size = len(texts)
        self.glossary = glossary or default_glossary()
        self.vocabulary: dict[str, int] = {}
        corpus_tokens = [document_tokens(t, self.glossary, self.vocabulary) for t in texts]
        self.typos = TypoCorrector(self.vocabulary)
        self._corrected: dict[str, str] = {}
        self.retriever = bm25s.BM25(k1=k1, b=b)
        self._empty = not any(corpus_tokens)
        self._token_ids: dict[str, int] = {}
        if not self._empty:
            self.retriever.index(corpus_tokens, show_progress=False)
            self._token_ids = self.retriever.vocab_dict

    def correct(self, word: str) -> str:
        """The corpus word closest to an unknown query word, or the word itself."""
        return self.typos.correct(word)

    def corrected(self, query: str) -> str:
        """The query with unknown words replaced by their closest corpus words (other text kept)."""
        cached = self._corrected.get(query)
        if cached is None:
            cached = self._correct_text(query)
            if len(self._corrected) >= 4096:  # search asks twice per query (BM25 and dense text)
                self._corrected.clear()
            self._corrected[query] = cached
        return cached

    def _correct_text(self, query: str) -> str:
        def fix(match: re.Match) -> str:
            original = match.group(0)
            fixed = "-".join(self.correct(p) for p in original.lower().replace("'", "").split("-"))
            return original if fixed == original.lower().replace("'", "") else fixed

        return WORD_RE.sub(fix, query)

    def query_tokens(self, query: str, expand: bool = True) -> list[str]:
        if not expand:
            return stem_all(words(query))
        return list(query_token_weights(self.corrected(query), self.glossary))

    def scores(self, query: str, expand: bool = True) -> np.ndarray:
        """BM25 score of every document for the query (zeros when nothing matches).

        expand=False is plain BM25: no typo repair, no concept tokens (the baseline in benchmarks)."""
        zeros = np.zeros(self.size, dtype=np.float32)
        if self._empty or self.size == 0:
            return zeros
        if not expand:
            weights = {t: 1.0 for t in stem_all(words(query))}
        else:
            weights = query_token_weights(self.corrected(query), self.glossary)
        by_weight: dict[float, list[str]] = defaultdict(list)
        for token, weight in weights.items():
            if token in self._token_ids:
                by_weight[weight].append(token)
        out = zeros
        for weight, tokens in by_weight.items():
            out = out + weight * np.asarray(self.retriever.get_scores(tokens), dtype=np.float32)
        return out
