"""The progress store on a real SQLite file: schema, FSRS states, restarts, SIGKILL, profiles, corruption."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kb.coach.progress import ProgressStore
from kb.errors import ProgressStoreError
from kb.notes.cards import Card
from tests.support import ROOT, kb_env

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def card(card_id="what-is-focal-loss", family="Classification"):
    return Card(id=card_id, note="n.md", family=family, question=f"Q {card_id}?", answer_md="A.", answer_text="A.", line_start=1, line_end=2)


def test_whole_schema_after_migrations(tmp_path):
    with ProgressStore(tmp_path / "p.sqlite3") as store:
        assert store.applied_migrations() == [1, 2, 3, 4, 5, 6]
        schema = store.schema()
    assert schema == {
        "migrations": [("id", "INTEGER", 0, 1), ("name", "TEXT", 1, 0), ("applied_at", "TEXT", 1, 0)],
        "profiles": [("name", "TEXT", 0, 1), ("created_at", "TEXT", 1, 0)],
        "reviews": [
            ("id", "INTEGER", 0, 1), ("profile", "TEXT", 1, 0), ("card_id", "TEXT", 1, 0), ("family", "TEXT", 1, 0),
            ("question", "TEXT", 1, 0), ("reviewed_at", "TEXT", 1, 0), ("answer", "TEXT", 1, 0), ("score", "INTEGER", 1, 0),
            ("suggested_rating", "TEXT", 1, 0), ("rating", "TEXT", 1, 0), ("hints", "INTEGER", 1, 0),
            ("state_before", "TEXT", 0, 0), ("state_after", "TEXT", 1, 0),
        ],
        "card_state": [
            ("profile", "TEXT", 1, 1), ("card_id", "TEXT", 1, 2), ("family", "TEXT", 1, 0), ("question", "TEXT", 1, 0),
            ("fsrs_state", "TEXT", 1, 0), ("due", "TEXT", 1, 0), ("last_score", "INTEGER", 0, 0), ("last_review_id", "INTEGER", 0, 0),
            ("reviews", "INTEGER", 1, 0), ("lapses", "INTEGER", 1, 0), ("updated_at", "TEXT", 1, 0), ("missing_since", "TEXT", 0, 0),
        ],
        "fsrs_fits": [
            ("id", "INTEGER", 0, 1), ("profile", "TEXT", 1, 0), ("fitted_at", "TEXT", 1, 0), ("parameters", "TEXT", 1, 0),
            ("reviews", "INTEGER", 1, 0), ("train_reviews", "INTEGER", 1, 0), ("holdout_reviews", "INTEGER", 1, 0),
            ("loss_default", "REAL", 1, 0), ("loss_fitted", "REAL", 1, 0), ("rmse_default", "REAL", 0, 0), ("rmse_fitted", "REAL", 0, 0),
            ("adopted", "INTEGER", 1, 0),
        ],
        "labelled_answers": [
            ("id", "INTEGER", 0, 1), ("profile", "TEXT", 1, 0), ("card_id", "TEXT", 1, 0), ("card_hash", "TEXT", 1, 0),
            ("answer", "TEXT", 1, 0), ("label", "TEXT", 1, 0), ("covered", "TEXT", 1, 0), ("vector", "BLOB", 0, 0),
            ("model", "TEXT", 1, 0), ("marked_at", "TEXT", 1, 0),
        ],
        "point_marks": [("id", "INTEGER", 0, 1), ("answer_id", "INTEGER", 1, 0), ("card_hash", "TEXT", 1, 0), ("point", "TEXT", 1, 0),
                        ("said", "INTEGER", 1, 0)],
        "dismissed_contradictions": [
            ("profile", "TEXT", 1, 1), ("card_id", "TEXT", 1, 2), ("card_sentence", "TEXT", 1, 3), ("card_hash", "TEXT", 1, 0), ("dismissed_at", "TEXT", 1, 0),
        ],
        "grader_fits": [
            ("id", "INTEGER", 0, 1), ("profile", "TEXT", 1, 0), ("fitted_at", "TEXT", 1, 0), ("weights", "TEXT", 0, 0), ("labels", "INTEGER", 1, 0),
            ("fit_labels", "INTEGER", 1, 0), ("judge_labels", "INTEGER", 1, 0), ("auc_default", "REAL", 0, 0), ("auc_fitted", "REAL", 0, 0),
            ("adopted", "INTEGER", 1, 0),
        ],
        "chat_rejections": [
            ("id", "INTEGER", 0, 1), ("profile", "TEXT", 1, 0), ("question", "TEXT", 1, 0), ("asked", "TEXT", 1, 0), ("card_id", "TEXT", 1, 0),
            ("card_hash", "TEXT", 1, 0), ("marked_at", "TEXT", 1, 0),
        ],
        "_indexes": ["card_state_by_due", "fsrs_fits_by_profile", "grader_fits_by_profile", "labelled_answers_by_card", "point_marks_by_answer",
                     "reviews_by_card", "reviews_by_profile_time"],
    }


def test_reopening_does_not_rerun_migrations(tmp_path):
    path = tmp_path / "p.sqlite3"
    ProgressStore(path).close()
    with ProgressStore(path) as store:
        assert store.applied_migrations() == [1, 2, 3, 4, 5, 6]
    rows = sqlite3.connect(path).execute("SELECT COUNT(*) FROM migrations").fetchone()[0]
    assert rows == 6


def test_fsrs_state_follows_the_fsrs_package(tmp_path):
    """The stored state after Good, Good, Easy, Again, Good equals fsrs's own Scheduler run on the same reviews."""
    from fsrs import Card as FsrsCard, Rating, Scheduler

    ratings = ["good", "good", "easy", "again", "good"]
    reference = Scheduler(enable_fuzzing=False)
    expected = FsrsCard(card_id=0, due=T0)
    intervals = []
    with ProgressStore(tmp_path / "p.sqlite3") as store:
        now = T0
        for name in ratings:
            review = store.record_review("ana", card(), "answer", 50, rating=name, now=now)
            expected, _ = reference.review_card(expected, Rating[name.capitalize()], review_datetime=now)
            state = store.card_states("ana")["what-is-focal-loss"].state
            assert state == expected.to_dict()
            assert datetime.fromisoformat(review.due) == expected.due
            intervals.append(expected.due - now)
            now = max(expected.due, now + timedelta(minutes=1))
        progress = store.card_states("ana")["what-is-focal-loss"]
    assert progress.reviews == 5 and progress.lapses == 1
    # Good/Easy stretch the interval; Again brings it back to minutes.
    assert intervals[1] > intervals[0] and intervals[2] > intervals[1]
    assert intervals[3] < timedelta(hours=1) < intervals[2]


def test_override_rating_reschedules_from_the_state_before(tmp_path):
    with ProgressStore(tmp_path / "p.sqlite3") as store:
        first = store.record_review("ana", card(), "a", 90, now=T0)
        second = store.record_review("ana", card(), "b", 20, now=T0 + timedelta(days=3))
        assert second.suggested_rating == "again" and second.rating == "again"
        changed = store.override_rating(second.id, "easy")
        assert changed.rating == "easy" and changed.suggested_rating == "again"
        assert datetime.fromisoformat(changed.due) > datetime.fromisoformat(second.due) + timedelta(days=1)
        assert store.card_states("ana")["what-is-focal-loss"].due == changed.due
        assert store.card_states("ana")["what-is-focal-loss"].lapses == 0
        with pytest.raises(ProgressStoreError, match="latest review"):
            store.override_rating(first.id, "good")


def test_progress_survives_a_restart(tmp_path):
    path = tmp_path / "data" / "progress.sqlite3"
    with ProgressStore(path) as store:
        store.record_review("ana", card(), "my answer", 72, now=T0)
    with ProgressStore(path) as store:
        reviews = store.reviews("ana")
        assert [(r.card_id, r.answer, r.score, r.rating) for r in reviews] == [("what-is-focal-loss", "my answer", 72, "good")]
        assert store.card_states("ana")["what-is-focal-loss"].last_score == 72


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timedelta, timezone
    from kb.notes.cards import Card
    from kb.coach.progress import ProgressStore
    store = ProgressStore(sys.argv[1])
    start = datetime(2026, 1, 5, tzinfo=timezone.utc)
    for i in range(100000):
        c = Card(id=f"card-{i % 7}", note="n.md", family="F", question="Q?", answer_md="A", answer_text="A", line_start=1, line_end=1)
        review = store.record_review("ana", c, f"answer {i}", i % 100, now=start + timedelta(minutes=i))
        print(review.id, flush=True)
    """
)


def killed_after(script: str, path: Path, writes: int = 40) -> list[int]:
    """Run `script` (it prints the id of each write it committed), SIGKILL it after `writes` ids; the ids."""
    process = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True, cwd=ROOT, env=kb_env())
    acknowledged = []
    try:
        for line in process.stdout:
            acknowledged.append(int(line))
            if len(acknowledged) >= writes:
                break
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert len(acknowledged) >= writes
    return acknowledged


def test_every_acknowledged_review_survives_sigkill(tmp_path):
    path = tmp_path / "progress.sqlite3"
    acknowledged = killed_after(KILLED_WRITER, path)
    with ProgressStore(path) as store:
        assert store.integrity_check() == "ok"
        stored = {r.id for r in store.reviews("ana")}
        assert set(acknowledged) <= stored
        # every review's card state was written in the same transaction
        states = store.card_states("ana")
        assert sum(s.reviews for s in states.values()) == len(stored)


KILLED_MARKER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from kb.notes.cards import Card
    from kb.coach.progress import ProgressStore
    store = ProgressStore(sys.argv[1])
    for i in range(100000):
        c = Card(id=f"card-{i % 7}", note="n.md", family="F", question="Q?", answer_md="A", answer_text="A", line_start=1, line_end=1)
        answer_id = store.record_marks("ana", c, f"answer {i}", "right" if i % 2 else "wrong", {"A": bool(i % 3)}, ["A"] if i % 5 == 0 else [],
                                       ["A"], np.ones(4, dtype=np.float32) / 2, "m")
        print(answer_id, flush=True)
    """
)


def test_every_acknowledged_correction_survives_sigkill(tmp_path):
    path = tmp_path / "progress.sqlite3"
    acknowledged = killed_after(KILLED_MARKER, path)
    with ProgressStore(path) as store:
        assert store.integrity_check() == "ok"
        answers = [a for i in range(7) for a in store.card_history("ana", f"card-{i}", "m").answers]
        assert set(acknowledged) <= {a.id for a in answers}
        # the point marks of each answer were written in the same transaction as the answer
        assert all(a.points == {"A": bool((a.id - 1) % 3)} for a in answers)
        assert all(a.vector is not None and a.vector.shape == (4,) for a in answers)
        assert store.correction_counts("ana")["marked_right"] + store.correction_counts("ana")["marked_wrong"] == len(answers)


def test_a_correction_needs_a_known_label_and_keeps_points_by_text(tmp_path):
    with ProgressStore(tmp_path / "p.sqlite3") as store:
        with pytest.raises(ProgressStoreError, match="unknown label"):
            store.record_marks("ana", card(), "x", "maybe")
        store.record_marks("ana", card(), "my answer", "", {"Down-weights easy examples.": True}, ["Used in RetinaNet."], vector=None)
        history = store.card_history("ana", "what-is-focal-loss")
    assert history.answers[0].points == {"Down-weights easy examples.": True}
    assert history.answers[0].label == "" and history.answers[0].vector is None
    assert history.dismissed == frozenset({"Used in RetinaNet."})


def test_profiles_are_isolated(tmp_path):
    with ProgressStore(tmp_path / "p.sqlite3") as store:
        store.record_review("ana", card(), "x", 95, now=T0)
        store.record_review("ben", card("what-does-label-smoothing-do"), "y", 10, now=T0)
        assert set(store.card_states("ana")) == {"what-is-focal-loss"}
        assert set(store.card_states("ben")) == {"what-does-label-smoothing-do"}
        assert [r.answer for r in store.reviews("ana")] == ["x"]
        assert store.profiles() == ["ana", "ben"]
        assert store.card_states("nobody") == {}


def test_a_corrupt_file_is_reported_and_left_untouched(tmp_path):
    path = tmp_path / "progress.sqlite3"
    garbage = b"this is not a database at all\n" * 50
    path.write_bytes(garbage)
    with pytest.raises(ProgressStoreError) as info:
        ProgressStore(path)
    message = str(info.value)
    assert str(path) in message and "move it aside" in message
    assert path.read_bytes() == garbage


def test_a_damaged_sqlite_file_is_reported(tmp_path):
    path = tmp_path / "progress.sqlite3"
    with ProgressStore(path) as store:
        for i in range(30):
            store.record_review("ana", card(f"c-{i}"), "x" * 500, 50, now=T0)
    data = bytearray(path.read_bytes())
    data[100:4000] = b"\xff" * 3900  # smash the schema page, keep the header
    path.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    with pytest.raises(ProgressStoreError, match="corrupt"):
        ProgressStore(path)
    assert bytes(data) == path.read_bytes()


def test_missing_cards_are_reported_and_keep_their_history(tmp_path):
    with ProgressStore(tmp_path / "p.sqlite3") as store:
        store.record_review("ana", card("kept"), "x", 80, now=T0)
        store.record_review("ana", card("gone"), "y", 30, now=T0)
        missing = store.reconcile("ana", ["kept", "new-card"])
        assert [m.card_id for m in missing] == ["gone"]
        assert [r.card_id for r in store.reviews("ana", "gone")] == ["gone"]
        assert "gone" not in {s.card_id for s in store.due_cards("ana", now=T0 + timedelta(days=400))}
        assert store.reconcile("ana", ["kept", "gone"]) == []


def test_mastery_and_reviews_per_day(tmp_path):
    cards = [card("a", "F1"), card("b", "F1"), card("c", "F2")]
    with ProgressStore(tmp_path / "p.sqlite3") as store:
        store.record_review("ana", cards[0], "x", 80, now=T0)
        store.record_review("ana", cards[2], "x", 40, now=T0 + timedelta(days=1))
        store.record_review("ana", cards[2], "x", 60, now=T0 + timedelta(days=1, hours=1))
        assert store.mastery_by_family("ana", cards) == [("F1", 40.0, 1, 2), ("F2", 60.0, 1, 1)]
        assert store.reviews_per_day("ana") == [("2026-01-05", 1, 80.0), ("2026-01-06", 2, 50.0)]
