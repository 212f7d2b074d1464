"""The grader's two readings, each made once: a card's (per card version and vocabulary) and an answer's
(per answer, against the card it answers). Every check reads these records instead of re-deriving
key points, claims, clauses or vectors itself."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from kb.coach.grade.compared import compared_terms, resolve_ordered_pairs
from kb.coach.grade.negation import claim_clauses, without_negation
from kb.coach.grade.points import KeyPoint, key_points
from kb.coach.grade.relation_clashes import CardRelations, card_relations
from kb.coach.grade.repairs import ClaimWords, card_terms
from kb.coach.grade.text import content_stems, plain_text, split_clauses, split_sentences, tokens, without_non_answers
from kb.embed.base import Encoder
from kb.notes.cards import Card

MAX_ANSWER_CHARS = 4000
MIN_CLAUSE_WORDS = 3  # shorter pieces ("and so on") say no claim a check could test


def _encode(encoder: Encoder, texts: list[str]) -> np.ndarray:
    return encoder.encode(texts) if texts else np.zeros((0, encoder.dim), dtype=np.float32)


@dataclass(frozen=True)
class CardAnalysis:
    """What grading needs from one card, worked out and embedded once."""

    card: Card
    points: list[KeyPoint]
    point_vectors: np.ndarray  # one row per key point
    point_stems: list[set[str]]  # each key point's content stems
    reference: np.ndarray  # the whole answer's embedding
    claims: list[str]  # claim clauses as tokens, and each with the one after it (the form edits are made in)
    claim_owners: list[int]  # the key point each claim comes from
    claim_vectors: np.ndarray
    claim_words: ClaimWords
    terms: set[str]  # the things the card says something about
    clauses: list[str]  # claim clauses with their lead term, as written (negation flips are read on these)
    clause_owners: list[int]
    clause_vectors: np.ndarray  # embedded without their negation words
    compared: dict[str, int]  # compared term stem -> its pole (MSE / MAE / Huber)
    relations: CardRelations
    misconceptions: list[str]  # wrong answers the note lists under the card (markdown)
    misconception_vectors: np.ndarray

    @classmethod
    def of(cls, card: Card, encoder: Encoder) -> CardAnalysis:
        points = key_points(card)
        clauses, clause_owners = claim_clauses(points)
        # a claim and the one after it together: "A large rate speeds training. But we may shoot too far"
        claim_texts = clauses + [f"{a} {b}" for a, b in itertools.pairwise(clauses)]
        claim_owners = clause_owners + clause_owners[:-1]
        claims = [" ".join(tokens(t)) for t in claim_texts]
        mistakes = list(card.misconceptions)
        reference = card.answer_text or card.question
        texts = [p.plain for p in points] + [reference] + claims + [without_negation(c) for c in clauses] + [plain_text(m) for m in mistakes]
        vectors = _encode(encoder, texts)  # one batch: the card is read once
        cuts = list(itertools.accumulate([len(points), 1, len(claims), len(clauses), len(mistakes)]))
        point_vectors, reference_vectors, claim_vectors, clause_vectors, mistake_vectors = np.split(vectors, cuts[:-1])
        return cls(
            card=card, points=points, point_vectors=point_vectors, point_stems=[content_stems(p.plain) for p in points], reference=reference_vectors[0],
            claims=claims, claim_owners=claim_owners, claim_vectors=claim_vectors, claim_words=ClaimWords.of(claims, len(clauses)),
            terms=card_terms(card, [p.plain for p in points if p.kind == "claim"], [p.lead for p in points if p.lead]),
            clauses=clauses, clause_owners=clause_owners, clause_vectors=clause_vectors,
            compared=compared_terms(card, points), relations=card_relations(card, points),
            misconceptions=mistakes, misconception_vectors=mistake_vectors,
        )


def _says_something(sentence: str, question_stems: set[str]) -> bool:
    """False for a sentence that only restates the question ("What is focal loss?" adds nothing)."""
    stems = content_stems(sentence)
    new = stems - question_stems
    return bool(new) and (len(new) >= 2 or len(stems & question_stems) < 2)


@dataclass(frozen=True)
class AnswerAnalysis:
    """One answer read against its card: the sentences that say something, their clauses, the text
    with formula orders named as the card names them, and the embeddings."""

    text: str  # the answer as given (trimmed)
    units: list[str]  # its sentences, less those that only restate the question or say "I don't know"
    unit_clauses: list[str]  # every clause of the units, in order
    renamed: str  # the units joined, KL(q||p) written as the card's name for that order
    pair_clashes: list[str]  # clauses that set a compared term equal to the other order's formula
    written: dict[str, str]  # card name -> the formula the student wrote for it
    vectors: np.ndarray  # one row per unit, then the whole answer

    @classmethod
    def of(cls, card: CardAnalysis, answer: str, encoder: Encoder) -> AnswerAnalysis:
        text = (answer or "").strip()[:MAX_ANSWER_CHARS]
        question_stems = content_stems(card.card.question)
        units = [u for u in (without_non_answers(s) for s in split_sentences(plain_text(text))) if _says_something(u, question_stems)]
        unit_clauses = [c.strip() for u in units for c in split_clauses(u)]
        renamed, pair_clashes, written = resolve_ordered_pairs(card.card, card.points, " ".join(units))
        vectors = _encode(encoder, units + [" ".join(units)]) if units else np.zeros((0, encoder.dim), dtype=np.float32)
        return cls(text, units, unit_clauses, renamed, pair_clashes, written, vectors)

    @property
    def clauses(self) -> list[str]:
        """The clauses long enough to say a claim a check could test."""
        return [c for c in self.unit_clauses if len(c.split()) >= MIN_CLAUSE_WORDS]

    @property
    def said(self) -> str:
        return " ".join(self.units)

    @property
    def whole(self) -> np.ndarray:
        whole: np.ndarray = self.vectors[-1]
        return whole

    @property
    def sentence_vectors(self) -> np.ndarray:
        return self.vectors[:-1]

    def __bool__(self) -> bool:
        return bool(self.units)
