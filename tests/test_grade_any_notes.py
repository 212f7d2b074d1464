"""A grader that holds on notes nobody tuned it for: floors on the frozen test triples of every corpus
with the vocabulary off, every structural contradiction on a note other than the shipped one, strong
paraphrases never flagged, answers to another card near 0 naming that card, non-answers near 0, and
the JSON `kb grade` prints.

The test triples (benchmarks/eval/grading/*.test.jsonl) were frozen in their own commit before any
tuning (docs/grading.md names it); each floor is the figure measured on them less a margin (the
issue's targets are not met; docs/grading.md reports both).
"""
from __future__ import annotations

import json

import pytest

from kb import grade_feedback
from kb.coach.grade.checks import RULES
from tests.support import BENCHMARKS, kb_env, kb_subprocess, load_kb, read_jsonl, write_notes

TRIPLES = BENCHMARKS / "eval" / "grading"
PAIRS = (("strong", "partial"), ("strong", "wrong"), ("partial", "wrong"))
# corpus -> (pairwise floor, share of wrong answers under 50), KB_VOCAB=none, frozen test triples.
# Measured 0.72/0.67, 0.61/0.34, 0.58/0.42 (benchmarks/results/evaluate_grading.json); the floors sit below. The
# issue's goals (pairwise 0.85 on other notes, 80 % of wrong answers under 50) are not met.
GRADING_FLOORS = {"shipped": (0.64, 0.62), "external": (0.56, 0.30), "added": (0.49, 0.29)}
# Strong answers flagged as contradicting, over every test file: measured 4/74 (5.4 %); the goal is 5 %,
# not met: this ceiling only keeps it from getting worse.
STRONG_FLAGGED_CEILING = 0.10

NOTES = {
    "ml-basics.md": """# ML basics

## Ensembles

### Q: What is the difference between bagging and boosting?
**Bagging**: trains many models independently, in parallel, each on a bootstrap sample of the data, and averages their predictions; it mainly reduces variance.

**Boosting**: trains models sequentially, each new model focusing on the errors of the previous ones, and adds them up; it mainly reduces bias.

## Metrics

### Q: How are precision and recall defined?
Precision is TP / (TP + FP): the share of predicted positives that are really positive.
Recall is TP / (TP + FN): the share of actual positives that the model finds.

### Q: What is accuracy?
Accuracy is the number of correct predictions divided by the total number of predictions. It is misleading on imbalanced data.

## Practice

### Q: Why do we need a validation set?
A validation set is used to tune hyperparameters and to choose between models. It must be kept separate from the test set, so that the test score stays an unbiased estimate of performance.

### Q: Should I use pandas or Polars?
Pandas runs on a single thread and needs the whole dataset in memory. Polars is multi-threaded and can scan files lazily without loading them. Use pandas for small data and Polars for huge data.
""",  # noqa: E501 (a note paragraph is one line, as people write them)
}
BAGGING = "what-is-the-difference-between-bagging-and-boosting"
PRECISION = "how-are-precision-and-recall-defined"
ACCURACY = "what-is-accuracy"
VALIDATION = "why-do-we-need-a-validation-set"
PANDAS = "should-i-use-pandas-or-polars"

# card -> (a strong answer in other words, a wrong one with the card's words), one per structural error
STRUCTURAL = {
    "role_swap": (BAGGING,
                  "Bagging fits its models separately on resampled data and averages them, which cuts variance; "
                  "boosting builds them one after another, each fixing the last one's mistakes, which cuts bias.",
                  "Bagging trains models sequentially, each new model focusing on the errors of the previous ones; "
                  "boosting trains many models independently, in parallel, on bootstrap samples."),
    "definition_swap": (PANDAS,
                        "Pandas is single-threaded and loads everything into RAM, while Polars spreads work over all cores and can stream a file lazily; "
                        "so pandas for small data, Polars for big data.",
                        "Polars runs on a single thread and needs the whole dataset in memory. "
                        "Pandas is multi-threaded and can scan files lazily without loading them."),
    "formula_swap": (ACCURACY,
                     "You count how many predictions were right and divide by how many predictions there were in total; beware of class imbalance.",
                     "Accuracy is the total number of predictions divided by the number of correct predictions."),
    "negation": (VALIDATION,
                 "We tune hyperparameters and compare candidate models on it, and we keep it apart from the test data so the final test score is not biased.",
                 "A validation set is not used to tune hyperparameters or to choose between models."),
    "dismissed": (VALIDATION,
                  "We tune hyperparameters and compare candidate models on it, and we keep it apart from the test data so the final test score is not biased.",
                  "Honestly a validation set doesn't really matter much; you can tune your hyperparameters on the test set and report that score."),
}


@pytest.fixture(scope="module")
def notes_kb(tmp_path_factory, encoder):
    """The note above, with the vocabulary off: what holds here holds without any domain list."""
    return load_kb(write_notes(tmp_path_factory.mktemp("grade-notes") / "corpus", NOTES), encoder, vocab="none")


@pytest.mark.parametrize("kind", sorted(STRUCTURAL))
def test_each_structural_contradiction_is_flagged_beside_the_card_sentence(notes_kb, kind):
    card_id, strong, wrong = STRUCTURAL[kind]
    good, bad = notes_kb.grade(card_id, strong), notes_kb.grade(card_id, wrong)
    assert bad.contradictions, f"{kind}: not flagged"
    clash = bad.contradictions[0]
    assert clash.answer_span and clash.answer_span.rstrip(".,") in wrong
    assert clash.card_sentence and clash.card_sentence in notes_kb.card(card_id).answer_md
    assert not good.contradictions, f"{kind}: the strong paraphrase was flagged: {good.contradictions}"
    assert bad.score < 50 <= good.score


def test_an_answer_to_another_card_scores_near_zero_and_names_it(notes_kb):
    answer = STRUCTURAL["role_swap"][1]  # a good answer on bagging and boosting, to the precision question
    grade = notes_kb.grade(PRECISION, answer)
    assert grade.score < 15
    assert grade.fits_card is not None and grade.fits_card.id == BAGGING
    assert grade.to_dict()["fits_card"] == {"id": BAGGING, "question": notes_kb.card(BAGGING).question}


@pytest.mark.parametrize("answer", ["", "I don't know.", "Sorry, no idea, I can't remember.", "How are precision and recall defined?"])
def test_a_non_answer_scores_ten_at_most(notes_kb, answer):
    grade = notes_kb.grade(PRECISION, answer)
    assert grade.score <= 10 and not grade.contradictions


def test_covered_points_come_with_the_span_that_says_them(notes_kb):
    answer = "Precision is the fraction of predicted positives that are correct. Recall is the fraction of real positives we catch."
    grade = notes_kb.grade(PRECISION, answer)
    assert grade.covered
    for covered in grade.covered:
        assert covered.span in answer and covered.point in notes_kb.card(PRECISION).answer_md


def test_kb_grade_json_has_spans_sentences_and_the_card_it_fits(tmp_path):
    corpus = write_notes(tmp_path / "corpus", NOTES)
    env = kb_env(tmp_path, KB_CORPUS=str(corpus), KB_INDEX=str(tmp_path / "index"), KB_VOCAB="none")
    wrong = STRUCTURAL["definition_swap"][2]
    done = kb_subprocess("grade", "-q", PANDAS, "-a", wrong, "--json", env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) >= {"score", "covered", "missed", "contradictions", "fits_card"}
    assert out["contradictions"] and set(out["contradictions"][0]) == {"answer_span", "card_sentence", "kind", "rule"}
    assert out["contradictions"][0]["rule"] in RULES and "confident" in out
    assert all(set(c) == {"point", "span"} for c in out["covered"])
    other = json.loads(kb_subprocess("grade", "-q", PRECISION, "-a", STRUCTURAL["role_swap"][1], "--json", env=env).stdout)
    assert other["fits_card"]["id"] == BAGGING and other["score"] < 15


def _scores(kb, rows: list[dict]) -> list[dict]:
    out = []
    for row in rows:
        grades = {k: kb.grade(row["card"], row[k]) for k in ("strong", "partial", "wrong")}
        out.append({k: g.score for k, g in grades.items()} | {"strong_flagged": bool(grades["strong"].contradictions)})
    return out


CONTRAST_NOTES = {
    "training.md": """# Training

## Distillation

### Q: What does distillation train the student on?
Train the student to match the teacher's soft predictions, not just the hard labels.

## Regularization

### Q: How do L1 and L2 regularization differ?
**L1**: Induces sparsity: some weights go exactly to zero. Useful for feature selection.

**L2**: Shrinks all weights smoothly toward zero, none exactly to zero.
""",
}
# Right answers whose contrast words decide which term a claim is about (each was flagged before the
# rule named beside it), graded with the vocabulary off.
CONTRASTED_RIGHT_ANSWERS = {
    # "instead of" denies what follows it, as the card's "not just" does: no attribute clash, no flip
    "instead of": ("what-does-distillation-train-the-student-on",
                   "The student learns to match the teacher's soft predictions instead of only the hard labels."),
    # a clause cut at "unlike" starts with the term it is compared with, not the one it speaks of
    "unlike": ("how-do-l1-and-l2-regularization-differ",
               "L2 shrinks every weight smoothly but almost never makes one exactly zero. "
               "L1 penalizes absolute values, and unlike L2 it drives some weights to exactly zero, so it selects features."),
}


@pytest.fixture(scope="module")
def contrast_kb(tmp_path_factory, encoder):
    return load_kb(write_notes(tmp_path_factory.mktemp("contrast-notes") / "corpus", CONTRAST_NOTES), encoder, vocab="none")


@pytest.mark.parametrize("form", sorted(CONTRASTED_RIGHT_ANSWERS))
def test_a_right_answer_using_a_contrast_word_is_not_flagged(contrast_kb, form):
    card_id, answer = CONTRASTED_RIGHT_ANSWERS[form]
    grade = contrast_kb.grade(card_id, answer)
    assert grade.contradictions == [], grade.contradictions
    assert grade.score >= 60, grade.score


def test_swapping_two_items_of_a_list_is_no_role_swap():
    # "SimCLR, MoCo and CLIP" against the card's "SimCLR, CLIP, MoCo": a list's order carries no role
    from kb.coach.grade.repairs import edits
    from kb.coach.grade.text import tokens

    said = [tokens("SimCLR, MoCo and CLIP are all built on it")]
    claims = [tokens("InfoNCE is the foundation of SimCLR, CLIP, MoCo")]
    terms = {"simclr", "moco", "clip", "infonce"}
    assert not [e for e in edits(said, terms, claims) if e.kind == "role_swap"]
    # two terms on either side of a verb still make a swap to test
    roles = [tokens("the student teaches the teacher")]
    assert [e for e in edits(roles, {"student", "teacher"}, [tokens("the teacher teaches the student")]) if e.kind == "role_swap"]


@pytest.mark.slow
def test_a_right_clause_the_rules_misread_is_not_called_a_contradiction(eval_corpora):
    # A dev triple on the external theory note: the word rules read "Compared with SGD it usually
    # converges faster" as a definition given to the wrong term; the edit that would undo that (Adam
    # and SGD swapped) moves the clause away from the card, so it is not called a contradiction.
    kb = eval_corpora("external", "none")
    row = next(r for r in read_jsonl(TRIPLES / "external.dev.jsonl") if r["id"] == "ext-d07")
    strong, wrong = kb.grade(row["card"], row["strong"]), kb.grade(row["card"], row["wrong"])
    assert strong.contradictions == [], strong.contradictions
    assert wrong.contradictions, "the swapped-roles answer is still flagged"
    assert strong.score >= 60 > wrong.score, (strong.score, wrong.score)
    # What the rules read as a clash is still shown, as something to check, not as a contradiction.
    assert strong.doubted and any("Worth checking" in block for block in grade_feedback(strong))


@pytest.mark.slow
def test_grading_floors_on_every_corpus_with_the_vocabulary_off(eval_corpora):
    flagged = total = 0
    failures = []
    for name, (pairwise_floor, wrong_floor) in sorted(GRADING_FLOORS.items()):
        scores = _scores(eval_corpora(name, "none"), read_jsonl(TRIPLES / f"{name}.test.jsonl"))
        pairwise = sum(s[a] > s[b] for s in scores for a, b in PAIRS) / (3 * len(scores))
        wrong_low = sum(s["wrong"] < 50 for s in scores) / len(scores)
        flagged += sum(s["strong_flagged"] for s in scores)
        total += len(scores)
        if pairwise < pairwise_floor or wrong_low < wrong_floor:
            failures.append(f"{name}: pairwise {pairwise:.2f} (floor {pairwise_floor}), wrong<50 {wrong_low:.2f} (floor {wrong_floor})")
    assert not failures, "; ".join(failures)
    assert flagged / total <= STRONG_FLAGGED_CEILING, f"{flagged}/{total} strong answers flagged as contradicting"
