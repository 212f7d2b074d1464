"""Review state that came with the notes (Obsidian Spaced Repetition comments, Logseq `card-*`
properties; kb.notes.review_state) -> a profile's progress store, when the user asks for it.

Each state stands for the card's last review only (the plugins keep no log), so one review is
replayed per card, at the moment it was made and rated from what the plugin kept. A card whose
stored reviews already reach that moment is left alone, so bringing the states in twice is safe.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from kb.coach.scheduling import RATING_SCORES, Rating
from kb.notes.cards import Card
from kb.notes.review_state import last_review

if TYPE_CHECKING:
    from kb.coach.progress import ProgressStore


@dataclass
class NoteHistoryReport:
    profile: str
    reviews: int = 0  # replayed into the store
    already: int = 0  # the store already has a review at or after that moment
    unreadable: list[str] = field(default_factory=list)  # card ids whose state could not be read


def replay_note_states(cards: Iterable[Card], store: ProgressStore, profile: str) -> NoteHistoryReport:
    """Add one review per card that carries review state to `profile` in `store` (a ProgressStore)."""
    profile = store.clean_profile(profile)
    report = NoteHistoryReport(profile)
    events: list[tuple[datetime, Card, Rating]] = []
    for card in cards:
        if not card.schedule:
            continue
        review = last_review(card.schedule)
        if review is None:
            report.unreadable.append(card.id)
            continue
        moment, rating = review
        latest = max((datetime.fromisoformat(r.reviewed_at) for r in store.reviews(profile, card.id)), default=None)
        if latest is not None and moment <= latest:
            report.already += 1
            continue
        events.append((moment, card, rating))
    for moment, card, rating in sorted(events, key=lambda e: (e[0], e[1].id)):
        store.record_review(profile, card, "", RATING_SCORES[rating], rating=rating, now=moment)
        report.reviews += 1
    return report
