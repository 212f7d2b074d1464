"""Search over one index's cards, and what the chat asks of it: the `Retriever`.

A Retriever is made for each loaded index (KnowledgeBase rebuilds it when the notes change) and owns
everything that reads the index to find cards: hybrid ranking, the corpus's coverage floor, how close a
text is to one card, which card a name points at, the names the notes never use, and the coverage judge.
The chat (kb/coach/chat.py) receives it, typed by kb.coach.contracts.ChatSearch, and never the facade.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from kb.calibration import SHIPPED, Thresholds
from kb.errors import CardNotFound, QueryError
from kb.notes.cards import Card
from kb.retrieval.coverage import DEFAULT_COVERAGE_MODEL, CoverageModel, Judgement, coverage_signals, judge
from kb.retrieval.index import IndexData
from kb.retrieval.lexical import LexicalIndex
from kb.retrieval.search import (
    COVERAGE_QUANTILE,
    Hit,
    clean_query,
    coverage_floor,
    dense_query_text,
    dense_scores,
    is_confident,
    nearest_other_scores,
    rank,
    search_mode,
)
from kb.vocab import named_terms, plain_words


class Retriever:
    """Hybrid search and coverage over one index. `query_vector(text)` embeds a query (the caller keeps
    its cache, which outlives an index reload)."""

    def __init__(self, data: IndexData, lexical: LexicalIndex, query_vector: Callable[[str], np.ndarray], thresholds: Thresholds = SHIPPED):
        self.data = data
        self.thresholds = thresholds  # the label-free thresholds for this index's model (kb/calibration.py)
        self.cards = data.cards
        self.lexical = lexical
        self._query_vector = query_vector
        self._row_of = {card.id: row for row, card in enumerate(self.cards)}
        self._family_of = np.array([c.family for c in self.cards], dtype=object)
        self._lock = threading.Lock()
        self._nearest_other: np.ndarray | None = None
        self._question_words: dict[str, set[int]] | None = None

    # ---- cards -----------------------------------------------------------------------------------
    def has_card(self, card_id: str) -> bool:
        return isinstance(card_id, str) and card_id in self._row_of

    def card(self, card_id: str) -> Card:
        row = self._row_of.get(card_id) if isinstance(card_id, str) else None
        if row is None:
            raise CardNotFound(f"no card with id {str(card_id)[:200]!r}")
        return self.cards[row]

    def family_mask(self, family: str | list[str] | None) -> np.ndarray | None:
        """A boolean mask of the cards in `family` (or any of several); QueryError names an unknown family."""
        if not family:
            return None
        wanted = [family] if isinstance(family, str) else list(family)
        known = {name.lower(): name for name in dict.fromkeys(self._family_of.tolist())}
        chosen = []
        for name in wanted:
            if name.lower() not in known:
                raise QueryError(f"unknown family {name!r}; known families: {', '.join(known.values())}")
            chosen.append(known[name.lower()])
        return np.isin(self._family_of, chosen)

    # ---- search ----------------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, family: str | list[str] | None = None, mode: str = "hybrid") -> list[Hit]:
        """Ranked hits for a query. `family` restricts to one family (or a list of them)."""
        checked = search_mode(mode)
        text = clean_query(query)
        allowed = self.family_mask(family)
        k = max(1, int(k))
        n = len(self.cards)
        lexical = self.lexical.scores(text) if checked != "dense" else np.zeros(n, dtype=np.float32)
        if checked != "lexical":
            vector = self._query_vector(dense_query_text(text, self.lexical))
            dense = dense_scores(self.data.vectors, vector, self.data.faiss_index, candidates=max(200, 20 * k))
        else:
            dense = np.zeros(n, dtype=np.float32)
        return rank(self.cards, dense, lexical, k, mode=checked, allowed=allowed)

    def knows(self, word: str) -> bool:
        """Whether the notes use this word (or one a typo away)."""
        return self.lexical.knows(word)

    # ---- coverage ----------------------------------------------------------------------------------
    def coverage_floor(self, quantile: float = COVERAGE_QUANTILE) -> float:
        """The dense score below which a question is not about a card of this index (self-calibrated: the
        `quantile`-th percentile of how close each card's question is to the nearest other card)."""
        with self._lock:
            if self._nearest_other is None:
                self._nearest_other = nearest_other_scores(self.data.vectors)
            scores = self._nearest_other
        return coverage_floor(scores, quantile)

    def closeness(self, text: str, card_id: str) -> float:
        """The dense score a search for `text` gives this card (the same vector mix as `search`)."""
        row = self._row_of.get(card_id)
        if row is None:
            raise CardNotFound(f"no card with id {str(card_id)[:200]!r}")
        vector = self._query_vector(dense_query_text(clean_query(text), self.lexical))
        return float(dense_scores(self.data.vectors[row : row + 1], vector)[0])

    def judge_coverage(self, question: str, hits: list[Hit], model: CoverageModel = DEFAULT_COVERAGE_MODEL) -> Judgement:
        """Whether `hits[0]` answers `question`: `answer`, `closest` or `abstain`, with the chance and the
        signals behind it (kb/retrieval/coverage.py)."""
        signals = coverage_signals(hits, self.coverage_floor(), self.lexical, question, self._row_of[hits[0].card.id])
        return judge(signals, replace(model, near_dense=self.thresholds["coverage.near_dense"]))

    def confident(self, hits: list[Hit]) -> bool:
        """The plain rule: the top hit clears the search's confidence threshold and the coverage floor."""
        return is_confident(hits, self.coverage_floor(), self.thresholds["search.abstain_threshold"])

    def card_named_by(self, text: str) -> Card | None:
        """The one card whose question names every name the text uses ("Explain InfoNCE." for "why does
        InfoNCE need large batches?"); None when the text names nothing the notes know, or when several
        cards' questions name it (then the name alone does not say which card is meant)."""
        names = [plain_words(term) for term in named_terms(text) if self.lexical.knows_term(term)]
        if not names:
            return None
        by_word = self._words_of_questions()
        rows = set.intersection(*(by_word.get(word, set()) for name in names for word in name))
        return self.cards[rows.pop()] if len(rows) == 1 else None

    def unfamiliar_terms(self, text: str) -> list[str]:
        """The names a text uses ("DBSCAN", "Adam") that the notes never mention, in any spelling the synonym list knows."""
        return [term for term in named_terms(text) if not self.lexical.knows_term(term)]

    def _words_of_questions(self) -> dict[str, set[int]]:
        """word -> the rows of the cards whose question uses it."""
        with self._lock:
            if self._question_words is None:
                by_word: dict[str, set[int]] = {}
                for row, card in enumerate(self.cards):
                    for word in plain_words(card.question):
                        by_word.setdefault(word, set()).add(row)
                self._question_words = by_word
            return self._question_words
