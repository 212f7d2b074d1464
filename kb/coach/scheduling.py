"""Spaced repetition through the maintained `fsrs` package: grade -> rating, and one review step.

The scheduler itself is fsrs's; this module only maps a 0-100 grade to an FSRS rating and
serialises card state as JSON (fsrs.Card.to_dict / from_dict).
"""
from __future__ import annotations

import functools
import json
from datetime import datetime, timezone

RATING_NAMES = ("again", "hard", "good", "easy")
# grade thresholds: below 50 Again, below 72 Hard, below 90 Good, else Easy
RATING_THRESHOLDS = ((50, "again"), (72, "hard"), (90, "good"))


def rating_for_score(score: float) -> str:
    """The FSRS rating a grade suggests; the user may override it."""
    for limit, name in RATING_THRESHOLDS:
        if score < limit:
            return name
    return "easy"


def rating_explanation() -> str:
    """The mapping in words, e.g. "score < 50 → Again · 50–71 → Hard · 72–89 → Good · ≥ 90 → Easy"."""
    parts, low = [], None
    for limit, name in RATING_THRESHOLDS:
        parts.append(f"score < {limit} → {name.capitalize()}" if low is None else f"{low}–{limit - 1} → {name.capitalize()}")
        low = limit
    return " · ".join(parts + [f"≥ {low} → Easy"])


def _rating(name: str):
    from fsrs import Rating

    key = (name or "").strip().lower()
    if key not in RATING_NAMES:
        raise ValueError(f"unknown rating {name!r}; choose one of {', '.join(RATING_NAMES)}")
    return Rating[key.capitalize()]


@functools.lru_cache(maxsize=1)
def scheduler():
    """One fsrs Scheduler with default parameters; fuzzing off so the same history gives the same schedule."""
    from fsrs import Scheduler

    return Scheduler(enable_fuzzing=False)


def new_state(now: datetime | None = None) -> dict:
    """A fresh fsrs card state, due now."""
    from fsrs import Card

    return Card(card_id=0, due=now or datetime.now(timezone.utc)).to_dict()


def review(state: dict | None, rating: str, now: datetime | None = None) -> dict:
    """The fsrs card state after one review with this rating."""
    from fsrs import Card

    now = now or datetime.now(timezone.utc)
    card = Card.from_dict(state) if state else Card(card_id=0, due=now)
    updated, _log = scheduler().review_card(card, _rating(rating), review_datetime=now)
    return updated.to_dict()


def due_at(state: dict) -> datetime:
    return datetime.fromisoformat(state["due"])


def retrievability(state: dict | None, now: datetime | None = None) -> float:
    """fsrs's estimate of the chance to recall the card now (0 for a card never reviewed)."""
    from fsrs import Card

    if not state or not state.get("last_review"):
        return 0.0
    return float(scheduler().get_card_retrievability(Card.from_dict(state), now or datetime.now(timezone.utc)))


def dumps(state: dict) -> str:
    return json.dumps(state, sort_keys=True)


def loads(text: str | None) -> dict | None:
    return json.loads(text) if text else None
