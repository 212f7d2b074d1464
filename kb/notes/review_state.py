"""Review state that came with the notes: the Obsidian Spaced Repetition plugin's `<!--SR:...-->`
comments and Logseq's `card-*::` block properties. Metadata, never card text.

Both record where a card's schedule stands, not the reviews behind it, so the state becomes one
review: the last one, at the moment it was made, rated from what the plugin kept of it.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Literal

SR_COMMENT_RE = re.compile(r"<!--SR:((?:![^!>]*)+)-->")
SR_GROUP_RE = re.compile(r"!(\d{4}-\d{2}-\d{2}),(\d+),(\d+)")
LOGSEQ_CARD_PROPS = ("card-last-interval", "card-repeats", "card-ease-factor", "card-next-schedule", "card-last-reviewed", "card-last-score")
DEFAULT_EASE = 250  # the SR plugin's starting ease; below it the card was answered hard at some point

# One plugin's state as stored on the card (and in cards.json): "source" plus that plugin's fields.
ReviewState = dict[str, str | int]
# The FSRS ratings, as kb.coach.scheduling.Rating spells them (the notes room cannot import the coach's).
StateRating = Literal["again", "hard", "good", "easy"]


def sr_states(comment: str) -> list[ReviewState]:
    """Each `!due,interval,ease` group of one SR comment, in order (a cloze note has one per deletion)."""
    return [
        {"source": "obsidian-sr", "due": due, "interval": int(interval), "ease": int(ease)}
        for due, interval, ease in SR_GROUP_RE.findall(comment)
    ]


def logseq_state(props: dict[str, str]) -> ReviewState | None:
    """The `card-*` properties of one Logseq block, or None when it has never been reviewed."""
    if not any(key in props for key in LOGSEQ_CARD_PROPS):
        return None
    state: ReviewState = {"source": "logseq"}
    for key in LOGSEQ_CARD_PROPS:
        if key in props:
            state[key.removeprefix("card-").replace("-", "_")] = props[key].strip()
    return state


def last_review(state: ReviewState) -> tuple[datetime, StateRating] | None:
    """(when, rating) of the one review a stored state stands for; None when it cannot be told."""
    try:
        if state.get("source") == "obsidian-sr":
            due = date.fromisoformat(str(state["due"]))
            moment = datetime.combine(due - timedelta(days=int(state["interval"])), datetime.min.time(), timezone.utc)
            rating: StateRating = "good" if int(state["ease"]) >= DEFAULT_EASE else "hard"
            return moment, rating
        if state.get("source") == "logseq" and state.get("last_reviewed"):
            moment = datetime.fromisoformat(str(state["last_reviewed"]).replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            score = int(float(state.get("last_score", "3")))
            rating = "again" if score <= 1 else "easy" if score >= 5 else "good"
            return moment, rating
    except (KeyError, ValueError):
        return None
    return None
