"""The span shown beside a covered key point is the clause that says it (kb/coach/grade/spans.py): pure
text, no model. The grader picks the sentence; these pick the words inside it."""
from kb.coach.grade.spans import saying_span
from kb.coach.grade.text import content_stems
from kb.vocab import Vocabulary, using

FOCAL_ANSWER = ("It multiplies cross-entropy by (1-p_t)^gamma, which shrinks the loss of easy, confidently classified examples "
                "so training concentrates on hard ones; used in RetinaNet")


def span(point: str, sentence: str) -> str:
    with using(None):
        return saying_span(content_stems(point), sentence)


def test_one_sentence_gives_each_point_its_own_clause():
    """The issue's example: one sentence says three points; each is shown with the words that say it."""
    assert span("Down-weights easy, well-classified examples by factor (1-y_t)^gamma.", FOCAL_ANSWER) == \
        "shrinks the loss of easy, confidently classified examples"
    assert span("Designed for extreme class imbalance (RetinaNet: foreground vs background in object detection).", FOCAL_ANSWER) == "used in RetinaNet"
    assert span("L_focal = -(1-y_t)^gamma log(y_t)", FOCAL_ANSWER) == "It multiplies cross-entropy by (1-p_t)^gamma"


def test_a_span_keeps_the_clause_head_and_stops_at_the_next_clause():
    sentence = "Dropout randomly zeroes activations during training, so the network cannot rely on any single unit, and it acts like an ensemble"
    assert span("Dropout zeroes random activations while training.", sentence) == "Dropout randomly zeroes activations during training"
    assert span("It behaves like averaging an ensemble of thinned networks.", sentence) == "it acts like an ensemble"


def test_no_shared_word_shows_the_whole_sentence():
    sentence = "It is what you get when every example counts the same."
    assert span("Mean squared error penalises large residuals quadratically.", sentence) == sentence


def test_words_shared_only_as_a_phrase_show_the_clause():
    """Synonym folding can join words ("mean squared error" read as mse): the clause is shown whole."""
    with using(Vocabulary.for_corpus(None, "ml")):
        stems = content_stems("MSE penalises large residuals.")
        shown = saying_span(stems, "We use the mean squared error, which punishes big misses.")
    assert shown in "We use the mean squared error, which punishes big misses." and shown
