"""Which card an answer fits: an answer much closer to another card than to the one asked answers a
different question. Cards that ask the same question (two notes covering one topic) count as one."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from kb.coach.grade.result import FitsCard
from kb.notes.cards import Card

# Cosine margin (all-MiniLM-L6-v2 scale) by which another card must beat the asked one: neighbours in
# one note overlap a lot, and a vague or padded answer drifts toward them (up to 0.24 on the dev
# triples); an answer to another question sits 0.25-0.65 closer to that card.
OTHER_CARD_MARGIN = 0.25
SAME_QUESTION = 0.80  # question-to-question cosine from which two cards ask the same thing
CANDIDATES = 3  # other cards looked at, nearest first


class CardSpace:
    """The corpus's cards with their index vectors ([n, 2, dim]: the question, and question + answer),
    to place an answer among them."""

    def __init__(self, cards: Iterable[Card], vectors: np.ndarray) -> None:
        self.cards = list(cards)
        vectors = np.asarray(vectors, dtype=np.float32)
        self.questions, self.vectors = vectors[:, 0], vectors[:, 1]
        self.row = {card.id: i for i, card in enumerate(self.cards)}

    def fits_other(self, card: Card, answer_vector: np.ndarray) -> FitsCard | None:
        """The other card this answer answers, when it is clearly closer to it than to `card`; else None."""
        row = self.row.get(card.id)
        if row is None or len(self.cards) < 2:
            return None
        similarity = self.vectors @ answer_vector
        own = float(similarity[row])
        for other in np.argsort(-similarity)[: CANDIDATES + 1]:
            other = int(other)
            if other == row:
                continue
            if float(similarity[other]) - own < OTHER_CARD_MARGIN:
                return None  # the nearest remaining card is not clearly closer
            if not self.same_question(card, self.cards[other]):
                return FitsCard(self.cards[other].id, self.cards[other].question)
        return None

    def same_question(self, a: Card, b: Card) -> bool:
        return float(self.questions[self.row[a.id]] @ self.questions[self.row[b.id]]) >= SAME_QUESTION
