"""Cross-links between cards. (First version: semantic neighbours in other families.)"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Link:
    id: str
    question: str
    family: str
    reason: str
    score: float

    def to_dict(self) -> dict:
        return {"id": self.id, "question": self.question, "family": self.family, "reason": self.reason, "score": round(float(self.score), 4)}


def related_links(kb, card_id: str, k: int = 6) -> list[Link]:
    """The k cards whose question+answer vectors are closest to this card's."""
    card = kb.card(card_id)
    i = kb.cards.index(card)
    full = kb.data.vectors[:, 1, :]
    sims = full @ full[i]
    sims[i] = -np.inf
    order = np.argsort(-sims)[:k]
    return [Link(kb.cards[j].id, kb.cards[j].question, kb.cards[j].family, "similar topic", float(sims[j])) for j in order]
