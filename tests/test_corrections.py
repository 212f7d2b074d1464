"""The grader learns from the user's own labels: answers marked right or wrong, key points said or
not, contradictions dismissed. Real model, real SQLite file, the shipped note."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kb.cli import main
from kb.coach.progress import ProgressStore

FOCAL = "what-is-focal-loss"


@pytest.fixture()
def labels_store(tmp_path):
    with ProgressStore(tmp_path / "progress.sqlite3") as s:
        yield s


def test_an_answer_like_one_marked_wrong_scores_low_and_says_so(shipped_kb, labels_store):
    from kb import grade_feedback

    wrong = "Focal loss up-weights the easy, well-classified examples so the model stays confident on them; it is used in RetinaNet."
    before = shipped_kb.grade(FOCAL, wrong, profile="ana", store=labels_store)
    shipped_kb.progress("ana", store=labels_store).mark(FOCAL, wrong, "wrong")
    again = "Focal loss puts more weight on the easy, well-classified examples so the model stays confident about them; RetinaNet uses it."
    graded = shipped_kb.grade(FOCAL, again, profile="ana", store=labels_store)
    assert graded.like is not None and graded.like.label == "wrong"
    assert graded.score <= 30 < before.score or graded.score <= 30
    assert any("which you marked wrong" in block and wrong[:40] in block for block in grade_feedback(graded))
    assert shipped_kb.grade(FOCAL, again, profile="bo", store=labels_store).like is None  # another profile's labels are not read
    data = graded.to_dict()
    assert data["like_earlier"]["label"] == "wrong" and data["confident"] is True


def test_the_corrected_wording_of_a_wrong_answer_is_not_held_against_it(shipped_kb, labels_store):
    wrong = "Focal loss up-weights the easy, well-classified examples by the factor (1-p_t)^gamma; it was made for class imbalance in RetinaNet."
    shipped_kb.progress("ana", store=labels_store).mark(FOCAL, wrong, "wrong")
    fixed = "Focal loss down-weights the easy, well-classified examples by the factor (1-p_t)^gamma; it was made for class imbalance in RetinaNet."
    graded = shipped_kb.grade(FOCAL, fixed, profile="ana", store=labels_store)
    assert graded.like is None or graded.like.label != "wrong"
    assert graded.score >= 60


ENSEMBLES_NOTE = """# Ensembles

## Ensembles

### Q: What is the difference between bagging and boosting?
**Bagging**: trains many models independently, in parallel, each on a bootstrap sample of the data, and averages their predictions; it mainly reduces variance.

**Boosting**: trains models sequentially, each new model focusing on the errors of the previous ones, and adds them up; it mainly reduces bias.
"""  # noqa: E501 (a note paragraph is one line, as people write them)


def test_a_swap_put_right_is_not_taken_for_the_swapped_answer_marked_wrong(make_kb, tmp_path):
    """The fixed answer has the very words of the one marked wrong, so only the grader can see the fix:
    on its own it scores far above that answer, so it is no repeat. A repeat in other words still is."""
    kb = make_kb({"ensembles.md": ENSEMBLES_NOTE}, vocab="none")
    card = kb.cards()[0].id
    wrong = ("Bagging trains models sequentially, each focusing on the errors of the previous ones; "
             "boosting trains them independently in parallel on bootstrap samples and averages them.")
    fixed = ("Boosting trains models sequentially, each focusing on the errors of the previous ones; "
             "bagging trains them independently in parallel on bootstrap samples and averages them.")
    with ProgressStore(tmp_path / "p.sqlite3") as store:
        kb.progress("ana", store=store).mark(card, wrong, "wrong")
        graded = kb.grade(card, fixed, profile="ana", store=store)
        repeat = kb.grade(card, "Bagging builds its models one after another, each fixing the mistakes of the last; "
                                "boosting fits them separately in parallel on resampled data and averages.", profile="ana", store=store)
    assert graded.like is None and graded.score >= 60
    assert repeat.score < 50


def test_an_answer_like_one_marked_right_earns_its_points(shipped_kb, labels_store):
    right = ("It multiplies cross-entropy by (1-p_t)^gamma, which shrinks the loss of easy, confidently classified examples "
             "so training concentrates on hard ones.")
    first = shipped_kb.grade(FOCAL, right, profile="ana", store=labels_store)
    marked = shipped_kb.progress("ana", store=labels_store).mark(FOCAL, right, "right", points={first.missed[0]: True})
    assert first.missed[0] not in marked.missed  # a mark re-scores the answer at once
    close = "It scales the cross-entropy by (1-p_t)^gamma, shrinking the loss of easy, confident examples so the training focuses on the hard ones."
    graded = shipped_kb.grade(FOCAL, close, profile="ana", store=labels_store)
    plain = shipped_kb.grade(FOCAL, close)
    assert graded.like is not None and graded.like.label == "right"
    assert first.missed[0] not in graded.missed and graded.score >= plain.score
    assert len(graded.covered) >= len(plain.covered)


def test_a_point_marked_not_said_is_not_credited(shipped_kb, labels_store):
    answer = "Focal loss down-weights easy, well-classified examples with the factor (1-p_t)^gamma."
    first = shipped_kb.grade(FOCAL, answer, profile="ana", store=labels_store)
    point = first.covered[0].point
    marked = shipped_kb.progress("ana", store=labels_store).mark(FOCAL, answer, points={point: False})
    assert point in marked.missed and marked.score <= first.score


def test_a_dismissed_contradiction_holds_for_that_sentence_and_profile(shipped_kb, labels_store):
    from kb import grade_feedback

    answer = "Focal loss up-weights the easy, well-classified examples; it is used in RetinaNet."
    flagged = shipped_kb.grade(FOCAL, answer, profile="ana", store=labels_store)
    if not flagged.contradictions:
        pytest.skip("the grader flags nothing on this answer: nothing to dismiss")
    sentence = flagged.contradictions[0].card_sentence
    after = shipped_kb.progress("ana", store=labels_store).mark(FOCAL, answer, dismissed=[sentence])
    assert all(c.card_sentence != sentence for c in after.contradictions)
    assert any(c.card_sentence == sentence for c in shipped_kb.grade(FOCAL, answer, profile="bo", store=labels_store).contradictions)
    assert not any(sentence in block for block in grade_feedback(after) if "opposite" in block)


def test_kb_grade_marks_without_a_review_and_stats_count_it(shipped_kb, tmp_path):
    data = tmp_path / "data"
    corpus, index = shipped_kb.config.corpus, shipped_kb.config.index
    base = ["--corpus", str(corpus), "--index", str(index), "--data", str(data), "--profile", "ana"]
    answer = "It up-weights easy examples."
    out = CliRunner().invoke(main, ["grade", "-q", FOCAL, "-a", answer, "--mark", "wrong", "--json", *base])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output.strip().splitlines()[-1])["marked"] == "wrong"
    again = CliRunner().invoke(main, ["grade", "-q", FOCAL, "-a", answer, "--json", *base])
    result = json.loads(again.output.strip().splitlines()[-1])
    assert result["like_earlier"]["label"] == "wrong" and result["score"] <= 30
    stats = json.loads(CliRunner().invoke(main, ["stats", "--json", *base]).output)
    assert stats["corrections"]["marked_wrong"] == 1 and stats["reviews"] == 0  # no review, FSRS untouched
    with ProgressStore(data / "progress.sqlite3") as store:
        assert store.card_states("ana") == {}
    bad = CliRunner().invoke(main, ["grade", "-q", FOCAL, "-a", answer, "--mark", "right", "--corpus", str(corpus), "--index", str(index)])
    assert bad.exit_code == 1 and "--mark needs --profile" in bad.output


MISTAKES_NOTE = """# Notes

## Losses

### Q: What is focal loss?

Cross-entropy scaled by $(1-p_t)^\\gamma$. It down-weights easy, well-classified examples so training focuses on hard ones. Made for class imbalance in dense detection (RetinaNet).

**Common mistake:** saying it gives more weight to the easy examples.

> [!failure]
> Calling it a loss for regression targets.
"""  # noqa: E501 (a note paragraph is one line, as people write them)


def test_known_mistakes_in_a_note_are_negative_references(make_kb, tmp_path):
    from kb import grade_feedback
    from kb.coach.grade.points import key_points

    kb = make_kb({"losses.md": MISTAKES_NOTE})
    card = kb.cards()[0]
    assert card.misconceptions == ["saying it gives more weight to the easy examples.", "Calling it a loss for regression targets."]
    assert not any("regression" in p.text or "more weight" in p.text for p in key_points(card))
    assert "Common mistake" in card.answer_md  # still shown with the card
    said = kb.grade(card.id, "It is a loss for regression targets like house prices.")
    assert [(c.kind, c.card_sentence) for c in said.contradictions] == [("misconception", "Calling it a loss for regression targets.")]
    assert said.score < 50 and any("A known mistake your notes list" in b for b in grade_feedback(said))
    right = kb.grade(card.id, "It down-weights the easy examples so training focuses on the hard ones, for class imbalance in RetinaNet.")
    assert right.contradictions == [] and right.score >= 60
    with ProgressStore(tmp_path / "p.sqlite3") as store:
        kb.progress("ana", store=store).mark(card.id, "It is a loss for regression targets like house prices.",
                                             dismissed=["Calling it a loss for regression targets."])
        again = kb.grade(card.id, "It is a loss for regression targets like house prices.", profile="ana", store=store)
    assert not any(c.kind == "misconception" for c in again.contradictions)


@pytest.mark.slow
def test_calibrate_grader_fits_on_the_earliest_labels_and_judges_on_the_latest(shipped_kb, tmp_path):
    from datetime import datetime, timedelta, timezone

    from tests.support import ROOT, read_jsonl

    rows = [r for name in ("shipped.dev.jsonl", "shipped.dev2.jsonl") for r in read_jsonl(ROOT / "benchmarks" / "eval" / "grading" / name)]
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    data = tmp_path / "data"
    with ProgressStore(data / "progress.sqlite3") as store:
        few = CliRunner().invoke(main, ["calibrate", "grader", "--profile", "ana", "--data", str(data),
                                        "--corpus", str(shipped_kb.config.corpus), "--index", str(shipped_kb.config.index)])
        assert few.exit_code == 0 and "needs 40 marked answers" in few.output
        for i, row in enumerate(rows):
            card = shipped_kb.card(row["card"])
            store.record_marks("ana", card, row["strong"], "right", now=start + timedelta(hours=2 * i))
            store.record_marks("ana", card, row["wrong"], "wrong", now=start + timedelta(hours=2 * i + 1))
        assert len(store.labelled("ana")) == 2 * len(rows) >= 50
        result = shipped_kb.progress("ana", store=store).calibrate_grader()
        assert result.status in ("adopted", "rejected") and result.fit_labels == int(0.8 * 2 * len(rows))
        assert len(result.candidates) == 9 and result.auc_default is not None and result.auc_fitted is not None
        assert (store.grader_weights("ana") == result.weights) == result.adopted
        assert store.grader_weights("bo") is None
    out = CliRunner().invoke(main, ["calibrate", "grader", "--profile", "ana", "--data", str(data), "--json",
                                    "--corpus", str(shipped_kb.config.corpus), "--index", str(shipped_kb.config.index)])
    assert out.exit_code == 0 and json.loads(out.output.strip().splitlines()[-1])["labels"] == 2 * len(rows)
