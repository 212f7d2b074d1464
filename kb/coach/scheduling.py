"""Spaced repetition through the maintained `fsrs` package: grade -> rating, and one review step.

The scheduler itself is fsrs's; this module only maps a 0-100 grade to an FSRS rating and
serialises card state as JSON (fsrs.Card.to_dict / from_dict). Every function that schedules takes
optional `parameters` (fsrs's 21 weights): None means fsrs's defaults; a profile's fitted weights
(kb/coach/fsrs_fit.py, stored by the progress store) are passed in by the store.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # fsrs is imported where it is used
    import fsrs
    from fsrs.card import CardDict

Rating = Literal["again", "hard", "good", "easy"]  # as stored with each review
RATING_NAMES: tuple[Rating, ...] = ("again", "hard", "good", "easy")
# grade thresholds: below 50 Again, below 72 Hard, below 90 Good, else Easy
RATING_THRESHOLDS: tuple[tuple[int, Rating], ...] = ((50, "again"), (72, "hard"), (90, "good"))
# The score stored with a review imported without a grade (an Anki log, a flashcard plugin's state):
# the middle of the grade band that suggests the same rating, so mastery reads like an interview's.
RATING_SCORES: dict[Rating, int] = {"again": 25, "hard": 61, "good": 81, "easy": 95}


def rating_for_score(score: float) -> Rating:
    """The FSRS rating a grade suggests; the user may override it."""
    for limit, name in RATING_THRESHOLDS:
        if score < limit:
            return name
    return "easy"


def rating_explanation() -> str:
    """The mapping in words, e.g. "score < 50 → Again · 50–71 → Hard · 72–89 → Good · ≥ 90 → Easy"."""
    parts: list[str] = []
    low: int | None = None
    for limit, name in RATING_THRESHOLDS:
        parts.append(f"score < {limit} → {name.capitalize()}" if low is None else f"{low}–{limit - 1} → {name.capitalize()}")
        low = limit
    return " · ".join(parts + [f"≥ {low} → Easy"])


def _rating(name: str) -> fsrs.Rating:
    from fsrs import Rating

    key = (name or "").strip().lower()
    if key not in RATING_NAMES:
        raise ValueError(f"unknown rating {name!r}; choose one of {', '.join(RATING_NAMES)}")
    return Rating[key.capitalize()]


def default_parameters() -> tuple[float, ...]:
    """fsrs's default weights (what every profile uses until a fit beats them)."""
    from fsrs.scheduler import DEFAULT_PARAMETERS

    return tuple(float(w) for w in DEFAULT_PARAMETERS)


@functools.lru_cache(maxsize=16)
def _scheduler(parameters: tuple[float, ...] | None) -> fsrs.Scheduler:
    from fsrs import Scheduler

    if parameters is None:
        return Scheduler(enable_fuzzing=False)
    return Scheduler(parameters=parameters, enable_fuzzing=False)


def scheduler(parameters: Iterable[float] | None = None) -> fsrs.Scheduler:
    """An fsrs Scheduler with these weights (None: the defaults); fuzzing off so the same history gives the same schedule."""
    return _scheduler(tuple(float(w) for w in parameters) if parameters is not None else None)


def review(state: CardDict | None, rating: str, now: datetime | None = None, parameters: Iterable[float] | None = None) -> CardDict:
    """The fsrs card state after one review with this rating (scheduled with `parameters`, None: defaults)."""
    from fsrs import Card

    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    card = Card.from_dict(state) if state else Card(card_id=0, due=now)
    updated, _log = scheduler(parameters).review_card(card, _rating(rating), review_datetime=now)
    return updated.to_dict()


def due_at(state: CardDict) -> datetime:
    return datetime.fromisoformat(state["due"])


def retrievability(state: CardDict | None, now: datetime | None = None, parameters: Iterable[float] | None = None) -> float:
    """fsrs's estimate of the chance to recall the card now (0 for a card never reviewed)."""
    from fsrs import Card

    if not state or not state.get("last_review"):
        return 0.0
    return float(scheduler(parameters).get_card_retrievability(Card.from_dict(state), now or datetime.now(timezone.utc)))


def dumps(state: CardDict) -> str:
    return json.dumps(state, sort_keys=True)


def loads(text: str | None) -> CardDict | None:
    if not text:
        return None
    state: CardDict = json.loads(text)  # written by dumps
    return state
