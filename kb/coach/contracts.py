"""What the coach needs from the rooms below it, as Protocols: the chat depends on these small contracts,
not on the whole KnowledgeBase. kb.retrieval.retriever.Retriever is a ChatSearch, any kb.embed encoder a
TextEncoder. The contracts that name the progress store live beside their users, so that no import cycle
runs through here: KnowledgeBase is a kb.coach.interview.InterviewKnowledge and a
kb.coach.progress.ProfileKnowledge."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from kb.calibration import Thresholds
    from kb.links.related import Link
    from kb.notes.cards import Card
    from kb.retrieval.coverage import Judgement
    from kb.retrieval.search import Hit


class TextEncoder(Protocol):
    """Sentence vectors, unit length: a batch of texts, or one query."""

    def encode(self, texts: list[str]) -> np.ndarray: ...

    def encode_query(self, text: str) -> np.ndarray: ...


class ChatSearch(Protocol):
    """The search and coverage reads the chat makes."""

    thresholds: Thresholds  # the label-free thresholds for this index's model

    def confident(self, hits: list[Hit]) -> bool: ...

    def search(self, query: str, k: int = ..., family: str | list[str] | None = ..., mode: str = ...) -> list[Hit]: ...

    def has_card(self, card_id: str) -> bool: ...

    def card(self, card_id: str) -> Card: ...

    def knows(self, word: str) -> bool: ...

    def coverage_floor(self, quantile: float = ...) -> float: ...

    def closeness(self, text: str, card_id: str) -> float: ...

    def card_named_by(self, text: str) -> Card | None: ...

    def unfamiliar_terms(self, text: str) -> list[str]: ...

    def judge_coverage(self, question: str, hits: list[Hit]) -> Judgement: ...


# A card's see-also links, best first: (card id, k) -> links (KnowledgeBase.related).
RelatedLinks = Callable[[str, int], Sequence["Link"]]

