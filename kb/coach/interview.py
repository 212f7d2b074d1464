"""The mock interview as a UI-free state machine: the CLI and the web tab both drive InterviewSession.

    session = InterviewSession(kb, store, profile="ana", families=None, length=5, mode="due")
    turns = session.start()              # [Turn(kind="question", ...)]
    turns = session.handle("my answer")  # grade, then a follow-up or the next question
    turns = session.handle("hint")       # also "skip", "repeat", "end"
    session.set_rating("good")           # override the suggested FSRS rating of the last answer

Every method returns a list of Turns (kind, text in markdown, data); surfaces only format them.
Each answer is written to the progress store (if one is given) as soon as it is graded.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from kb.coach import scheduling
from kb.coach.feedback import feedback_blocks, next_line
from kb.coach.grade import Grade, key_points, max_score_after_hints
from kb.errors import QueryError

if TYPE_CHECKING:
    from kb.coach.progress import PointMarks, ProfileProgress, ProgressStore
    from kb.links.related import Link
    from kb.notes.cards import Card

MODES = ("due", "weakest", "random")
COMMANDS = ("hint", "skip", "repeat", "end")
MAX_LENGTH = 100
# The families to ask: one, several, or None / "all" / a list holding "all" for every card.
Families = str | Sequence[str] | None


class InterviewKnowledge(Protocol):
    """What an interview session reads: the cards, their links, grading and a profile's corrections
    (KnowledgeBase is one; this contract names the progress store, so it lives here, not in kb.coach.contracts)."""

    def cards(self, family: str | list[str] | None = ...) -> list[Card]: ...

    def families(self) -> list[tuple[str, int]]: ...

    def card(self, card_id: str) -> Card: ...

    def has_card(self, card_id: str) -> bool: ...

    def related(self, card_id: str, k: int = ...) -> list[Link]: ...

    def grade(self, card_id: str | Card, answer: str, hints: int = ..., profile: str | None = ..., store: ProgressStore | None = ...) -> Grade: ...

    def progress(self, profile: str = ..., store: ProgressStore | None = ...) -> ProfileProgress: ...


@dataclass
class Turn:
    kind: str  # question | grade | hint | info | summary
    text: str  # markdown (formulas as $...$ for KaTeX)
    data: dict[str, Any] = field(default_factory=dict)  # JSON-ready details for the surfaces


class SummaryRow(TypedDict):
    """One question of the summary turn's data."""

    card_id: str
    question: str
    family: str
    score: int | None
    rating: str | None
    skipped: bool


@dataclass
class Asked:
    card_id: str
    question: str
    family: str
    follow_up_of: str | None = None
    hints: int = 0
    grade: Grade | None = None
    review_id: int | None = None
    rating: str | None = None
    skipped: bool = False
    answer: str | None = None  # as graded, so corrections can label it


def choose_cards(kb: InterviewKnowledge, store: ProgressStore | None, profile: str, families: Families, length: int, mode: str, rng: random.Random,
                 now: datetime | None = None) -> list[Card]:
    """The cards to ask, in order. "due": due cards first (most overdue), then never-seen, then the weakest;
    "weakest": lowest last score first, then never-seen; "random": shuffled."""
    if mode not in MODES:
        raise QueryError(f"unknown interview mode {mode!r}; choose one of {', '.join(MODES)}")
    pool = _pool(kb, families)
    if not pool:
        raise QueryError("no cards to ask in the chosen families")
    states = store.card_states(profile) if store else {}
    now_iso = (now or datetime.now(timezone.utc)).isoformat()
    shuffled = pool[:]
    rng.shuffle(shuffled)  # ties are broken at random, so two interviews differ
    if mode == "random":
        ordered = shuffled
    elif mode == "weakest":
        ordered = sorted(shuffled, key=lambda c: (0, states[c.id].last_score) if c.id in states else (1, 0))
    else:
        def due_key(card: Card) -> tuple[int, str, int]:
            state = states.get(card.id)
            if state is None:
                return (1, "", 0)
            if state.due <= now_iso:
                return (0, state.due, 0)
            return (2, "", state.last_score if state.last_score is not None else 0)

        ordered = sorted(shuffled, key=due_key)
    return ordered[: max(1, min(int(length), MAX_LENGTH))]


def _pool(kb: InterviewKnowledge, families: Families) -> list[Card]:
    if not families or families == "all" or (isinstance(families, (list, tuple)) and "all" in families):
        return kb.cards()
    wanted = [families] if isinstance(families, str) else list(families)
    known = {name.lower(): name for name, _ in kb.families()}
    chosen: set[str] = set()
    for name in wanted:
        if name.lower() not in known:
            raise QueryError(f"unknown family {name!r}; known families: {', '.join(known.values())}")
        chosen.add(known[name.lower()])
    return [c for c in kb.cards() if c.family in chosen]


class InterviewSession:
    def __init__(self, kb: InterviewKnowledge, store: ProgressStore | None = None, profile: str = "default", families: Families = None, length: int = 5,
                 mode: str = "due", seed: int | None = None, follow_ups: bool = True, card_ids: list[str] | None = None) -> None:
        self.kb = kb
        self.store = store
        self.profile = store.clean_profile(profile) if store else (profile or "default")
        self.families = families
        self.length = max(1, min(int(length), MAX_LENGTH))
        self.mode = mode
        self.rng = random.Random(seed)
        self.follow_ups = follow_ups
        self.card_ids = list(card_ids or [])  # ask exactly these cards, in order (instead of choosing)
        self.queue: list[Card] = []
        self.asked: list[Asked] = []
        self.finished = False

    # ---- state -----------------------------------------------------------------------------------
    @property
    def current(self) -> Asked | None:
        if self.asked and self.asked[-1].grade is None and not self.asked[-1].skipped:
            return self.asked[-1]
        return None

    @property
    def last_graded(self) -> Asked | None:
        for asked in reversed(self.asked):
            if asked.grade is not None:
                return asked
        return None

    # ---- commands --------------------------------------------------------------------------------
    def start(self) -> list[Turn]:
        if self.card_ids:
            self.queue = [self.kb.card(card_id) for card_id in self.card_ids][: self.length]
        else:
            self.queue = choose_cards(self.kb, self.store, self.profile, self.families, self.length, self.mode, self.rng)
        turns: list[Turn] = []
        if self.store:
            missing = self.store.reconcile(self.profile, [c.id for c in self.kb.cards()])
            if missing:
                names = ", ".join(m.question for m in missing[:5]) + (" …" if len(missing) > 5 else "")
                turns.append(Turn("info", f"{len(missing)} card(s) with saved progress are no longer in the notes (history kept): {names}",
                                  {"missing": [m.card_id for m in missing]}))
        turns.append(Turn("info", f"Interview: {len(self.queue)} question(s), mode **{self.mode}**. "
                                  "Answer in your own words; type `hint`, `skip`, `repeat` or `end` at any time."))
        return turns + self._ask_next()

    def handle(self, text: str) -> list[Turn]:
        """One line from the user: a command or an answer."""
        command = (text or "").strip().lower().strip(".!")
        if command in COMMANDS:
            turns: list[Turn] = getattr(self, command)()  # hint, skip, repeat or end
            return turns
        return self.answer(text)

    def answer(self, text: str) -> list[Turn]:
        if self.finished:
            return [Turn("info", "The interview is over. Start a new one to continue.")]
        asked = self.current
        if asked is None:
            return [Turn("info", "No question is waiting for an answer.")]
        if not (text or "").strip():
            return [Turn("info", "Type an answer, or `hint`, `skip`, `repeat`, `end`.")]
        if not self.kb.has_card(asked.card_id):
            return self._card_gone(asked)
        card = self.kb.card(asked.card_id)
        # The profile's own labelled answers to this card are references too (kb/coach/grade/history.py).
        grade = self.kb.grade(card, text, hints=asked.hints, profile=self.profile if self.store else None, store=self.store)
        asked.grade, asked.answer = grade, text
        suggested = scheduling.rating_for_score(grade.score)
        asked.rating = suggested
        due = None
        if self.store:
            review = self.store.record_review(self.profile, card, text, grade.score, suggested, hints=asked.hints)
            asked.review_id, due = review.id, review.due
        turns = [self._grade_turn(asked, card, grade, suggested, due)]
        return turns + self._after_answer(asked)

    def hint(self) -> list[Turn]:
        asked = self.current
        if asked is None:
            return [Turn("info", "No question is waiting for an answer.")]
        if not self.kb.has_card(asked.card_id):
            return self._card_gone(asked)
        card = self.kb.card(asked.card_id)
        # the grader's own key points, claims before formulas (a formula alone rarely helps recall)
        points = sorted(key_points(card), key=lambda p: p.kind != "claim")
        if asked.hints >= len(points):
            return [Turn("hint", "No more hints for this question.", {"hints": asked.hints, "max_score": max_score_after_hints(asked.hints)})]
        point = points[asked.hints]
        asked.hints += 1
        best = max_score_after_hints(asked.hints)
        return [Turn("hint", f"Hint: {point.text}\n\n*Best score still possible: {best}.*", {"hints": asked.hints, "max_score": best, "point": point.text})]

    def skip(self) -> list[Turn]:
        asked = self.current
        if asked is None:
            return [Turn("info", "No question is waiting for an answer.")]
        asked.skipped = True
        if not self.kb.has_card(asked.card_id):
            return self._card_gone(asked)
        card = self.kb.card(asked.card_id)
        turns = [Turn("info", f"Skipped. The model answer:\n\n{card.answer_md}", {"card_id": card.id, "skipped": True})]
        return turns + self._ask_next()

    def _card_gone(self, asked: Asked) -> list[Turn]:
        """The notes changed under the interview and this card is gone: say so and move on."""
        asked.skipped = True
        return [Turn("info", "That question is no longer in the notes (they were edited); moving on.",
                     {"card_id": asked.card_id, "missing": [asked.card_id]})] + self._ask_next()

    def repeat(self) -> list[Turn]:
        asked = self.current
        if asked is None:
            return [Turn("info", "No question is waiting for an answer.")]
        return [self._question_turn(asked)]

    def end(self) -> list[Turn]:
        if self.current is not None:
            self.current.skipped = True
        self.finished = True
        return [self.summary()]

    def mark(self, label: str | None = None, points: PointMarks | None = None, dismissed: Sequence[str] | None = None) -> Turn:
        """Correct the grade of the last graded answer: right or wrong as a whole, key points said or not
        ({point text: said}), card sentences that are "not a contradiction". Stored as labels for this
        profile and re-scored at once; the rating stays as it is (change it with set_rating)."""
        asked = self.last_graded
        if asked is None or asked.answer is None:
            return Turn("info", "Nothing has been graded yet.")
        if not self.store:
            return Turn("info", "Corrections are stored with your progress, and no progress database is open.")
        if not self.kb.has_card(asked.card_id):
            return Turn("info", "That question is no longer in the notes (they were edited).")
        card = self.kb.card(asked.card_id)
        asked.grade = self.kb.progress(self.profile, store=self.store).mark(card, asked.answer, label, points, dismissed)
        return self._grade_turn(asked, card, asked.grade, asked.rating or scheduling.rating_for_score(asked.grade.score), None, corrected=True)

    def set_rating(self, rating: str) -> Turn:
        """Override the FSRS rating of the last graded answer (the suggestion came from the score)."""
        asked = self.last_graded
        if asked is None:
            return Turn("info", "Nothing has been graded yet.")
        rating = rating.lower()
        due = None
        if self.store and asked.review_id is not None:
            due = self.store.override_rating(asked.review_id, rating).due
        else:
            scheduling._rating(rating)
        asked.rating = rating
        return Turn("info", f"Rating set to **{rating.capitalize()}**" + (f"; next review {_when(due)}." if due else "."),
                    {"rating": rating, "due": due, "card_id": asked.card_id})

    # ---- flow ------------------------------------------------------------------------------------
    def _after_answer(self, asked: Asked) -> list[Turn]:
        if self.follow_ups and asked.follow_up_of is None and len(self.asked) < self.length:
            link = self._follow_up_card(asked.card_id)
            if link is not None:
                follow = Asked(link.id, link.question, link.family, follow_up_of=asked.card_id)
                self.asked.append(follow)
                self.queue = [c for c in self.queue if c.id != link.id]
                return [self._question_turn(follow, opener=next_line(asked.grade, follow_up=True))]
        return self._ask_next(opener=next_line(asked.grade, follow_up=False))

    def _follow_up_card(self, card_id: str) -> Card | None:
        asked_ids = {a.card_id for a in self.asked}
        allowed = {c.id for c in _pool(self.kb, self.families)}
        try:
            links = self.kb.related(card_id, k=6)
        except Exception:  # links are a nicety; never break the interview over them
            return None
        fresh = [link for link in links if link.id not in asked_ids and self.kb.has_card(link.id)]
        # prefer a link inside the chosen families; a cross-family link is still a fair follow-up
        for link in sorted(fresh, key=lambda link: link.id not in allowed):
            return self.kb.card(link.id)
        return None

    def _ask_next(self, opener: str = "") -> list[Turn]:
        asked_ids = {a.card_id for a in self.asked}
        while self.queue and len(self.asked) < self.length:
            card = self.queue.pop(0)
            if card.id in asked_ids or not self.kb.has_card(card.id):
                continue
            asked = Asked(card.id, card.question, card.family)
            self.asked.append(asked)
            return [self._question_turn(asked, opener=opener)]
        self.finished = True
        return [self.summary()]

    def _question_turn(self, asked: Asked, opener: str = "") -> Turn:
        number = len(self.asked)
        text = f"{opener}**{asked.question}**" if asked.follow_up_of else f"{opener}**Q{number}.** {asked.question}"
        return Turn("question", text,
                    {"card_id": asked.card_id, "family": asked.family, "number": number, "of": self.length, "follow_up_of": asked.follow_up_of})

    def _grade_turn(self, asked: Asked, card: Card, grade: Grade, suggested: str, due: str | None, corrected: bool = False) -> Turn:
        head = "**Score after your corrections" if corrected else "**Score"
        lines = [f"{head}: {grade.score}/100**" + (f" (hints used: {asked.hints}, best possible {max_score_after_hints(asked.hints)})" if asked.hints else "")]
        lines.extend(feedback_blocks(grade))
        lines.append(f"**Model answer:**\n\n{card.answer_md}")
        if corrected:
            lines.append(f"Rating kept: **{suggested.capitalize()}**; click another rating to change it.")
        else:
            guess = " (a guess: I can't tell, rate it yourself)" if not grade.confident else ""
            lines.append(f"Suggested rating{guess}: **{suggested.capitalize()}** ({scheduling.rating_explanation()})"
                         + (f"; next review {_when(due)}." if due else "."))
        return Turn("grade", "\n\n".join(lines), {
            **grade.to_dict(), "card_id": card.id, "rating": suggested, "due": due, "review_id": asked.review_id,
            "answer_md": card.answer_md, "key_points": [p.text for p in grade.key_points], "corrected": corrected,
        })

    def summary(self) -> Turn:
        graded = [(a, a.grade) for a in self.asked if a.grade is not None]
        rows: list[SummaryRow] = [{"card_id": a.card_id, "question": a.question, "family": a.family, "score": a.grade.score if a.grade else None,
                                   "rating": a.rating, "skipped": a.skipped and a.grade is None} for a in self.asked]
        lines = ["## Interview summary"]
        for i, row in enumerate(rows, 1):
            result = "skipped" if row["score"] is None else f"{row['score']}/100 ({(row['rating'] or '').capitalize()})"
            lines.append(f"{i}. {row['question']} — {result}")
        by_family: dict[str, list[int]] = {}
        for a, grade in graded:
            by_family.setdefault(a.family, []).append(grade.score)
        weakest = sorted(((sum(s) / len(s), f) for f, s in by_family.items()))[:3]
        if weakest:
            lines.append("**Weakest topics:** " + ", ".join(f"{f} ({m:.0f})" for m, f in weakest))
        due_next = []
        if self.store:
            states = sorted((s for s in self.store.card_states(self.profile).values() if not s.missing_since), key=lambda s: s.due)
            due_next = [{"card_id": s.card_id, "question": s.question, "due": s.due} for s in states[:5]]
            if due_next:
                lines.append("**Due next:**\n" + "\n".join(f"- {d['question']} — {_when(d['due'])}" for d in due_next))
        mean = sum(grade.score for _, grade in graded) / len(graded) if graded else None
        if mean is not None:
            lines.append(f"Average score: **{mean:.0f}/100** over {len(graded)} answer(s).")
        return Turn("summary", "\n\n".join(lines), {"questions": rows, "weakest": [f for _, f in weakest], "due_next": due_next, "mean": mean})


def _when(due_iso: str | None) -> str:
    if not due_iso:
        return "now"
    due = datetime.fromisoformat(due_iso)
    delta = due - datetime.now(timezone.utc)
    seconds = delta.total_seconds()
    if seconds <= 60:
        return "now"
    if seconds < 3600:
        return f"in {seconds / 60:.0f} min"
    if seconds < 86400:
        return f"in {seconds / 3600:.0f} h"
    return f"in {seconds / 86400:.0f} days ({due.date().isoformat()})"
