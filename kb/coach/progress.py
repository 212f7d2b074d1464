"""The progress store: every review and each card's FSRS state, per profile, in one SQLite file.

Durability: WAL journal, synchronous=FULL, and a review (history row + card state) is written in one
transaction, so a process killed mid-answer leaves every acknowledged review intact; so is a
correction (a labelled answer with its point marks). The schema is built by numbered, append-only
migrations (kb/coach/migrations.py) recorded in the `migrations` table. A file that is not a
readable SQLite database raises ProgressStoreError naming it; it is never replaced.

Each profile is scheduled with fsrs's default weights until a fit of its own (kb/coach/fsrs_fit.py,
table `fsrs_fits`) beats them on held-out reviews; the latest fit decides. `ProfileProgress.stats()`
turns the history into the Progress tab's and `kb stats`' numbers (kb/coach/stats.py).

The module is long because the store and ProfileProgress (a profile's view of it against the current
cards) belong together: the view's contract with the knowledge base (ProfileKnowledge) names the store,
so it cannot live in a module of its own without an import cycle.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np

from kb.coach import fsrs_fit, scheduling, stats as review_stats
from kb.coach.corrections import CorrectionsStore
from kb.coach.migrations import MIGRATIONS
from kb.errors import ProgressStoreError

if TYPE_CHECKING:
    from fsrs.card import CardDict

    from kb.coach.chat import ChatReply
    from kb.coach.grade import Grade, Grader
    from kb.coach.grade.calibration import GraderFit
    from kb.embed.base import Encoder
    from kb.notes.cards import Card

DB_NAME = "progress.sqlite3"
SQLITE_HEADER = b"SQLite format 3\x00"
# Key points marked on an answer: {point text: said}, or the points said.
PointMarks = Mapping[str, bool] | list[str] | tuple[str, ...] | set[str]



@dataclass
class Review:
    id: int
    profile: str
    card_id: str
    family: str
    question: str
    reviewed_at: str
    answer: str
    score: int
    suggested_rating: str
    rating: str
    hints: int
    due: str  # when the card is due after this review


@dataclass
class CardProgress:
    card_id: str
    family: str
    question: str
    due: str
    last_score: int | None
    reviews: int
    lapses: int
    state: CardDict
    missing_since: str | None = None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def default_path(data_dir: Path) -> Path:
    return Path(data_dir) / DB_NAME


class ProgressStore(CorrectionsStore):
    """Opens (creating and migrating if needed) the database at `path`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.RLock()
        self._check_file()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            result = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                raise sqlite3.DatabaseError(result)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from exc
        except OSError as exc:
            raise ProgressStoreError(f"cannot open the progress database {self.path}: {exc}. Set --data or KB_DATA to a writable folder.") from exc

    @classmethod
    def in_data_dir(cls, data_dir: str | Path) -> ProgressStore:
        return cls(default_path(Path(data_dir)))

    # ---- opening ---------------------------------------------------------------------------------
    def _check_file(self) -> None:
        if self.path.is_dir():
            raise ProgressStoreError(f"the progress database path {self.path} is a folder, not a file")
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, "rb") as handle:
                header = handle.read(len(SQLITE_HEADER))
            if header != SQLITE_HEADER:
                raise self._corrupt("not an SQLite database")

    def _corrupt(self, exc: object) -> ProgressStoreError:
        return ProgressStoreError(
            f"the progress database {self.path} is unreadable or corrupt ({exc}). It was left untouched: "
            f"move it aside (mv '{self.path}' '{self.path}.bad') to start fresh, restore a backup, "
            "or point --data / KB_DATA at another folder."
        )

    def _migrate(self) -> None:
        with self._lock:
            self._db.execute("CREATE TABLE IF NOT EXISTS migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
            applied = {row[0] for row in self._db.execute("SELECT id FROM migrations")}
            known = {number for number, _, _ in MIGRATIONS}
            if applied - known:
                raise ProgressStoreError(
                    f"the progress database {self.path} was written by a newer kb (migration {max(applied)}); update kb to open it"
                )
            for number, name, sql in MIGRATIONS:
                if number in applied:
                    continue
                with self._transaction() as db:
                    for statement in (s.strip() for s in sql.split(";")):
                        if statement:
                            db.execute(statement)
                    db.execute("INSERT INTO migrations (id, name, applied_at) VALUES (?, ?, ?)", (number, name, _iso(_now())))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ProgressStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- profiles --------------------------------------------------------------------------------
    @staticmethod
    def clean_profile(name: str | None) -> str:
        name = " ".join((name or "").split())
        if not name:
            return "default"
        if len(name) > 64:
            raise ProgressStoreError(f"profile name too long ({len(name)} characters; at most 64)")
        return name

    def _ensure_profile(self, db: sqlite3.Connection, profile: str) -> None:
        db.execute("INSERT OR IGNORE INTO profiles (name, created_at) VALUES (?, ?)", (profile, _iso(_now())))

    def profiles(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT name FROM profiles ORDER BY name")]

    # ---- reviews ---------------------------------------------------------------------------------
    def record_review(self, profile: str, card: Card, answer: str, score: int, rating: str | None = None, hints: int = 0,
                      now: datetime | None = None) -> Review:
        """Schedule the card with fsrs and write the review and the new state in one transaction."""
        profile = self.clean_profile(profile)
        now = now or _now()
        suggested = scheduling.rating_for_score(score)
        rating = (rating or suggested).lower()
        with self._transaction() as db:
            self._ensure_profile(db, profile)
            row = db.execute("SELECT fsrs_state FROM card_state WHERE profile=? AND card_id=?", (profile, card.id)).fetchone()
            before = scheduling.loads(row[0]) if row else None
            after = scheduling.review(before, rating, now, self._parameters(db, profile))
            cursor = db.execute(
                "INSERT INTO reviews (profile, card_id, family, question, reviewed_at, answer, score, suggested_rating, rating, hints, "
                "state_before, state_after) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (profile, card.id, card.family, card.question, _iso(now), answer or "", int(score), suggested, rating, int(hints),
                 scheduling.dumps(before) if before else None, scheduling.dumps(after)),
            )
            review_id = cursor.lastrowid
            assert review_id is not None  # set by the INSERT
            self._write_state(db, profile, card.id, card.family, card.question, after, int(score), review_id, now,
                              new_lapse=rating == "again" and before is not None)
        return Review(review_id, profile, card.id, card.family, card.question, _iso(now), answer or "", int(score), suggested, rating, int(hints), after["due"])

    def _write_state(self, db: sqlite3.Connection, profile: str, card_id: str, family: str, question: str, state: CardDict, score: int, review_id: int,
                     now: datetime, new_lapse: bool) -> None:
        db.execute(
            "INSERT INTO card_state (profile, card_id, family, question, fsrs_state, due, last_score, last_review_id, reviews, lapses, "
            "updated_at, missing_since) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, NULL) "
            "ON CONFLICT(profile, card_id) DO UPDATE SET family=excluded.family, question=excluded.question, fsrs_state=excluded.fsrs_state, "
            "due=excluded.due, last_score=excluded.last_score, last_review_id=excluded.last_review_id, reviews=card_state.reviews + 1, "
            "lapses=card_state.lapses + excluded.lapses, updated_at=excluded.updated_at, missing_since=NULL",
            (profile, card_id, family, question, scheduling.dumps(state), _iso(scheduling.due_at(state)), score, review_id, int(new_lapse), _iso(now)),
        )

    def override_rating(self, review_id: int, rating: str) -> Review:
        """Replace the rating of a card's latest review (one click in the UI) and reschedule from the state before it."""
        rating = rating.lower()
        scheduling._rating(rating)  # validates the name
        with self._transaction() as db:
            row = db.execute("SELECT * FROM reviews WHERE id=?", (review_id,)).fetchone()
            if row is None:
                raise ProgressStoreError(f"no review with id {review_id}")
            latest = db.execute("SELECT last_review_id FROM card_state WHERE profile=? AND card_id=?", (row["profile"], row["card_id"])).fetchone()
            if latest is None or latest[0] != review_id:
                raise ProgressStoreError("only the latest review of a card can be re-rated")
            before = scheduling.loads(row["state_before"])
            reviewed_at = datetime.fromisoformat(row["reviewed_at"])
            after = scheduling.review(before, rating, reviewed_at, self._parameters(db, row["profile"]))
            db.execute("UPDATE reviews SET rating=?, state_after=? WHERE id=?", (rating, scheduling.dumps(after), review_id))
            lapse_delta = int(rating == "again" and before is not None) - int(row["rating"] == "again" and before is not None)
            db.execute(
                "UPDATE card_state SET fsrs_state=?, due=?, lapses=lapses + ?, updated_at=? WHERE profile=? AND card_id=?",
                (scheduling.dumps(after), _iso(scheduling.due_at(after)), lapse_delta, _iso(_now()), row["profile"], row["card_id"]),
            )
        return self.review(review_id)

    def review(self, review_id: int) -> Review:
        with self._lock:
            row = self._db.execute("SELECT * FROM reviews WHERE id=?", (review_id,)).fetchone()
        if row is None:
            raise ProgressStoreError(f"no review with id {review_id}")
        return self._review_from_row(row)

    @staticmethod
    def _review_from_row(row: sqlite3.Row) -> Review:
        return Review(row["id"], row["profile"], row["card_id"], row["family"], row["question"], row["reviewed_at"], row["answer"], row["score"],
                      row["suggested_rating"], row["rating"], row["hints"], _stored_state(row["state_after"])["due"])

    def reviews(self, profile: str, card_id: str | None = None) -> list[Review]:
        profile = self.clean_profile(profile)
        sql, args = "SELECT * FROM reviews WHERE profile=?", [profile]
        if card_id:
            sql, args = sql + " AND card_id=?", args + [card_id]
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [self._review_from_row(row) for row in rows]

    # ---- card state ------------------------------------------------------------------------------
    def card_states(self, profile: str) -> dict[str, CardProgress]:
        profile = self.clean_profile(profile)
        with self._lock:
            rows = self._db.execute("SELECT * FROM card_state WHERE profile=?", (profile,)).fetchall()
        return {
            row["card_id"]: CardProgress(row["card_id"], row["family"], row["question"], row["due"], row["last_score"], row["reviews"],
                                         row["lapses"], _stored_state(row["fsrs_state"]), row["missing_since"])
            for row in rows
        }

    def due_cards(self, profile: str, now: datetime | None = None, limit: int | None = None) -> list[CardProgress]:
        """Cards due now (most overdue first) that still exist."""
        moment = _iso(now or _now())
        states = [s for s in self.card_states(profile).values() if s.due <= moment and not s.missing_since]
        states.sort(key=lambda s: s.due)
        return states[:limit] if limit else states

    def reconcile(self, profile: str, card_ids: Iterable[str]) -> list[CardProgress]:
        """Compare stored cards with the cards that exist now: mark the missing (history kept), clear the returned.

        Returns the cards with progress that are missing from the notes.
        """
        profile = self.clean_profile(profile)
        present = set(card_ids)
        now = _iso(_now())
        with self._transaction() as db:
            rows = db.execute("SELECT card_id, missing_since FROM card_state WHERE profile=?", (profile,)).fetchall()
            for card_id, missing_since in rows:
                if card_id in present and missing_since:
                    db.execute("UPDATE card_state SET missing_since=NULL WHERE profile=? AND card_id=?", (profile, card_id))
                elif card_id not in present and not missing_since:
                    db.execute("UPDATE card_state SET missing_since=? WHERE profile=? AND card_id=?", (now, profile, card_id))
        return [s for s in self.card_states(profile).values() if s.missing_since]

    # ---- FSRS parameters fitted per profile --------------------------------------------------------
    def _parameters(self, db: sqlite3.Connection, profile: str) -> list[float] | None:
        """The weights that schedule this profile's reviews: the latest fit's if it was adopted, else None (fsrs's defaults)."""
        row = db.execute("SELECT parameters, adopted FROM fsrs_fits WHERE profile=? ORDER BY id DESC LIMIT 1", (profile,)).fetchone()
        return _load_parameters(row[0]) if row and row[1] else None

    def record_fit(self, profile: str, result: fsrs_fit.FitResult) -> None:
        """Store a fit (adopted or rejected); the latest one decides which weights schedule the profile."""
        if result.parameters is None:
            raise ProgressStoreError("only a fit with parameters can be stored")
        profile = self.clean_profile(profile)
        with self._transaction() as db:
            self._ensure_profile(db, profile)
            db.execute(
                "INSERT INTO fsrs_fits (profile, fitted_at, parameters, reviews, train_reviews, holdout_reviews, loss_default, loss_fitted, "
                "rmse_default, rmse_fitted, adopted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (profile, result.fitted_at, _dump_parameters(list(result.parameters)), result.reviews, result.train_reviews, result.holdout_reviews,
                 result.loss_default, result.loss_fitted, result.rmse_default, result.rmse_fitted, int(result.adopted)),
            )

    def fits(self, profile: str) -> list[fsrs_fit.FitResult]:
        """Every stored fit of the profile, oldest first."""
        profile = self.clean_profile(profile)
        with self._lock:
            rows = self._db.execute("SELECT * FROM fsrs_fits WHERE profile=? ORDER BY id", (profile,)).fetchall()
        return [
            fsrs_fit.FitResult("adopted" if row["adopted"] else "rejected", "", row["fitted_at"], row["reviews"], row["train_reviews"],
                               row["holdout_reviews"], _load_parameters(row["parameters"]), row["loss_default"], row["loss_fitted"],
                               row["rmse_default"], row["rmse_fitted"])
            for row in rows
        ]

    def scheduler_status(self, profile: str) -> fsrs_fit.SchedulerStatus:
        fits = self.fits(profile)
        return fsrs_fit.status(fits[-1] if fits else None)

    # ---- summaries -------------------------------------------------------------------------------
    def mastery_by_family(self, profile: str, cards: Iterable[Card]) -> list[tuple[str, float, int, int]]:
        """(family, mastery 0-100, reviewed cards, all cards): mean last score over the family, unreviewed counted as 0."""
        states = self.card_states(profile)
        totals: dict[str, list[float]] = {}  # family -> [score total, reviewed, cards]
        for card in cards:
            entry = totals.setdefault(card.family, [0.0, 0, 0])
            entry[2] += 1
            state = states.get(card.id)
            if state and state.last_score is not None:
                entry[0] += state.last_score
                entry[1] += 1
        return [(family, round(total / count, 1) if count else 0.0, int(reviewed), int(count)) for family, (total, reviewed, count) in totals.items()]

    def reviews_per_day(self, profile: str) -> list[tuple[str, int, float]]:
        """(day, number of reviews, mean score) in date order."""
        profile = self.clean_profile(profile)
        with self._lock:
            rows = self._db.execute(
                "SELECT substr(reviewed_at, 1, 10) AS day, COUNT(*), AVG(score) FROM reviews WHERE profile=? GROUP BY day ORDER BY day", (profile,)
            ).fetchall()
        return [(row[0], row[1], round(row[2], 1)) for row in rows]

    def integrity_check(self) -> str:
        with self._lock:
            result: str = self._db.execute("PRAGMA integrity_check").fetchone()[0]
            return result

    def schema(self) -> dict[str, list[tuple[str, str, int, int]]]:
        """{table: [(column, type, notnull, pk), ...]} plus index names, for the schema test."""
        with self._lock:
            tables = [r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
            out = {t: [(c[1], c[2], c[3], c[5]) for c in self._db.execute(f"PRAGMA table_info({t})")] for t in tables}
            out["_indexes"] = [r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='index' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return out

    def applied_migrations(self) -> list[int]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT id FROM migrations ORDER BY id")]


@dataclass(frozen=True)
class ChatCheck:
    """The coverage judge on a profile's "not what I asked" pairs (ProfileProgress.check_chat)."""

    pairs: int
    answered_from_marked_card: int  # the shipped judge's mistakes on the profile's own data
    outcomes: dict[str, int]  # what the same questions get without the marks

    def to_dict(self) -> dict[str, Any]:
        share = round(self.answered_from_marked_card / self.pairs, 3) if self.pairs else None
        return {"pairs": self.pairs, "answered_from_marked_card": self.answered_from_marked_card, "share": share, "outcomes": self.outcomes}


class ProfileKnowledge(Protocol):
    """What a profile's progress reads (KnowledgeBase is one): the cards, grading and its grader, the
    encoder's model id, and the chat for "not what I asked"."""

    def cards(self, family: str | list[str] | None = ...) -> list[Card]: ...

    def card(self, card_id: str) -> Card: ...

    def has_card(self, card_id: str) -> bool: ...

    def grade(self, card_id: str | Card, answer: str, hints: int = ..., profile: str | None = ..., store: ProgressStore | None = ...) -> Grade: ...

    def grader(self) -> Grader: ...

    @property
    def encoder(self) -> Encoder: ...

    def ask(self, message: str, topic: str | None = ..., profile: str | None = ..., store: ProgressStore | None = ...) -> ChatReply: ...


class ProfileProgress:
    """One profile's view of the store, against the current cards: what `KnowledgeBase.progress(profile)` returns."""

    def __init__(self, store: ProgressStore, profile: str, kb: ProfileKnowledge) -> None:
        self.store = store
        self.profile = store.clean_profile(profile)
        self._kb = kb

    def reviews(self, card_id: str | None = None) -> list[Review]:
        return self.store.reviews(self.profile, card_id)

    def card_states(self) -> dict[str, CardProgress]:
        return self.store.card_states(self.profile)

    def due_cards(self, now: datetime | None = None, limit: int | None = None) -> list[CardProgress]:
        return self.store.due_cards(self.profile, now=now, limit=limit)

    def missing_cards(self) -> list[CardProgress]:
        """Reviewed cards no longer in the notes (their history is kept)."""
        return self.store.reconcile(self.profile, [c.id for c in self._kb.cards()])

    def mastery_by_family(self) -> list[tuple[str, float, int, int]]:
        """(family, mean last score with unreviewed = 0, cards reviewed, cards) in corpus order."""
        return self.store.mastery_by_family(self.profile, self._kb.cards())

    def reviews_per_day(self) -> list[tuple[str, int, float]]:
        return self.store.reviews_per_day(self.profile)

    def stats(self, now: datetime | None = None) -> review_stats.ReviewStats:
        """Heatmap, weekly retention, due forecast, mastery and the FSRS weights in use (kb/coach/stats.py)."""
        present = {card.id for card in self._kb.cards()}
        due = [s.due for s in self.card_states().values() if s.card_id in present]
        return review_stats.compute(self.profile, self.reviews(), due, self.mastery_by_family(), now=now, scheduler=self.scheduler_status().to_dict(),
                                    corrections=self.corrections())

    def scheduler_status(self) -> fsrs_fit.SchedulerStatus:
        """Which FSRS weights schedule this profile (defaults, or fitted on a date) and the latest fit's held-out losses."""
        return self.store.scheduler_status(self.profile)

    def mark(self, card_id: str | Card, answer: str, label: str | None = None, points: PointMarks | None = None, dismissed: Iterable[str] | None = None,
             now: datetime | None = None) -> Grade:
        """Label an answer to a card: "right" or "wrong" as a whole, key points said (True) or not (False),
        card sentences that are "not a contradiction". Stored for this profile; adds no review and does not
        move FSRS. Returns the answer graded again with the labels read.

        `points`: {point text: said} (or a list of the points said); `dismissed`: card sentences.
        """
        card = self._kb.card(card_id) if isinstance(card_id, str) else card_id
        marks = dict.fromkeys(points, True) if isinstance(points, (list, tuple, set)) else dict(points or {})
        before = self._kb.grade(card, answer, profile=self.profile, store=self.store)
        covered = {c.point for c in before.covered} | {p for p, said in marks.items() if said}
        covered -= {p for p, said in marks.items() if not said}
        self.store.record_marks(self.profile, card, answer, label or "", marks, list(dismissed or []),
                                [p.text for p in before.key_points if p.text in covered], _stored_vectors(before), getattr(self._kb.encoder, "model_id",
                                                                                                                           ""), now=now)
        return self._kb.grade(card, answer, profile=self.profile, store=self.store)

    def corrections(self) -> dict[str, int]:
        return self.store.correction_counts(self.profile)

    def not_what_i_asked(self, question: str, card_id: str, now: datetime | None = None) -> ChatReply:
        """Mark a chat reply wrong: `card_id` does not answer `question`. For this profile that question is
        never answered from that card again. Returns the question asked again, with the mark read."""
        card = self._kb.card(card_id)
        self.store.reject_reply(self.profile, question, card, now=now)
        return self._kb.ask(question, profile=self.profile, store=self.store)

    def check_chat(self) -> ChatCheck:
        """How the shipped coverage judge does on this profile's "not what I asked" pairs, its own held-out
        data: asked again without the marks, how many are still answered from the card marked wrong."""
        pairs = [(question, card_id) for question, card_id in self.store.rejections(self.profile) if self._kb.has_card(card_id)]
        outcomes = {"answer": 0, "closest": 0, "abstain": 0}
        same_card = 0
        for question, card_id in pairs:
            reply = self._kb.ask(question)
            outcomes[reply.outcome] += 1
            same_card += reply.outcome == "answer" and reply.card is not None and reply.card.id == card_id
        return ChatCheck(len(pairs), same_card, outcomes)

    def calibrate_grader(self, now: datetime | None = None) -> GraderFit:
        """Refit the grader's few weights to this profile's right/wrong labels (kb/coach/grade/calibration.py);
        stored, and used for this profile only if they order its latest labels better than the defaults."""
        from kb.coach.grade.calibration import fit

        kb = self._kb
        labelled = [row for row in self.store.labelled(self.profile) if kb.has_card(row[0])]  # a card gone from the notes cannot be graded
        result = fit(labelled, lambda card_id, answer, weights: kb.grader().grade(kb.card(card_id), answer, weights=weights).score, now=now)
        if result.weights is not None:
            self.store.record_grader_fit(self.profile, result)
        return result

    def optimize_fsrs(self, now: datetime | None = None) -> fsrs_fit.FitResult:
        """Fit FSRS weights to this profile's reviews (kb/coach/fsrs_fit.py); stored, and used only if they beat the defaults on held-out reviews."""
        result = fsrs_fit.fit(self.reviews(), now=now)
        if result.parameters is not None:
            self.store.record_fit(self.profile, result)
        return result


def _stored_vectors(grade: Grade) -> np.ndarray | None:
    """What a labelled answer keeps of its embeddings: its sentences' rows, then the whole answer's."""
    if grade.vector is None:
        return None
    sentences = grade.sentence_vectors if grade.sentence_vectors is not None else np.zeros((0, len(grade.vector)), dtype=np.float32)
    return np.vstack([sentences, grade.vector[None, :]])


def _stored_state(text: str) -> CardDict:
    """An fsrs state column: NOT NULL and written by scheduling.dumps, so never empty (loads gives None only for no text)."""
    return cast("CardDict", scheduling.loads(text))


def _dump_parameters(parameters: list[float]) -> str:
    """FSRS weights as stored in fsrs_fits.parameters (JSON, as scheduling.dumps writes a state)."""
    return json.dumps(parameters, sort_keys=True)


def _load_parameters(text: str | None) -> list[float] | None:
    if not text:
        return None
    parameters: list[float] = json.loads(text)  # written by _dump_parameters
    return parameters
