"""Does the nearest card answer the question? Signals that hold across notes, and the three outcomes.

One cosine floor cannot tell "the same subject in other words" from "a neighbouring subject in the
same words": the small bi-encoder sees the two alike (gradient clipping vs gradient accumulation).
So the judge reads several signals of the top hit, each measured on the corpus's own statistics:

  dense      the top card's cosine above the corpus's coverage floor (kb.retrieval.search)
  fused      the hybrid score of the top card
  margin     how far the top card leads the second
  agreement  whether dense and lexical search each rank the top card first
  subject    the share of the question's subject words (weighted by rarity in this corpus) that the
             card itself uses, in any form the synonym list knows
  elsewhere  how rare the rarest subject word is that the card lacks and other cards use (its inverse
             document frequency, scaled to 0..1)
  unknown    the share of the subject words' weight on words no card uses

A logistic model of those signals (its weights in DEFAULT_COVERAGE_MODEL below, fitted by
benchmarks/calibrate_chat.py with leave-one-corpus-out) gives the chance the card answers it:
`answer` from its answer_chance up, otherwise `closest` when the card is near at all (its cosine within
near_dense of the corpus's floor: the hybrid score drifts with a corpus's vocabulary, the cosine less so;
and it uses one of the question's subject words), `abstain` when not.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from kb.vocab import CONVERSATION_WORDS, STOPWORDS, plain_words, stemmer

if TYPE_CHECKING:
    from kb.retrieval.lexical import LexicalIndex
    from kb.retrieval.search import Hit

Outcome = Literal["answer", "closest", "abstain"]
SIGNALS = ("dense", "fused", "margin", "agreement", "subject", "elsewhere", "unknown")


@dataclass(frozen=True)
class SubjectWord:
    word: str  # as the question wrote it (its typo-repaired form decides the rest)
    rarity: float  # inverse document frequency in this corpus, 0..1 (1: no card uses it)
    in_card: bool
    in_corpus: bool  # some card uses it


@dataclass
class CoverageSignals:
    dense: float
    fused: float
    margin: float
    agreement: float
    subject: float
    elsewhere: float
    unknown: float
    subject_words: list[SubjectWord] = field(default_factory=list)

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in SIGNALS], dtype=np.float64)

    @property
    def missing_words(self) -> list[str]:
        """The question's subject words the card does not use, rarest first."""
        return [w.word for w in sorted(self.subject_words, key=lambda w: -w.rarity) if not w.in_card]


def subject_words(lexical: LexicalIndex, question: str, row: int) -> list[SubjectWord]:
    """The question's content words, with their rarity in the corpus and whether card `row` uses them.

    A word counts as used when the card has its stem, or a synonym phrase that contains it and that the
    card names in another form ("PPO" for "proximal policy optimization")."""
    seq = plain_words(lexical.corrected(question))
    as_written = plain_words(question)
    if len(as_written) != len(seq):  # a repair changed the word count: show the repaired words
        as_written = seq
    cased = {word.lower(): word for word in reversed(re.findall(r"[A-Za-z0-9]+", question))}  # "DBSCAN", not "dbscan"
    as_written = [cased.get(word, word) for word in as_written]
    stems = stemmer().stemWords(seq)
    concept_of: dict[int, set[int]] = {}
    for start, end, groups in lexical.synonyms.spans(stems):
        for i in range(start, end):
            concept_of.setdefault(i, set()).update(groups)
    n = max(lexical.size, 1)
    top_rarity = math.log(n + 1)
    out: dict[str, SubjectWord] = {}
    for i, (word, stem, written) in enumerate(zip(seq, stems, as_written, strict=True)):
        if word in STOPWORDS or word in CONVERSATION_WORDS or len(word) < 2 or word.isdigit() or stem in out:
            continue
        docs = lexical.documents_with(stem)
        rarity = math.log((n + 1) / (len(docs) + 1)) / top_rarity
        in_card = row in docs or any(row in lexical.documents_with_concept(g) for g in concept_of.get(i, ()))
        out[stem] = SubjectWord(written, round(rarity, 4), in_card, bool(docs))
    return list(out.values())


def coverage_signals(hits: list[Hit], floor: float, lexical: LexicalIndex, question: str, row: int) -> CoverageSignals:
    """The signals for the top hit of `hits` (the hybrid search's list; `row` is the top card's row).

    Agreement is read from the same list: the hit with the best dense score and the one with the best
    BM25 score (the fused top-k nearly always holds both searches' first card)."""
    from kb.retrieval.search import confidence_signal

    top = hits[0]
    margin = top.score - hits[1].score if len(hits) > 1 else top.score
    dense_first = max(hits, key=lambda h: h.dense) is top
    lexical_first = top.lexical > 0 and max(hits, key=lambda h: h.lexical) is top
    words = subject_words(lexical, question, row)
    mass = sum(w.rarity for w in words)
    subject = sum(w.rarity for w in words if w.in_card) / mass if mass > 0 else 1.0
    # A rare word the card lacks but other cards use names another subject of these notes ("clipping"
    # beside gradient accumulation); words no card uses are more often a paraphrase's own words.
    elsewhere = max((w.rarity for w in words if not w.in_card and w.in_corpus), default=0.0)
    unknown = sum(w.rarity for w in words if not w.in_corpus) / mass if mass > 0 else 0.0
    return CoverageSignals(top.dense - floor, confidence_signal(hits[:1]), margin, 0.5 * dense_first + 0.5 * lexical_first, subject,
                           elsewhere, unknown, words)


@dataclass(frozen=True)
class CoverageModel:
    """A logistic model of the signals, and the two bars that turn its chance into an outcome."""

    weights: tuple[float, ...]  # one per SIGNALS entry
    bias: float
    answer_chance: float  # `answer` at or above this chance
    near_dense: float  # a top card's cosine this far below the coverage floor (or further) is not near: `abstain`

    def chance(self, signals: CoverageSignals) -> float:
        return self.chance_of(signals.vector())

    def chance_of(self, vector: Sequence[float] | np.ndarray) -> float:
        """The chance for a signal vector in SIGNALS order."""
        z = float(np.dot(self.weights, vector)) + self.bias
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass
class Judgement:
    outcome: Outcome
    chance: float
    signals: CoverageSignals


def judge(signals: CoverageSignals, model: CoverageModel) -> Judgement:
    chance = model.chance(signals)
    if chance >= model.answer_chance:
        return Judgement("answer", chance, signals)
    return Judgement("closest" if is_near(signals.dense, signals.subject, model) else "abstain", chance, signals)


def is_near(dense: float, subject: float, model: CoverageModel) -> bool:
    """Whether the top card is near the question at all: close enough in meaning, and using at least one of
    its subject words (a card that shares none of them has nothing to say about what was asked)."""
    return dense >= model.near_dense and subject > 0


# Fitted by benchmarks/calibrate_chat.py on the dev lines of every corpus (see its docstring), all-MiniLM-L6-v2.
DEFAULT_COVERAGE_MODEL = CoverageModel(weights=(4.384, 5.03, 3.135, 0.0, 3.159, 0.0, 0.0), bias=-4.242, answer_chance=0.59, near_dense=-0.1302)
