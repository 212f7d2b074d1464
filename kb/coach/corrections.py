"""The progress store's corrections: answers labelled right or wrong, key points said or not (by their
text and the card's hash, never their position), contradictions dismissed, the grader weights fitted to a
profile's labels, and chat replies marked "not what I asked" (the question and the card). A mixin of kb.coach.progress.ProgressStore, whose connection,
lock and transactions it uses: each correction is one transaction, like a review.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np

from kb.coach.grade.grader import Weights
from kb.coach.grade.history import CardHistory, LabelledAnswer
from kb.errors import ProgressStoreError

if TYPE_CHECKING:
    import sqlite3
    import threading
    from contextlib import AbstractContextManager

    from kb.coach.grade.calibration import GraderFit
    from kb.notes.cards import Card

LABELS = ("right", "wrong", "")  # "": only key points or contradictions were marked


class CorrectionsStore:
    """The corrections tables of ProgressStore (migrations 4, 5 and 6)."""

    # ProgressStore's, which this mixes into
    _db: sqlite3.Connection
    _lock: threading.RLock

    if TYPE_CHECKING:
        @staticmethod
        def clean_profile(name: str | None) -> str: ...

        def _transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _ensure_profile(self, db: sqlite3.Connection, profile: str) -> None: ...

    def record_marks(self, profile: str, card: Card, answer: str, label: str = "", points: Mapping[str, bool] | None = None,
                     dismissed: Iterable[str] | None = None, covered: Iterable[str] | None = None, vector: np.ndarray | None = None, model: str = "",
                     now: datetime | None = None) -> int:
        """Store the user's labels for one answer in one transaction; returns the labelled answer's id.
        A point is stored by its text and the card's text hash, never by its position."""
        profile = self.clean_profile(profile)
        if label not in LABELS:
            raise ProgressStoreError(f"unknown label {label!r}; use right or wrong")
        moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat()
        blob = None if vector is None else np.asarray(vector, dtype="<f4").tobytes()
        with self._transaction() as db:
            self._ensure_profile(db, profile)
            cursor = db.execute(
                "INSERT INTO labelled_answers (profile, card_id, card_hash, answer, label, covered, vector, model, marked_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (profile, card.id, card.text_hash, answer or "", label, json.dumps(list(covered or []), ensure_ascii=False), blob, model, moment),
            )
            answer_id = cursor.lastrowid
            assert answer_id is not None  # set by the INSERT
            for point, said in (points or {}).items():
                db.execute("INSERT INTO point_marks (answer_id, card_hash, point, said) VALUES (?, ?, ?, ?)", (answer_id, card.text_hash, point,
                                                                                                               int(bool(said))))
            for sentence in dismissed or []:
                db.execute(
                    "INSERT OR REPLACE INTO dismissed_contradictions (profile, card_id, card_sentence, card_hash, dismissed_at) VALUES (?, ?, ?, ?, ?)",
                    (profile, card.id, sentence, card.text_hash, moment),
                )
        return answer_id

    def card_history(self, profile: str, card_id: str, model: str = "", dim: int | None = None) -> CardHistory:
        """The profile's labels for one card, oldest first (vectors of another model left out)."""
        profile = self.clean_profile(profile)
        with self._lock:
            rows = self._db.execute("SELECT * FROM labelled_answers WHERE profile=? AND card_id=? ORDER BY id", (profile, card_id)).fetchall()
            marks: dict[int, dict[str, bool]] = {}
            if rows:
                ids = [row["id"] for row in rows]
                for mark in self._db.execute(f"SELECT answer_id, point, said FROM point_marks WHERE answer_id IN ({','.join('?' * len(ids))}) ORDER BY id",
                                             ids):
                    marks.setdefault(mark[0], {})[mark[1]] = bool(mark[2])
            dismissed = {r[0] for r in self._db.execute("SELECT card_sentence FROM dismissed_contradictions WHERE profile=? AND card_id=?", (profile, card_id))}
        answers = tuple(
            LabelledAnswer(row["id"], row["answer"], row["label"], row["marked_at"], tuple(json.loads(row["covered"])), marks.get(row["id"], {}),
                           *_vectors(row, model, dim))
            for row in rows
        )
        return CardHistory(answers, frozenset(dismissed))

    def correction_counts(self, profile: str) -> dict[str, int]:
        """How many answers were marked right and wrong, key points marked, contradictions dismissed."""
        profile = self.clean_profile(profile)
        with self._lock:
            labels = dict(self._db.execute("SELECT label, COUNT(*) FROM labelled_answers WHERE profile=? GROUP BY label", (profile,)).fetchall())
            points = self._db.execute(
                "SELECT COUNT(*) FROM point_marks JOIN labelled_answers ON labelled_answers.id = point_marks.answer_id WHERE profile=?", (profile,)
            ).fetchone()[0]
            dismissed = self._db.execute("SELECT COUNT(*) FROM dismissed_contradictions WHERE profile=?", (profile,)).fetchone()[0]
            rejected = self._db.execute("SELECT COUNT(*) FROM chat_rejections WHERE profile=?", (profile,)).fetchone()[0]
        return {"marked_right": labels.get("right", 0), "marked_wrong": labels.get("wrong", 0), "points_marked": points, "contradictions_dismissed": dismissed,
                "not_what_i_asked": rejected}

    def labelled(self, profile: str) -> list[tuple[str, str, str]]:
        """(card id, answer, label) of every answer the profile marked right or wrong, oldest first."""
        profile = self.clean_profile(profile)
        with self._lock:
            rows = self._db.execute("SELECT card_id, answer, label FROM labelled_answers WHERE profile=? AND label != '' ORDER BY marked_at, id",
                                    (profile,)).fetchall()
        return [tuple(row) for row in rows]

    def record_grader_fit(self, profile: str, fit: GraderFit) -> None:
        """Store a grader fit (adopted or rejected); the latest one decides which weights grade the profile."""
        profile = self.clean_profile(profile)
        weights = json.dumps({"lexical": fit.weights.lexical, "whole": fit.weights.whole}) if fit.weights else None
        with self._transaction() as db:
            self._ensure_profile(db, profile)
            db.execute(
                "INSERT INTO grader_fits (profile, fitted_at, weights, labels, fit_labels, judge_labels, auc_default, auc_fitted, adopted) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (profile, fit.fitted_at, weights, fit.labels, fit.fit_labels, fit.judge_labels, fit.auc_default, fit.auc_fitted, int(fit.adopted)),
            )

    def grader_weights(self, profile: str) -> Weights | None:
        """The profile's fitted grader weights if its latest fit was adopted, else None (the defaults)."""
        profile = self.clean_profile(profile)
        with self._lock:
            row = self._db.execute("SELECT weights, adopted FROM grader_fits WHERE profile=? ORDER BY id DESC LIMIT 1", (profile,)).fetchone()
        if not row or not row[1] or not row[0]:
            return None
        return Weights(**json.loads(row[0]))


    # ---- chat: "not what I asked" -----------------------------------------------------------------
    def reject_reply(self, profile: str, question: str, card: Card, now: datetime | None = None) -> None:
        """Store that `card` does not answer `question` for this profile (asked again, it is never the answer)."""
        profile = self.clean_profile(profile)
        key = question_key(question)
        if not key:
            raise ProgressStoreError("a question is needed to mark a reply as not what was asked")
        moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat()
        with self._transaction() as db:
            self._ensure_profile(db, profile)
            db.execute("INSERT OR IGNORE INTO chat_rejections (profile, question, asked, card_id, card_hash, marked_at) VALUES (?, ?, ?, ?, ?, ?)",
                       (profile, key, " ".join(question.split())[:2000], card.id, card.text_hash, moment))

    def rejected_cards(self, profile: str, question: str) -> frozenset[str]:
        """The cards this profile marked as not answering this question (asked in the same words)."""
        profile = self.clean_profile(profile)
        with self._lock:
            rows = self._db.execute("SELECT card_id FROM chat_rejections WHERE profile=? AND question=?", (profile, question_key(question))).fetchall()
        return frozenset(row[0] for row in rows)

    def rejections(self, profile: str) -> list[tuple[str, str]]:
        """(question as asked, card id) of every reply the profile marked "not what I asked", oldest first."""
        profile = self.clean_profile(profile)
        with self._lock:
            rows = self._db.execute("SELECT asked, card_id FROM chat_rejections WHERE profile=? ORDER BY id", (profile,)).fetchall()
        return [tuple(row) for row in rows]


def question_key(question: str) -> str:
    """A question in the form rejections are matched on: its words, lower-cased ("Why clip?" = "why clip")."""
    return " ".join(re.findall(r"[^\W_]+", (question or "").lower()))


def _vectors(row: sqlite3.Row, model: str, dim: int | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(whole answer, sentences) from a stored matrix: its sentences' rows, then the whole answer's
    (a single vector when `dim` is not known); nothing for another model's vectors."""
    if row["vector"] is None or row["model"] != model:
        return None, None
    flat = np.frombuffer(row["vector"], dtype="<f4")
    if not dim or len(flat) % dim:
        return flat, None
    rows = flat.reshape(-1, dim)
    return rows[-1], rows[:-1]
