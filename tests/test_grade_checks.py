"""Each registered contradiction check (kb/coach/grade/checks.py), one at a time and without a model.

The checks are word rules, some confirmed by comparing a few clauses in embedding space. Here the
embedding is a bag of stems (WordBagEncoder): cosine then measures shared words, which is what the
word-level half of each check needs, so every rule can be tested in milliseconds and on its own. The
real model's behaviour is tested end to end in test_grade.py and test_grade_any_notes.py."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

from kb.coach.grade.analysis import AnswerAnalysis, CardAnalysis
from kb.coach.grade.checks import CHECKS, RULES, contrasted, holds_up
from kb.coach.grade.text import stem, tokens
from kb.embed.base import Encoder
from kb.notes.note_parse import parse_note
from kb.vocab import STOPWORDS, using


class WordBagEncoder(Encoder):
    """Hashed counts of a text's stems (stop words left out), normalised: a deterministic stand-in for
    the sentence model in which two texts are as close as the words they share."""

    model_id, dim, backend = "word-bag", 2048, "numpy"

    def __init__(self) -> None:
        self.notes = []

    def _encode(self, texts, batch_size, progress):
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in tokens(text):
                if word not in STOPWORDS:
                    vectors[row, zlib.crc32(stem(word).encode()) % self.dim] += 1.0
            vectors[row, 0] += 1e-3  # no all-zero rows
        return vectors


ENCODER = WordBagEncoder()


def card_of(question: str, answer: str) -> CardAnalysis:
    parsed = parse_note(f"# Note\n\n## Family\n\n### Q: {question}\n{answer}\n")
    assert len(parsed.cards) == 1, parsed.problems
    with using(None):
        return CardAnalysis.of(parsed.cards[0], ENCODER)


def flags(rule: str, card: CardAnalysis, answer: str) -> list[tuple[str, str]]:
    check = next(c for c in CHECKS if c.rule == rule)
    with using(None):
        return [(f.clause, f.kind) for f in check.find(card, AnswerAnalysis.of(card, answer, ENCODER), ENCODER)]


BAGGING = card_of(
    "What is the difference between bagging and boosting?",
    "**Bagging**: trains many models independently, in parallel, each on a bootstrap sample of the data, and averages their predictions; "
    "it mainly reduces variance.\n\n"
    "**Boosting**: trains models sequentially, each new model focusing on the errors of the previous ones, and adds them up; it mainly reduces bias.")
LOSSES = card_of("What is the difference between MSE and MAE?",
                 "**MSE**: the mean of squared errors; large errors cost more, so it is sensitive to outliers.\n\n"
                 "**MAE**: the mean of absolute errors; large errors cost less, so it is robust to outliers.")
KL = card_of("What is the difference between forward and reverse KL?",
             "**Forward KL** $KL(p \\| q)$: mass-covering, it spreads over every mode.\n\n"
             "**Reverse KL** $KL(q \\| p)$: mode-seeking, it locks onto one mode.")
SAC = card_of("How does SAC compare with PPO?", "SAC is more sample efficient than PPO because it reuses past data from a replay buffer.")
DISTRIBUTIONAL = card_of(
    "What is the difference between C51 and QR-DQN?",
    "**C51**: fixed atom locations on a grid, and it learns the probabilities of the atoms.\n\n"
    "**QR-DQN**: fixed quantile fractions, and it learns the quantile locations.")
INFONCE = card_of("What temperature does InfoNCE use?", "InfoNCE divides the cosine similarities by a temperature of 0.07, then takes a softmax.")
VALIDATION = card_of("Why do we need a validation set?",
                     "A validation set is used to tune hyperparameters and to choose between models. "
                     "It must be kept separate from the test set, so that the test score stays an unbiased estimate of performance.")
ACTOR_CRITIC = card_of("How do the two networks of A2C work together?", "The critic scores the actor. The actor picks the actions.")
RLHF = card_of("How is RLHF fine-tuning kept near the reference model?",
               "**KL penalty**: the reward is reduced by the KL divergence from the reference model, which keeps the policy close to it.")
GRPO = card_of("How does GRPO do without a critic?",
               "GRPO needs no critic: it samples a group of answers per prompt and uses each answer's reward relative to the group mean as its advantage.")
FOCAL = card_of("What is focal loss?",
                "Focal loss down-weights easy, well-classified examples so training concentrates on hard ones.\n\n"
                "Wrong: it gives more weight to the easy examples.")

# rule -> (card, an answer that breaks the card in the rule's way, the right answer in the card's words)
CASES = {
    "repair": (BAGGING, "Bagging trains models sequentially, each new model focusing on the errors of the previous ones; boosting averages them.",
               "Boosting trains models sequentially, each new model focusing on the errors of the previous ones; bagging averages them."),
    "attribute": (LOSSES, "MAE is sensitive to outliers, because large errors cost more.", "MAE is robust to outliers, because large errors cost less."),
    "ordered_pair": (KL, "Forward KL is KL(q || p), which locks onto one mode.", "Forward KL is KL(p || q), which spreads over every mode."),
    "comparison": (SAC, "PPO is more sample efficient than SAC.", "SAC is more sample efficient than PPO, thanks to its replay buffer."),
    "misattribution": (DISTRIBUTIONAL, "C51 uses fixed quantile fractions and learns the quantile locations.",
                       "C51 keeps atom locations fixed on a grid and learns their probabilities."),
    "number": (INFONCE, "It divides the cosine similarities by a temperature of 10.", "It divides the cosine similarities by a temperature of 0.07."),
    "superlative": (SAC, "PPO is the most efficient of the two.", "SAC is the most efficient of the two."),
    "dismissal": (VALIDATION, "Honestly a validation set doesn't really matter for tuning hyperparameters.",
                  "A validation set is where we tune hyperparameters and choose between models."),
    "role_order": (ACTOR_CRITIC, "The actor scores the critic.", "The critic scores what the actor does, and the actor acts."),
    "denial": (RLHF, "The policy is trained with no KL penalty at all.", "A KL penalty on the reward keeps the policy near the reference model."),
    "needless": (GRPO, "GRPO needs a separately trained critic to estimate advantages.",
                 "GRPO compares each answer's reward with its group's mean, with no critic."),
    "negation": (VALIDATION, "A validation set is not used to tune hyperparameters and to choose between models.",
                 "A validation set is used to tune hyperparameters and to choose between models."),
    "misconception": (FOCAL, "It gives more weight to the easy examples.", "It down-weights easy, well-classified examples so training focuses on hard ones."),
}


def test_every_registered_rule_has_a_case_here_and_a_unique_id():
    assert sorted(CASES) == sorted(RULES) and len(set(RULES)) == len(RULES)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_each_rule_flags_its_mistake_and_not_the_right_answer(rule):
    card, wrong, right = CASES[rule]
    found = flags(rule, card, wrong)
    assert found, f"{rule}: missed {wrong!r}"
    assert all(clause.rstrip(".") in wrong for clause, _ in found), found
    assert not flags(rule, card, right), f"{rule}: flagged the right answer {right!r}"


def test_a_rule_flags_only_its_own_mistake():
    """The role swap is found by the repair check, not by the number or dismissal checks."""
    card, wrong, _ = CASES["repair"]
    assert not flags("number", card, wrong) and not flags("dismissal", card, wrong) and not flags("misconception", card, wrong)


def test_contrast_words_make_a_word_rule_clash_only_a_doubt():
    assert contrasted("unlike MSE it is robust to outliers", "MAE is the mean of absolute errors, unlike MSE it is robust to outliers")
    assert contrasted("it is not sensitive to outliers", "it is not sensitive to outliers")
    assert not contrasted("MAE is sensitive to outliers", "MAE is sensitive to outliers")


def test_a_clash_holds_up_only_when_undoing_it_restates_the_card():
    with using(None):
        terms = set(tokens("bagging boosting"))
        swapped = "bagging trains models sequentially each new model focusing on the errors of the previous ones"
        assert holds_up(BAGGING, swapped, terms, ENCODER)
        assert not holds_up(BAGGING, "boosting trains models sequentially each new model focusing on the errors of the previous ones", terms, ENCODER)


def test_the_word_a_negation_takes_is_read_one_way():
    from kb.coach.grade.negation import same_negated_word
    from kb.coach.grade.relations import denied_terms
    from kb.coach.grade.text import words_after_negation

    assert list(words_after_negation(tokens("gradients never vanish here, without clipping"), lambda w: w in {"never", "without"}, 2)) == [
        ["vanish", "here"], ["clipping"]]
    assert denied_terms(tokens("it denoises the image rather than the noise")) == {stem("noise")}
    assert denied_terms(tokens("trained with no KL penalty")) == {"kl"}
    assert same_negated_word("gradients never vanish in deep nets", "gradients vanish in deep nets")
