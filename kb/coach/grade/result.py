"""What a grade says: the score, each key point with the answer's words that cover it, the missed
points, each contradiction beside the card sentence it contradicts, and the card an off-topic answer
fits instead. Plain data; the interview and the CLI render it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from kb.coach.grade.history import LikeEarlier
from kb.coach.grade.points import KeyPoint

# What kind of mistake a contradicting clause makes (stored and shown as these strings).
ContradictionKind = Literal[
    "opposite_attribute", "reversed_comparison", "definition_swap", "role_swap", "swapped_order", "wrong_number", "negation",
    "dismissed", "misconception",
]
# The check that found it (kb/coach/grade/checks.py CHECKS; "" when not recorded).
ContradictionRule = Literal[
    "repair", "attribute", "ordered_pair", "comparison", "misattribution", "number", "superlative", "dismissal", "role_order", "denial",
    "needless", "negation", "misconception", "",
]


@dataclass(frozen=True)
class CoveredPoint:
    point: str  # the card's key point (markdown)
    span: str  # the answer's words that say it: a clause of its closest sentence

    def to_dict(self) -> dict[str, Any]:  # JSON-ready
        return {"point": self.point, "span": self.span}


@dataclass(frozen=True)
class Contradiction:
    answer_span: str  # the answer's clause
    card_sentence: str  # the card's key point it says the opposite of (markdown)
    kind: ContradictionKind
    rule: ContradictionRule = ""

    def to_dict(self) -> dict[str, Any]:  # JSON-ready
        return {"answer_span": self.answer_span, "card_sentence": self.card_sentence, "kind": self.kind, "rule": self.rule}


@dataclass(frozen=True)
class FitsCard:
    """The card an answer answers instead of the one asked."""
    id: str
    question: str

    def to_dict(self) -> dict[str, Any]:  # JSON-ready
        return {"id": self.id, "question": self.question}


@dataclass
class Grade:
    score: int
    covered: list[CoveredPoint]
    missed: list[str]
    contradictions: list[Contradiction] = field(default_factory=list)
    fits_card: FitsCard | None = None
    said_nothing: bool = False  # empty, "I don't know", or only the question again
    coverage: list[float] = field(default_factory=list)  # per key point, in key-point order
    key_points: list[KeyPoint] = field(default_factory=list)
    doubted: list[str] = field(default_factory=list)  # clauses a rule read as a clash that no edit bore out (cost a little; feedback: worth checking)
    confident: bool = True  # False: neither confident coverage nor a confident contradiction ("I can't tell")
    like: LikeEarlier | None = None  # the user's labelled answer to this card that this one is like
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)  # the whole answer's embedding
    sentence_vectors: np.ndarray | None = field(default=None, repr=False, compare=False)  # each graded sentence's

    def to_dict(self) -> dict[str, Any]:  # JSON-ready
        return {
            "score": self.score,
            "confident": self.confident,
            "covered": [c.to_dict() for c in self.covered],
            "missed": self.missed,
            "contradictions": [c.to_dict() for c in self.contradictions],
            "fits_card": self.fits_card.to_dict() if self.fits_card else None,
            "like_earlier": self.like.to_dict() if self.like else None,
        }
