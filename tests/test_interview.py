"""InterviewSession end to end on the shipped notes, the real model and a real progress file."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from kb.coach.interview import InterviewSession, choose_cards
from kb.coach.progress import ProgressStore
from kb.errors import QueryError

STRONG_FOCAL = ("Focal loss scales cross-entropy by (1 - p_t)^gamma, so easy well-classified examples are down-weighted and "
                "training concentrates on hard ones; it was designed for extreme class imbalance like foreground vs background in RetinaNet.")


@pytest.fixture()
def store(tmp_path):
    with ProgressStore(tmp_path / "progress.sqlite3") as s:
        yield s


def test_a_full_interview_asks_grades_follows_up_and_summarises(shipped_kb, store):
    session = InterviewSession(shipped_kb, store, profile="ana", families=["Classification"], length=3, mode="random", seed=3)
    turns = session.start()
    question = turns[-1]
    assert question.kind == "question" and question.data["family"] == "Classification"
    first_id = question.data["card_id"]

    turns = session.handle("A short and mostly empty answer about nothing in particular.")
    grade = turns[0]
    assert grade.kind == "grade" and 0 <= grade.data["score"] <= 100
    assert grade.data["missed"] and "Model answer" in grade.text
    assert grade.data["rating"] in ("again", "hard", "good", "easy")
    follow = turns[1]
    assert follow.kind == "question" and follow.data["follow_up_of"] == first_id
    assert "How does that connect to" in follow.text
    linked = [link.id for link in shipped_kb.related(first_id, k=6)]
    assert follow.data["card_id"] in linked

    assert session.handle("repeat")[0].data["card_id"] == follow.data["card_id"]
    hint = session.handle("hint")[0]
    assert hint.kind == "hint" and hint.data["max_score"] == 85
    turns = session.handle("skip")
    assert turns[0].data["skipped"] and turns[-1].kind == "question"
    third = turns[-1].data["card_id"]
    turns = session.handle("end")
    summary = turns[-1]
    assert summary.kind == "summary" and session.finished
    rows = summary.data["questions"]
    assert [r["card_id"] for r in rows] == [first_id, follow.data["card_id"], third]
    assert rows[0]["score"] == grade.data["score"] and rows[1]["skipped"] and rows[2]["skipped"]
    assert summary.data["due_next"][0]["card_id"] == first_id
    assert [r.card_id for r in store.reviews("ana")] == [first_id]


def test_the_user_can_override_the_suggested_rating(shipped_kb, store):
    session = InterviewSession(shipped_kb, store, profile="ana", families=["Classification"], length=1, mode="random", seed=1, follow_ups=False)
    session.start()
    grade = session.handle("no idea really, something about classes maybe")[0]
    assert grade.data["rating"] == "again"
    turn = session.set_rating("easy")
    assert turn.data["rating"] == "easy"
    review = store.reviews("ana")[0]
    assert review.suggested_rating == "again" and review.rating == "easy"
    assert datetime.fromisoformat(review.due) > datetime.now(timezone.utc) + timedelta(days=1)
    assert session.summary().data["questions"][0]["rating"] == "easy"


def test_a_strong_answer_scores_well_and_is_scheduled_later_than_a_weak_one(shipped_kb, store):
    session = InterviewSession(shipped_kb, store, profile="ana", length=5, follow_ups=False, card_ids=["what-is-focal-loss", "what-does-label-smoothing-do"])
    session.start()
    strong = session.handle(STRONG_FOCAL)[0]
    weak = session.handle("It is a trick.")[0]
    assert strong.data["score"] >= 72 > weak.data["score"]
    assert datetime.fromisoformat(strong.data["due"]) > datetime.fromisoformat(weak.data["due"])
    assert "$" in strong.data["answer_md"]  # the model answer keeps its LaTeX for KaTeX


def test_due_mode_puts_due_cards_first_and_weakest_mode_the_low_scores(shipped_kb, store):
    past = datetime.now(timezone.utc) - timedelta(days=30)
    ids = ("what-is-focal-loss", "what-does-label-smoothing-do", "when-would-you-use-hinge-loss-over-cross-entropy")
    focal, smoothing, hinge = (shipped_kb.card(i) for i in ids)
    store.record_review("ana", focal, "x", 95, now=past)  # first review rated easy, 30 days ago
    store.record_review("ana", smoothing, "y", 10, now=past)  # again 30 days ago: long overdue
    store.record_review("ana", hinge, "z", 95, now=datetime.now(timezone.utc))  # just reviewed: not due
    states = store.card_states("ana")
    due_now = {cid for cid, s in states.items() if s.due <= datetime.now(timezone.utc).isoformat()}
    assert smoothing.id in due_now and hinge.id not in due_now
    order = choose_cards(shipped_kb, store, "ana", ["Classification"], 5, "due", random.Random(0))
    ids = [c.id for c in order]
    assert ids[: len(due_now)] == sorted(due_now, key=lambda cid: states[cid].due)
    assert ids.index(hinge.id) > ids.index(smoothing.id)
    weakest = choose_cards(shipped_kb, store, "ana", ["Classification"], 5, "weakest", random.Random(0))
    assert weakest[0].id == smoothing.id


def test_profiles_do_not_share_progress(shipped_kb, store):
    for name, answer in (("ana", STRONG_FOCAL), ("ben", "no idea")):
        session = InterviewSession(shipped_kb, store, profile=name, length=1, follow_ups=False, card_ids=["what-is-focal-loss"])
        session.start()
        session.handle(answer)
    ana, ben = store.card_states("ana"), store.card_states("ben")
    assert ana["what-is-focal-loss"].last_score > ben["what-is-focal-loss"].last_score
    assert len(store.reviews("ana")) == len(store.reviews("ben")) == 1


def test_bad_choices_get_clear_errors(shipped_kb, store):
    with pytest.raises(QueryError, match="unknown family"):
        InterviewSession(shipped_kb, store, families=["Astrology"]).start()
    with pytest.raises(QueryError, match="unknown interview mode"):
        InterviewSession(shipped_kb, store, mode="hardest").start()


def test_progress_stays_with_an_edited_card_and_a_removed_card_is_reported(make_kb, shipped_kb, tmp_path):
    note = (shipped_kb.config.corpus / "losses-in-deep-learning.md").read_text(encoding="utf-8")
    kb = make_kb({"losses.md": note})
    with ProgressStore(tmp_path / "edit.sqlite3") as store:
        focal = kb.card("what-is-focal-loss")
        store.record_review("ana", focal, "answer", 80)
        store.record_review("ana", kb.card("what-does-label-smoothing-do"), "answer", 50)
        # edit the focal-loss answer (same question, so the same id) and delete the label-smoothing card
        edited = note.replace("Designed for extreme class imbalance", "Made for extreme class imbalance")
        start = edited.index("### Q: What does label smoothing do?")
        end = edited.index("### Q: When would you use hinge loss")
        edited = edited[:start] + edited[end:]
        path = kb.config.corpus / "losses.md"
        path.write_text(edited, encoding="utf-8")
        assert kb.refresh_if_changed(force_check=True)
        assert "Made for extreme" in kb.card("what-is-focal-loss").answer_md
        session = InterviewSession(kb, store, profile="ana", length=2, mode="due", seed=0)
        turns = session.start()
        info = [t for t in turns if t.data.get("missing")]
        assert info and info[0].data["missing"] == ["what-does-label-smoothing-do"]
        assert "no longer in the notes" in info[0].text
        assert store.card_states("ana")["what-is-focal-loss"].reviews == 1
        assert [r.card_id for r in store.reviews("ana")] == ["what-is-focal-loss", "what-does-label-smoothing-do"]
        asked = [t.data["card_id"] for t in turns if t.kind == "question"]
        assert "what-does-label-smoothing-do" not in asked


def test_web_handlers_drive_a_session_and_turn_errors_into_messages(shipped_kb, store):
    """The Interview tab's handlers are plain functions: start, send, rate."""
    from kb.ui import interview_tab

    session, history, note = interview_tab.start(shipped_kb, store, "cara", ["Astrology"], 3, "Random")
    assert session is None and "unknown family" in history[-1]["content"]

    session, history, note = interview_tab.start(shipped_kb, store, "cara", [interview_tab.ALL_FAMILIES, "Regression"], 2, "Random")
    assert session.families == ["Regression"] and "Q1." in history[-1]["content"]
    session, history, cleared, note = interview_tab.send(session, STRONG_FOCAL, history)
    assert cleared == "" and history[-3]["role"] == "user"
    assert any("Score:" in m["content"] for m in history if m["role"] == "assistant")
    assert "Click another rating" in note
    session, history, note = interview_tab.rate(session, "hard", history)
    assert "Rating set to **Hard**" in history[-1]["content"]
    assert store.reviews("cara")[0].rating == "hard"

    _, history2, _, _ = interview_tab.send(None, "hello", [])
    assert "Start interview" in history2[-1]["content"]


def test_progress_tables_for_the_progress_tab(shipped_kb, store):
    from kb.ui.progress_tab import progress_tables

    store.record_review("dan", shipped_kb.card("what-is-focal-loss"), "x", 80)
    mastery, per_day, due = progress_tables(shipped_kb, store, "dan")
    row = mastery[mastery["family"] == "Classification"].iloc[0]
    classification_cards = len(shipped_kb.family_cards("Classification"))
    assert row["reviewed"] == 1 and row["cards"] == classification_cards
    assert row["mastery"] == round(80 / classification_cards, 1)
    assert per_day["reviews"].tolist() == [1]
    assert "1 reviewed" in due


def test_a_card_deleted_mid_interview_is_skipped_with_a_message(make_kb, shipped_kb, tmp_path):
    note = (shipped_kb.config.corpus / "losses-in-deep-learning.md").read_text(encoding="utf-8")
    kb = make_kb({"losses.md": note})
    with ProgressStore(tmp_path / "gone.sqlite3") as store:
        session = InterviewSession(kb, store, length=2, follow_ups=False, card_ids=["what-is-focal-loss", "what-does-label-smoothing-do"])
        assert session.start()[-1].data["card_id"] == "what-is-focal-loss"
        start = note.index("### Q: What is focal loss?")
        end = note.index("### Q: What does label smoothing do?")
        (kb.config.corpus / "losses.md").write_text(note[:start] + note[end:], encoding="utf-8")
        assert kb.refresh_if_changed(force_check=True)
        turns = session.handle("It down-weights easy examples.")
        assert "no longer in the notes" in turns[0].text
        assert turns[-1].kind == "question" and turns[-1].data["card_id"] == "what-does-label-smoothing-do"
        assert store.reviews("default") == []


def test_family_picker_keeps_all_or_the_chosen_families():
    from kb.ui.interview_tab import ALL_FAMILIES, tidy_families

    assert tidy_families([ALL_FAMILIES, "Regression"]) == ["Regression"]
    assert tidy_families(["Regression", "GAN Losses", ALL_FAMILIES]) == [ALL_FAMILIES]
    assert tidy_families([]) == [ALL_FAMILIES]
