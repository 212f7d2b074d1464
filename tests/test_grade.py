"""Grading with the real model on the shipped notes: key points, coverage, contradictions, and the triples floor."""
from __future__ import annotations

import json

import pytest

from kb.coach.grade import key_points, max_score_after_hints
from tests.support import BENCHMARKS

TRIPLES = BENCHMARKS / "grading_triples.jsonl"
# Measured (benchmarks/results/grading.json, python benchmarks/eval_grading.py --split all): dev 0.906, test 0.860,
# test2 0.858 pairwise; the floors sit a little below.
HELD_OUT_FLOOR = 0.85
TEST2_FLOOR = 0.83
DEV_FLOOR = 0.90


@pytest.fixture(scope="module")
def grader(shipped_kb):
    return shipped_kb.grader()


def test_key_points_attach_lead_terms_and_keep_formulas(shipped_kb):
    points = key_points(shipped_kb.card("when-do-you-use-mse-vs-mae-vs-huber"))
    plains = [p.plain for p in points]
    assert "MAE: Robust to outliers. Predicts conditional median." in plains
    assert all(p.kind == "claim" for p in points)
    ppo = key_points(shipped_kb.card("how-does-ppo-work-why-the-clip"))
    formulas = [p for p in ppo if p.kind == "formula"]
    assert len(formulas) == 1 and formulas[0].text.startswith("$$") and "\\text{clip}" in formulas[0].text
    assert any("prevents the policy from changing too much" in p.plain for p in ppo)


def test_paraphrase_covers_a_key_point(shipped_kb, grader):
    card = shipped_kb.card("when-do-you-use-mse-vs-mae-vs-huber")
    result = grader.grade(card, "Mean absolute error estimates the conditional median and is not thrown off by outliers.")
    assert any("Predicts conditional median" in c.point and "conditional median" in c.span for c in result.covered)
    assert not result.contradictions


@pytest.mark.parametrize(
    "card_id, right, swapped",
    [
        (
            "whats-the-difference-between-forward-and-reverse-kl",
            "Forward KL is mode-covering, so q spreads over every mode of p, while reverse KL is mode-seeking and locks onto one mode.",
            "Forward KL is mode-seeking, so q locks onto one mode of p, while reverse KL is mode-covering and spreads over every mode.",
        ),
        (
            "how-does-ppo-work-why-the-clip",
            "The clip on the probability ratio prevents the policy from changing too much in one update, a cheap version of TRPO's trust region.",
            "The clip on the probability ratio lets the policy move further in one update, so it changes more than TRPO's trust region allows.",
        ),
        (
            "when-do-you-use-mse-vs-mae-vs-huber",
            "MSE predicts the conditional mean and MAE predicts the conditional median; MAE is robust to outliers.",
            "MAE predicts the conditional mean and MSE predicts the conditional median; MSE is robust to outliers.",
        ),
    ],
)
def test_a_confidently_wrong_answer_with_the_right_words_scores_low(shipped_kb, grader, card_id, right, swapped):
    card = shipped_kb.card(card_id)
    good, bad = grader.grade(card, right), grader.grade(card, swapped)
    assert bad.contradictions, "the swap should be flagged"
    assert not good.contradictions
    assert bad.score < 40 <= good.score or bad.score < good.score / 2


@pytest.mark.parametrize(
    "card_id, right, reversed_",
    [
        (  # a comparative with its two sides swapped
            "ppo-vs-trpo-vs-sac-when-to-use-each",
            "SAC is off-policy and much more sample efficient than PPO because it reuses data, so it suits expensive continuous control.",
            "PPO is off-policy and much more sample efficient than SAC because it reuses data, so it suits expensive continuous control.",
        ),
        (  # the same comparative with the attribute's direction reversed
            "why-behavior-cloning-on-replayed-data-clear",
            "Behaviour cloning on the replayed data is more stable than re-running the RL loss on off-policy data.",
            "Behaviour cloning on the replayed data is less stable than re-running the RL loss on off-policy data.",
        ),
        (  # formula arguments in the other order
            "whats-the-difference-between-forward-and-reverse-kl",
            "Forward KL is D(p||q) and is mode-covering; reverse KL is D(q||p) and is mode-seeking.",
            "Forward KL is D(q||p) and is mode-covering; reverse KL is D(p||q) and is mode-seeking.",
        ),
        (  # a formula standing for the wrong term, with that term's attribute
            "whats-the-difference-between-forward-and-reverse-kl",
            "KL(p||q) forces q to spread over every mode of p, while KL(q||p) lets q concentrate on a single peak.",
            "KL(p||q) lets q concentrate on a single peak, while KL(q||p) forces q to spread over every mode of p.",
        ),
        (  # waving away what the card is about
            "how-does-psro-relate-to-continual-learning",
            "Each PSRO iteration adds a policy that must stay competent against all the earlier ones, which is continual learning over strategies.",
            "PSRO has nothing to do with continual learning: each iteration adds a policy and earlier ones stop mattering.",
        ),
        (  # roles swapped around the same verb
            "how-does-knowledge-distillation-loss-work",
            "The student is trained to match the teacher's soft predictions, with a temperature T.",
            "The teacher is trained to match the student's soft predictions, with a temperature T.",
        ),
        (  # one compared term given what the card says of another
            "what-is-distributional-rl-and-why-does-it-help",
            "C51 keeps fixed atoms and learns their probabilities, while QR-DQN fixes the quantiles and learns atom locations.",
            "C51 uses fixed quantiles and learns atom locations, while QR-DQN keeps fixed atoms and learns their probabilities.",
        ),
        (  # a number the card never gives that word
            "default-contrastive",
            "InfoNCE with cosine similarity and a temperature of 0.07.",
            "InfoNCE with cosine similarity and a temperature of 10.",
        ),
        (  # claiming what the card says is not needed
            "whats-grpo-and-why-does-deepseek-use-it",
            "GRPO normalizes rewards within a group of sampled answers; the group mean is the baseline, so there is no critic.",
            "GRPO normalizes rewards within a group of sampled answers, and it needs a separately trained critic as the baseline.",
        ),
    ],
)
def test_a_reversed_relation_is_flagged_and_lands_below_50(shipped_kb, grader, card_id, right, reversed_):
    card = shipped_kb.card(card_id)
    good, bad = grader.grade(card, right), grader.grade(card, reversed_)
    assert bad.contradictions, "the reversed relation should be flagged"
    assert not good.contradictions
    assert bad.score < 50 <= good.score


def test_a_flagged_formula_is_shown_as_the_student_wrote_it(shipped_kb, grader):
    card = shipped_kb.card("whats-the-difference-between-forward-and-reverse-kl")
    result = grader.grade(card, "KL(p||q) lets q concentrate on a single peak, while KL(q||p) forces q to spread over every mode of p.")
    assert any("KL(p||q)" in c.answer_span for c in result.contradictions)
    assert not any("\u2060" in c.answer_span for c in result.contradictions)


def test_a_strong_answer_in_other_words_beats_a_copy_of_the_question(shipped_kb, grader):
    for card_id, answer in [
        ("what-is-focal-loss", "It multiplies cross-entropy by (1 - p)^gamma so easy, confident examples count far less and training "
                                "concentrates on the hard ones; it was built for heavy foreground/background imbalance in detectors."),
        ("whats-the-triplet-loss-mining-problem", "Random triplets are mostly already satisfied, the negative sits far from the anchor, so "
                                                   "the gradient is zero; you must pick hard or semi-hard negatives close to the anchor."),
    ]:
        card = shipped_kb.card(card_id)
        copy = grader.grade(card, card.question)
        strong = grader.grade(card, answer)
        assert strong.score > copy.score + 30


def test_an_empty_or_off_topic_answer_scores_near_zero(shipped_kb, grader):
    card = shipped_kb.card("explain-infonce")
    assert grader.grade(card, "").score == 0
    assert grader.grade(card, "I had pasta for lunch and then went for a long walk by the river.").score < 20


def test_hints_cap_the_best_score(shipped_kb, grader):
    card = shipped_kb.card("what-does-label-smoothing-do")
    answer = ("It swaps the one-hot target for a softened one with a little mass on every other class, which stops the softmax "
              "from saturating and the model from getting overconfident, improving calibration; a regulariser used in transformers.")
    free, hinted = grader.grade(card, answer), grader.grade(card, answer, hints=2)
    assert free.score > max_score_after_hints(2)
    assert hinted.score == max_score_after_hints(2)


def _pairwise(grader, kb, split, scores_out: list | None = None):
    rows = [json.loads(line) for line in TRIPLES.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r["split"] == split]
    good = 0
    for row in rows:
        card = kb.card(row["card"])
        s = {k: grader.grade(card, row[k]).score for k in ("strong", "partial", "wrong")}
        good += (s["strong"] > s["partial"]) + (s["strong"] > s["wrong"]) + (s["partial"] > s["wrong"])
        if scores_out is not None:
            scores_out.append(s)
    return good / (3 * len(rows)), rows


def test_triples_cover_every_family_in_both_splits(shipped_kb):
    rows = [json.loads(line) for line in TRIPLES.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 24
    families = {shipped_kb.card(r["card"]).family for r in rows}
    assert families == {name for name, _ in shipped_kb.families()}
    assert {r["split"] for r in rows} == {"dev", "test", "test2"}
    test2 = [r for r in rows if r["split"] == "test2"]  # the second held-out split spans every family too
    assert len(test2) >= 24
    assert {shipped_kb.card(r["card"]).family for r in test2} == families


@pytest.mark.slow
def test_held_out_triples_floor(shipped_kb, grader):
    accuracy, rows = _pairwise(grader, shipped_kb, "test")
    assert len(rows) >= 12
    assert accuracy >= HELD_OUT_FLOOR


@pytest.mark.slow
def test_second_held_out_triples_floor(shipped_kb, grader):
    accuracy, rows = _pairwise(grader, shipped_kb, "test2")
    assert len(rows) >= 24
    assert accuracy >= TEST2_FLOOR


@pytest.mark.slow
def test_dev_triples_floor_and_calibration(shipped_kb, grader):
    scores: list[dict] = []
    accuracy, _ = _pairwise(grader, shipped_kb, "dev", scores)
    assert accuracy >= DEV_FLOOR
    median = {k: sorted(s[k] for s in scores)[len(scores) // 2] for k in ("strong", "partial", "wrong")}
    assert median["wrong"] < 50 <= median["partial"] < 90 <= median["strong"]  # Again / Hard-Good / Easy
