"""The user's own labelled answers to a card, as references for grading it again.

Spaced repetition brings every card back, and each answer the user marks (right, wrong, a key point
said or not, a contradiction dismissed) is a graded example for that card in their own words. A new
answer close to one marked right earns the key points that answer covered; one close to an answer
marked wrong scores low, and the feedback names that earlier answer. Only explicit marks are
labels: an accepted suggested rating is not, or the grader would learn from itself.

Vectors of labelled answers are stored with them (never re-encoded); a vector made by another
embedding model is not compared.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kb.coach.grade.text import content_stems

LIKE_ANSWER = 0.80  # cosine of whole answers from which a new answer is "like" one marked right
# A sentence this much closer to a sentence of an answer marked wrong than to the card's key points and
# to the answers marked right repeats its mistake (whole answers on one card all look alike; set on
# the review dev files, where repeats in other words sit at a median 0.08 and strong answers at 0.01).
WRONG_SENTENCE_MARGIN = 0.06
TRUSTED_RIGHT = 0.92  # this close to an answer marked right, no rule-based contradiction stands
WRONG_CAP = 30  # the most an answer like one marked wrong can score


@dataclass(frozen=True)
class LabelledAnswer:
    id: int
    answer: str
    label: str  # "right", "wrong", or "" (only key points were marked)
    marked_at: str  # ISO time
    covered: tuple[str, ...]  # the key points (text) that answer said, the user's marks applied
    points: dict[str, bool] = field(default_factory=dict)  # the user's own marks: point text -> said
    vector: np.ndarray | None = field(default=None, compare=False)  # the whole answer's embedding
    sentences: np.ndarray | None = field(default=None, compare=False)  # each sentence's (rows)

    @property
    def credited(self) -> set[str]:
        """The points a close answer earns: all it covered if marked right, else only those the user said it said."""
        if self.label == "right":
            return set(self.covered)
        return {point for point, said in self.points.items() if said}


@dataclass(frozen=True)
class LikeEarlier:
    """The labelled answer a new one is like."""

    answer: str
    label: str
    marked_at: str
    similarity: float

    def to_dict(self) -> dict[str, Any]:  # JSON-ready
        return {"answer": self.answer, "label": self.label, "marked_at": self.marked_at, "similarity": round(self.similarity, 3)}


@dataclass(frozen=True)
class CardHistory:
    """One profile's labels for one card."""

    answers: tuple[LabelledAnswer, ...] = ()
    dismissed: frozenset[str] = frozenset()  # card sentences marked "not a contradiction"

    def __bool__(self) -> bool:
        return bool(self.answers or self.dismissed)

    def same_answer(self, answer: str) -> LabelledAnswer | None:
        """The latest labelled answer with exactly this text (spacing and case aside)."""
        key = normalized(answer)
        return next((a for a in reversed(self.answers) if normalized(a.answer) == key), None)

    def nearest(self, vector: np.ndarray, labels: tuple[str, ...]) -> tuple[LabelledAnswer | None, float]:
        """The labelled answer with one of these labels closest to `vector`, and its cosine (-1 with none)."""
        best, best_sim = None, -1.0
        for labelled in self.answers:
            if labelled.label not in labels or labelled.vector is None or labelled.vector.shape != vector.shape:
                continue
            sim = float(labelled.vector @ vector)
            if sim > best_sim:
                best, best_sim = labelled, sim
        return best, best_sim


def repeats_mistake(sentences: np.ndarray, wrong: LabelledAnswer, points: np.ndarray, right: list[LabelledAnswer]) -> float:
    """How much closer the answer's closest sentence is to a sentence of `wrong` than to anything the
    card or the answers marked right say (-1 when it cannot be told)."""
    if wrong.sentences is None or not len(wrong.sentences) or not len(sentences) or wrong.sentences.shape[1] != sentences.shape[1]:
        return -1.0
    references = [points] + [a.sentences for a in right if a.sentences is not None and a.sentences.shape[1] == sentences.shape[1]]
    closest_right = np.max(np.hstack([sentences @ r.T for r in references if len(r)]), axis=1)
    return float(((sentences @ wrong.sentences.T).max(axis=1) - closest_right).max())


def normalized(answer: str) -> str:
    return " ".join((answer or "").split()).casefold()


def corrects(answer: str, wrong: str, card_text: str) -> bool:
    """Does `answer`, close to an answer marked wrong, fix it? It does when the words it adds to that
    answer are the card's more than the words it drops are ("larger" -> "smaller", as the card says)."""
    said, before, card = content_stems(answer), content_stems(wrong), content_stems(card_text)
    return len((said - before) & card) > len((before - said) & card)
