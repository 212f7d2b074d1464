"""Lexical retrieval: BM25 (bm25s) over stemmed words, with typo repair and ML concept tokens.

Typos: a query word the corpus never uses is replaced by the closest corpus word (edit distance 1,
or 2 for long words), found through a letter-count prefilter so it stays fast on large vocabularies.

Synonyms and acronyms: every phrase of the vocabulary's synonym list (kb.vocab: the packs' synonyms.txt and corpus/.kb/synonyms.txt) is folded to
one concept token on BOTH sides, so "smooth L1" in a query meets "Huber" in a card, and
"reinforcement learning" meets "RL". In the query, the words of a recognised phrase are replaced by
their concept (kept only at a low weight), so "smooth L1" does not pull up every card that says "L1"
and "reinforcement" does not match REINFORCE.

Storage: the BM25 score matrix, token ids and word counts are saved in the index folder
(`LexicalIndex.save` / `load`, one .npz of plain arrays), so opening a large knowledge base does not
tokenise every card again; `CorpusTokenizer` makes the tokenising itself fast when it is needed.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from itertools import compress, count, filterfalse, repeat
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kb.vocab import STOPWORDS, WORD_RE, lower, plain_words, stem_all, stemmer, synonym_groups, words

if TYPE_CHECKING:
    from kb.notes.cards import Card

CONCEPT_PREFIX = "concept:"  # never produced by WORD_RE, so it cannot collide with a real word
PHRASE_WORD_WEIGHT = 0.25  # weight of the raw words of a recognised synonym phrase in a query
LETTERS = 26
LEXICAL_FORMAT = 1  # layout and tokenisation of a stored lexical index; bump it when either changes
# BM25 scores as a sparse matrix stored token by token (CSR): data, indices (document rows), indptr
ScoreMatrix = tuple[np.ndarray, np.ndarray, np.ndarray]


class PhraseMatcher:
    """Finds synonym phrases in a word sequence (stemmed, longest match first)."""

    def __init__(self, groups: list[tuple[str, ...]]):
        self.groups = groups
        self.phrases: dict[tuple[str, ...], set[int]] = defaultdict(set)
        for gid, group in enumerate(groups):
            for phrase in group:
                key = tuple(stemmer().stemWords(plain_words(phrase)))
                if key:
                    self.phrases[key].add(gid)
        self.longest_from: dict[str, int] = {}  # first stem -> longest phrase starting with it
        self._prefixes: set[tuple[str, ...]] = set()  # every phrase's every prefix: a match is extended only through these
        for key in self.phrases:
            self.longest_from[key[0]] = max(self.longest_from.get(key[0], 0), len(key))
            self._prefixes.update(key[:n] for n in range(1, len(key) + 1))

    def spans(self, stems: list[str]) -> list[tuple[int, int, set[int]]]:
        """Non-overlapping (start, end, group ids) for the phrases found, scanning left to right."""
        # Only positions whose stem starts some phrase can start a match: find them at C speed,
        # then scan those left to right (the same spans as stepping through every position).
        out, free_from = [], 0
        for i in compress(count(), map(self.longest_from.__contains__, stems)):
            if i < free_from:
                continue
            key: tuple[str, ...]
            end, key, match = i + 1, (stems[i],), None
            while key in self._prefixes:  # the longest phrase wins: remember the last full match
                if key in self.phrases:
                    match = end
                if end == len(stems):
                    break
                key += (stems[end],)
                end += 1
            if match is not None:
                out.append((i, match, self.phrases[tuple(stems[i:match])]))
                free_from = match
        return out

    @functools.cached_property
    def signature(self) -> str:
        """Fingerprint of the phrase groups: a stored lexical index is only valid for the same synonym list."""
        return hashlib.sha256(json.dumps(self.groups).encode("utf-8")).hexdigest()

    def concepts(self, text: str) -> list[int]:
        """Group ids mentioned in a text, in order."""
        stems = stemmer().stemWords(plain_words(text))
        return [g for _, _, groups in self.spans(stems) for g in sorted(groups)]

    def other_forms(self, text: str) -> list[str]:
        """Synonym phrases meaning the same as phrases in the text but not already in it."""
        stems = stemmer().stemWords(plain_words(text))
        present = set(stems)
        extra: list[str] = []
        for _, _, groups in self.spans(stems):
            for gid in sorted(groups):
                for phrase in self.groups[gid]:
                    if not set(stemmer().stemWords(plain_words(phrase))) <= present and phrase not in extra:
                        extra.append(phrase)
        return extra


@functools.lru_cache(maxsize=1)
def default_synonyms() -> PhraseMatcher:
    return PhraseMatcher(synonym_groups())


def concept_token(gid: int) -> str:
    return f"{CONCEPT_PREFIX}{gid}"


def document_tokens(text: str, synonyms: PhraseMatcher, vocabulary: dict[str, int] | None = None) -> list[str]:
    """Stemmed content words plus one concept token per synonym phrase found (one pass over the text).

    With `vocabulary`, also counts the text's words into it (for typo repair). This is the plain
    definition; indexes use CorpusTokenizer, which is tested to give exactly these tokens."""
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
    stems = stemmer().stemWords(plain)
    tokens.extend(concept_token(g) for _, _, groups in synonyms.spans(stems) for g in sorted(groups))
    return tokens


class _StemCache(dict[str, str]):
    """word -> stem; a word is stemmed the first time it is looked up (PyStemmer stems word by word)."""

    def __missing__(self, word: str) -> str:
        stem = self[word] = stemmer().stemWord(word)
        return stem


class CorpusTokenizer:
    """`document_tokens` for many texts at once, with the same output and a fraction of the work.

    Each text's words come from one regex call; every distinct word is stemmed once (stems are
    remembered across texts); synonym phrases are only looked for where a phrase can start.
    Counts every word into `vocabulary` (for typo repair) as it goes.
    """

    def __init__(self, synonyms: PhraseMatcher):
        self.synonyms = synonyms
        self.vocabulary: Counter[str] = Counter()
        self._stem_of = _StemCache()

    def tokens(self, text: str) -> list[str]:
        lowered = lower(text)
        found = WORD_RE.findall(lowered)
        if "'" in lowered:
            found = [word.replace("'", "") for word in found]
        every = plain = found
        if "-" in lowered:  # compounds also give their parts; phrases are matched on the parts
            every, plain, done = [], [], 0
            for i in compress(count(), map(str.__contains__, found, repeat("-"))):
                every += found[done:i]
                plain += found[done:i]
                parts = [part for part in found[i].split("-") if part]
                every.append(found[i])
                every += parts
                plain += parts
                done = i + 1
            every += found[done:]
            plain += found[done:]
        self.vocabulary.update(every)
        stem_of = self._stem_of
        tokens = list(map(stem_of.__getitem__, filterfalse(STOPWORDS.__contains__, every)))
        stems = list(map(stem_of.__getitem__, plain))
        tokens.extend(concept_token(g) for _, _, groups in self.synonyms.spans(stems) for g in sorted(groups))
        return tokens


def query_token_weights(text: str, synonyms: PhraseMatcher) -> dict[str, float]:
    """Query tokens and their weights: concepts at 1, the words that named them at PHRASE_WORD_WEIGHT."""
    seq = plain_words(text)
    stems = stemmer().stemWords(seq)
    weights: dict[str, float] = {}
    covered: set[int] = set()
    for start, end, groups in synonyms.spans(stems):
        covered.update(range(start, end))
        for g in groups:
            weights[concept_token(g)] = 1.0
    for i, (word, stem) in enumerate(zip(seq, stems, strict=True)):
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
            # All of the bucket's letter counts at once (one bincount), not one small array per word.
            lengths = np.fromiter(map(len, bucket), dtype=np.int64, count=len(bucket))
            letters = np.frombuffer("".join(bucket).encode("ascii"), dtype=np.uint8).astype(np.int64) - 97
            rows = np.repeat(np.arange(len(bucket)), lengths)
            matrix = np.bincount(rows * LETTERS + letters, minlength=len(bucket) * LETTERS).reshape(len(bucket), LETTERS)
            self._buckets[letter] = (bucket, matrix.astype(np.int16), lengths.astype(np.int16))

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


def card_document(card: Card) -> str:
    """The text BM25 indexes for a card: the question twice (it names the topic), the family, the answer."""
    return f"{card.question}\n{card.question}\n{card.family}\n{card.answer_text}"


class LexicalIndex:
    """BM25 over question (counted twice: it names the topic) + family + answer, with concept tokens.

    bm25s computes the per-token, per-document scores once (a sparse matrix stored token by token);
    a query sums the rows of its tokens. `save` / `load` keep that matrix, the token ids and the
    word counts for typo repair in one .npz file (plain arrays, no pickle), so opening a large
    knowledge base does not tokenise every card again.
    """

    def __init__(self, texts: list[str], synonyms: PhraseMatcher | None = None, k1: float = 1.2, b: float = 0.75):
        self.synonyms = synonyms or default_synonyms()
        self.k1, self.b = k1, b
        tokenizer = CorpusTokenizer(self.synonyms)
        corpus_tokens = [tokenizer.tokens(t) for t in texts]
        token_ids: dict[str, int] = {}
        matrix: ScoreMatrix | None = None
        if any(corpus_tokens):
            import bm25s

            retriever = bm25s.BM25(k1=k1, b=b)
            retriever.index(corpus_tokens, show_progress=False)
            token_ids = retriever.vocab_dict
            scores = retriever.scores
            matrix = (np.asarray(scores["data"]), np.asarray(scores["indices"]), np.asarray(scores["indptr"]))
        self._install(len(texts), dict(tokenizer.vocabulary), token_ids, matrix)

    @classmethod
    def for_cards(cls, cards: Iterable[Card], synonyms: PhraseMatcher | None = None) -> LexicalIndex:
        return cls([card_document(c) for c in cards], synonyms)

    def _install(self, size: int, vocabulary: dict[str, int], token_ids: dict[str, int], matrix: ScoreMatrix | None) -> None:
        self.size = size
        self.vocabulary = vocabulary
        self.typos = TypoCorrector(vocabulary)
        self._corrected: dict[str, str] = {}
        self._token_ids = token_ids
        self._empty = matrix is None or size == 0
        # Without a matrix (no tokens), empty arrays stand in: every read of them is behind `self._empty`.
        nothing = np.zeros(0, dtype=np.float32)
        self._data: np.ndarray
        self._indices: np.ndarray
        self._indptr: np.ndarray
        self._data, self._indices, self._indptr = matrix if matrix is not None else (nothing, nothing.astype(np.int32), nothing.astype(np.int32))

    def correct(self, word: str) -> str:
        """The corpus word closest to an unknown query word, or the word itself."""
        return self.typos.correct(word)

    def knows(self, word: str) -> bool:
        """Whether the notes use this word, or one a typo away from it."""
        return all(w in self.vocabulary for w in words(self.corrected(word)))

    def knows_term(self, term: str) -> bool:
        """Whether the notes name this term: its words (typos forgiven), or a synonym phrase meaning the same."""
        if all(self.knows(part) for part in plain_words(term)):  # "GAN-style": its parts
            return True
        concepts = self.synonyms.concepts(term)
        return bool(concepts) and all(concept_token(g) in self._token_ids for g in concepts)

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
        def fix(match: re.Match[str]) -> str:
            original = match.group(0)
            fixed = "-".join(self.correct(p) for p in original.lower().replace("'", "").split("-"))
            return original if fixed == original.lower().replace("'", "") else fixed

        return WORD_RE.sub(fix, query)

    def scores(self, query: str, expand: bool = True) -> np.ndarray:
        """BM25 score of every document for the query (zeros when nothing matches).

        expand=False is plain BM25: no typo repair, no concept tokens (the baseline in benchmarks)."""
        zeros = np.zeros(self.size, dtype=np.float32)
        if self._empty or self.size == 0:
            return zeros
        if not expand:
            weights = {t: 1.0 for t in stem_all(words(query))}
        else:
            weights = query_token_weights(self.corrected(query), self.synonyms)
        by_weight: dict[float, list[str]] = defaultdict(list)
        for token, weight in weights.items():
            if token in self._token_ids:
                by_weight[weight].append(token)
        out: np.ndarray = zeros
        for weight, tokens in by_weight.items():
            out = out + weight * self._token_scores([self._token_ids[t] for t in tokens])
        return out

    def documents_with(self, token: str) -> frozenset[int]:
        """The rows of the documents that contain an indexed token (a stem, or a concept token)."""
        token_id = self._token_ids.get(token)
        if token_id is None or self._empty or token_id + 1 >= len(self._indptr):
            return frozenset()
        return frozenset(self._indices[self._indptr[token_id] : self._indptr[token_id + 1]].tolist())

    def documents_with_concept(self, group: int) -> frozenset[int]:
        return self.documents_with(concept_token(group))

    def _token_scores(self, token_ids: list[int]) -> np.ndarray:
        """Sum of the tokens' per-document BM25 scores, added in query order (as bm25s does)."""
        scores = np.zeros(self.size, dtype=np.float32)
        for token_id in token_ids:
            if token_id + 1 < len(self._indptr):  # bm25s's empty token "" has no row
                start, end = self._indptr[token_id], self._indptr[token_id + 1]
                np.add.at(scores, self._indices[start:end], self._data[start:end])
        return scores

    # ---- storage -----------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the index as one uncompressed .npz of plain arrays (np.load reads it with allow_pickle=False)."""
        tokens = sorted(self._token_ids, key=self._token_ids.__getitem__)
        if [self._token_ids[t] for t in tokens] != list(range(len(tokens))):
            raise ValueError("token ids are not 0..n-1")
        empty = np.zeros(0, dtype=np.float32)
        arrays: dict[str, np.ndarray] = {
            "format": np.array([LEXICAL_FORMAT], dtype=np.int64),
            "glossary": _blob([self.synonyms.signature]),
            "params": np.array([self.k1, self.b], dtype=np.float64),
            "size": np.array([self.size], dtype=np.int64),
            "tokens": _blob(tokens),
            "token_count": np.array([len(tokens)], dtype=np.int64),
            "words": _blob(list(self.vocabulary)),
            "word_counts": np.fromiter(self.vocabulary.values(), dtype=np.int64, count=len(self.vocabulary)),
            "data": empty if self._empty else self._data,
            "indices": empty.astype(np.int32) if self._empty else self._indices,
            "indptr": empty.astype(np.int32) if self._empty else self._indptr,
            "empty": np.array([self._empty]),
        }
        with open(path, "wb") as handle:
            np.savez(handle, allow_pickle=True, **arrays)  # numpy's default, named so mypy does not match **arrays to it

    @classmethod
    def load(cls, path: Path, documents: int, synonyms: PhraseMatcher | None = None) -> LexicalIndex:
        """Read an index written by `save`, checking it fits: raises StoredLexicalError saying why not."""
        synonyms = synonyms or default_synonyms()
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
        except FileNotFoundError:
            raise StoredLexicalError(f"{path} is missing") from None
        except Exception as exc:  # a damaged zip or array header: any of several exception types
            raise StoredLexicalError(f"{path} could not be read ({type(exc).__name__}: {exc})") from exc
        missing = sorted({"format", "glossary", "params", "size", "tokens", "token_count", "words", "word_counts", "data", "indices", "indptr",
                          "empty"} - set(arrays))
        if missing:
            raise StoredLexicalError(f"{path} lacks {', '.join(missing)}")
        if int(arrays["format"][0]) != LEXICAL_FORMAT:
            raise StoredLexicalError(f"{path} has lexical format {int(arrays['format'][0])}, this kb reads {LEXICAL_FORMAT}")
        if _unblob(arrays["glossary"], 1) != [synonyms.signature]:
            raise StoredLexicalError(f"{path} was built with another synonym list (the vocabulary packs or your corpus/.kb/synonyms.txt changed since)")
        size = int(arrays["size"][0])
        if size != documents:
            raise StoredLexicalError(f"{path} covers {size} cards, the index has {documents}")
        tokens = _unblob(arrays["tokens"], int(arrays["token_count"][0]))
        counts = arrays["word_counts"]
        words_ = _unblob(arrays["words"], len(counts))
        if tokens is None or words_ is None:
            raise StoredLexicalError(f"{path} has a damaged token or word list")
        index = cls.__new__(cls)
        index.synonyms = synonyms
        index.k1, index.b = (float(x) for x in arrays["params"])
        matrix: ScoreMatrix | None = None
        if not bool(arrays["empty"][0]):
            matrix = (arrays["data"], arrays["indices"], arrays["indptr"])
            if not _consistent(*matrix, tokens=len(tokens), documents=size):
                raise StoredLexicalError(f"{path} holds an inconsistent score matrix")
        if len(words_) != len(counts):
            raise StoredLexicalError(f"{path} holds {len(words_)} words but {len(counts)} word counts")
        index._install(size, dict(zip(words_, counts.tolist(), strict=True)), {t: i for i, t in enumerate(tokens)}, matrix)
        return index


class StoredLexicalError(Exception):
    """A stored lexical index is missing, damaged or stale; the caller rebuilds it from the cards."""


def _consistent(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, tokens: int, documents: int) -> bool:
    """A score matrix that cannot index out of bounds: one row per token (bar the empty one), ids < documents."""
    if indptr.ndim != 1 or not 1 <= len(indptr) <= tokens + 1 or len(data) != len(indices):
        return False
    if int(indptr[0]) != 0 or int(indptr[-1]) != len(data) or not bool(np.all(np.diff(indptr) >= 0)):
        return False
    return len(indices) == 0 or (int(indices.min()) >= 0 and int(indices.max()) < documents)


def _blob(items: list[str]) -> np.ndarray:
    """Strings as one newline-joined UTF-8 byte array (corpus words and stems never contain a newline)."""
    return np.frombuffer("\n".join(items).encode("utf-8"), dtype=np.uint8)


def _unblob(blob: np.ndarray, n: int) -> list[str] | None:
    """The strings of `_blob`, or None when there are not exactly n of them."""
    if n == 0:
        return [] if blob.size == 0 else None
    try:
        items = blob.tobytes().decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return None
    return items if len(items) == n else None
