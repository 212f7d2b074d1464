"""Anki's review log -> a profile's progress store, replayed through kb's FSRS scheduler in time order.

Every answered review (revlog ease 1-4) of an imported card becomes one review in the store, at the
moment Anki recorded it, rated again/hard/good/easy from the ease, so the card's FSRS state is the one
those answers give and scheduling continues where Anki left off. Manual reschedules (ease 0) are not
answers and are skipped.

Each Anki card has its own kb card (kb.anki.importer makes one per card template, by the card's
`ord`, and one per cloze number), so its reviews go to that card: a reversed card's reviews to the
reversed question, the "variance" template's to the variance question. When two templates of a note
ask the very same question they are one kb card, which gets the reviews of both. A review already in
the store (same card, same moment) is not added twice, and neither is one older than the card's
latest review there (FSRS replays forward only), so importing twice is safe.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from kb.anki.importer import AnkiImport, ImportedCard
from kb.coach.scheduling import RATING_SCORES, Rating
from kb.notes.cards import Card

if TYPE_CHECKING:
    from kb.coach.progress import ProgressStore

EASE_RATINGS: dict[int, Rating] = {1: "again", 2: "hard", 3: "good", 4: "easy"}
# Anki's first scheduler (schedVer 1) gave learning cards three buttons: again, good, easy.
V1_LEARNING_RATINGS: dict[int, Rating] = {1: "again", 2: "good", 3: "easy"}
LEARNING_KINDS = (0, 2)  # revlog types: learn, relearn


@dataclass
class HistoryReport:
    profile: str
    reviews: int = 0  # replayed into the store
    cards: int = 0  # kb cards that received reviews
    already: int = 0  # skipped: already in the store, or older than the card's latest review there
    unmatched: list[str] = field(default_factory=list)  # imported questions with reviews but no kb card


def rating_for_ease(ease: int, kind: int, sched_version: int) -> Rating | None:
    if sched_version == 1 and kind in LEARNING_KINDS:
        return V1_LEARNING_RATINGS.get(ease)
    return EASE_RATINGS.get(ease)


def _match(imported: ImportedCard, cards_by_key: dict[tuple[str, str], list[Card]]) -> Card | None:
    """The kb card for an imported one: same note and question, the nearest line among duplicates."""
    candidates = cards_by_key.get((imported.note, imported.question), [])
    return min(candidates, key=lambda c: abs(c.line_start - imported.line), default=None)


def replay_history(imported: AnkiImport, cards: Iterable[Card], store: ProgressStore, profile: str) -> HistoryReport:
    """Add the imported cards' Anki reviews to `profile` in `store` (a kb.coach.progress.ProgressStore)."""
    profile = store.clean_profile(profile)
    report = HistoryReport(profile)
    cards_by_key: dict[tuple[str, str], list[Card]] = {}
    for known in cards:
        cards_by_key.setdefault((known.note, known.question), []).append(known)
    events: list[tuple[datetime, Card, Rating]] = []
    for item in imported.cards:
        if not item.reviews:
            continue
        card = _match(item, cards_by_key)
        if card is None:
            report.unmatched.append(f"{item.note or '?'}:{item.line} {item.question}")
            continue
        stored = [datetime.fromisoformat(r.reviewed_at) for r in store.reviews(profile, card.id)]
        latest = max(stored, default=None)
        seen = set(stored)
        for row in item.reviews:
            moment = datetime.fromtimestamp(row.at_ms / 1000, tz=timezone.utc)
            rating = rating_for_ease(row.ease, row.kind, imported.sched_version)
            if rating is None:
                continue
            if moment in seen or (latest is not None and moment <= latest):
                report.already += 1
                continue
            events.append((moment, card, rating))
    touched: set[str] = set()
    for moment, card, rating in sorted(events, key=lambda e: (e[0], e[1].id)):
        store.record_review(profile, card, "", RATING_SCORES[rating], rating=rating, now=moment)
        touched.add(card.id)
        report.reviews += 1
    report.cards = len(touched)
    return report
