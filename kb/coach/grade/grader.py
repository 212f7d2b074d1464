"""Score an answer against a card: key-point coverage from embeddings and shared words, the whole
answer's similarity, the contradictions the other modules find, and whether the answer fits another
card better, as a 0-100 Grade (one Grader per knowledge base caches each card's embeddings)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kb.coach.grade.analysis import AnswerAnalysis, CardAnalysis
from kb.coach.grade.checks import CHECKS, Check, Flag, contrasted, holds_up
from kb.coach.grade.fit import CardSpace
from kb.coach.grade.history import LIKE_ANSWER, TRUSTED_RIGHT, WRONG_CAP, WRONG_SENTENCE_MARGIN, CardHistory, LikeEarlier, corrects, repeats_mistake
from kb.coach.grade.negation import without_negation
from kb.coach.grade.points import KeyPoint
from kb.coach.grade.result import Contradiction, ContradictionKind, ContradictionRule, CoveredPoint, Grade
from kb.coach.grade.spans import saying_span
from kb.coach.grade.text import content_stems, tokens
from kb.embed.base import Encoder
from kb.lru import LruCache
from kb.notes.cards import Card
from kb.vocab import Vocabulary, using

# Coverage: cosine below LOW counts as nothing, above HIGH as fully said (all-MiniLM-L6-v2 scale).
COS_LOW, COS_HIGH = 0.30, 0.70
LEXICAL_WEIGHT = 0.35  # share of a point's coverage that comes from its content words
WHOLE_WEIGHT = 0.3  # share of the score from the whole answer's similarity to the card's answer


@dataclass(frozen=True)
class Weights:
    """The few weights a profile's own labels may refit (kb/coach/grade/calibration.py)."""

    lexical: float = LEXICAL_WEIGHT
    whole: float = WHOLE_WEIGHT


DEFAULT_WEIGHTS = Weights()
COVERED_AT = 0.5  # a point counts as covered from this coverage on
FULL_MARKS_AT = 0.7  # weighted coverage that already earns 100 (a spoken answer never says everything)
SCORE_CURVE = 0.5  # < 1 lifts partial answers: saying one point right is worth more than 1/n of the marks
CONTRADICTION_FACTOR = 0.25  # the score is multiplied by this for each contradicting clause
OTHER_CARD_SCORE = 10  # the most an answer to a different question can score
FITS_HERE = 0.45  # weighted key-point coverage from which an answer is about this card, whatever else it is near
DOUBT_FACTOR = 0.7  # any rule-based clash no edit bears out: not a contradiction, once per answer (when unsure, coverage decides)
ATTACHMENT_KINDS: tuple[ContradictionKind, ...] = ("definition_swap", "opposite_attribute")  # rule-based clashes an edit can undo, so can confirm
# An answer like one marked wrong, in which the grader alone finds nothing wrong or doubtful and which it
# scores this much above that answer, fixed its mistake rather than repeating it (set on the review dev
# files: fixes gain 30-59, repeats at most 16; a repeat the grader only doubts is no fix).
FIXED_GAIN = 20
UNSURE_FROM, UNSURE_BELOW = 35, 65  # scores in between, with no contradiction and no label, are "I can't tell" (set on dev triples)
HINT_COST = 15  # each hint lowers the best score still possible by this much

# (answer clause, kind, the key points it contradicts, the one to show it beside, the rule that found it)
Found = tuple[str, ContradictionKind, set[int], int, ContradictionRule]


class Grader:
    """Grades answers with the real sentence encoder, in one vocabulary; each card is analysed once.

    `space` (the corpus's cards and their index vectors) lets the grader see that an answer fits
    another card better; without it that check is skipped. `checks` are the contradiction checks run
    (kb/coach/grade/checks.py; all of them unless a benchmark leaves one out)."""

    def __init__(self, encoder: Encoder, vocabulary: Vocabulary | None = None, space: CardSpace | None = None, cache_size: int = 256,
                 checks: Sequence[Check] = CHECKS) -> None:
        self.encoder = encoder
        self.vocabulary = vocabulary
        self.space = space
        self.checks = tuple(checks)
        self._cache: LruCache[str, CardAnalysis] = LruCache(cache_size)  # the web app grades from several threads

    def analyse(self, card: Card) -> CardAnalysis:
        """The card's analysis, once per card version (computed outside the lock: encoding is slow)."""
        with using(self.vocabulary):
            return self._cache.get_or_make(f"{card.id}:{card.text_hash}", lambda: CardAnalysis.of(card, self.encoder))

    def grade(self, card: Card, answer: str, hints: int = 0, history: CardHistory | None = None, weights: Weights | None = None) -> Grade:
        """Score an answer; with `history` (the user's labelled answers to this card) they are references
        too; `weights` are a profile's own (`kb calibrate grader`), else the defaults."""
        with using(self.vocabulary):
            analysed = self.analyse(card)
            return self._grade(analysed, AnswerAnalysis.of(analysed, answer, self.encoder), hints, history or CardHistory(), weights or DEFAULT_WEIGHTS)

    def _grade(self, card: CardAnalysis, answer: AnswerAnalysis, hints: int, history: CardHistory, weights: Weights) -> Grade:
        points = card.points
        if not answer:
            return Grade(0, [], [p.text for p in points], said_nothing=True, coverage=[0.0] * len(points), key_points=list(points))
        coverage, best_unit, whole = _coverage(card, answer, weights.lexical)
        found, doubted, mistakes = self._contradictions(card, answer)
        like: LikeEarlier | None = None
        if history:
            # what the grader alone makes of this answer: clean (nothing flagged or doubted), and its score
            clean = not found and not doubted and not mistakes
            first_sight = _result(card, coverage, best_unit, answer.units, found, 0, whole, doubted, weights.whole).score
            coverage, found, like = _with_history(card, coverage, found, answer, history)
            if like is not None and like.label == "wrong" and clean and first_sight >= self._first_sight_score(card, like.answer, weights) + FIXED_GAIN:
                like = None  # the grader alone sees the fix (a swapped term put back, a clash gone): no repeat
        grade = _result(card, coverage, best_unit, answer.units, found, hints, whole, doubted, weights.whole)
        for flag in mistakes:
            if flag.mistake not in history.dismissed:
                grade.contradictions.append(Contradiction(flag.clause, flag.mistake, "misconception", "misconception"))
                grade.score = int(round(grade.score * CONTRADICTION_FACTOR))
                found.append((flag.clause, "misconception", set(), 0, "misconception"))
        grade.vector, grade.sentence_vectors, grade.like = answer.whole, answer.sentence_vectors, like
        if like is not None and like.label == "wrong":
            grade.score = min(grade.score, WRONG_CAP)
        # An answer that says much of this card answers it, however close it also is to a neighbour.
        said_here = _weighted_share(points, coverage)
        fits = self.space.fits_other(card.card, answer.whole) if self.space is not None and said_here < FITS_HERE else None
        if fits is not None:
            grade.fits_card = fits
            grade.score = min(grade.score, OTHER_CARD_SCORE)
        # Neither confident coverage nor a confident contradiction (nor the user's own label): say so.
        grade.confident = bool(found) or fits is not None or like is not None or not (UNSURE_FROM <= grade.score < UNSURE_BELOW)
        return grade

    def _first_sight_score(self, card: CardAnalysis, answer: str, weights: Weights) -> int:
        """What an earlier answer scores with no history (graded again only when a new answer looks like it)."""
        return self._grade(card, AnswerAnalysis.of(card, answer, self.encoder), 0, CardHistory(), weights).score

    def _contradictions(self, card: CardAnalysis, answer: AnswerAnalysis) -> tuple[list[Found], list[str], list[Flag]]:
        """Every contradicting clause once (the first check to flag it names it), with the key points it
        contradicts and the one to show it beside; the clauses only doubted; and the note's listed
        mistakes the answer says (scored apart: dismissed by their own text).

        A word rule's attachment clash counts (and is shown) only when the edit that would undo it
        brings the clause closer to the card (checks.holds_up); one the edit does not bear out is a
        doubt: too unsure to call a contradiction, the doubts of an answer cost DOUBT_FACTOR once and
        the feedback names them as worth checking."""
        mentioned = set(tokens(answer.renamed))
        found: dict[str, tuple[ContradictionKind, frozenset[int], ContradictionRule]] = {}
        doubted: dict[str, None] = {}  # ordered set
        mistakes: list[Flag] = []
        for check in self.checks:
            for flag in check.find(card, answer, self.encoder):
                if flag.kind == "misconception":
                    mistakes.append(flag)
                elif flag.clause in found:
                    continue
                elif check.rule != "repair" and flag.kind in ATTACHMENT_KINDS and (
                        contrasted(flag.clause, answer.said) or not holds_up(card, flag.read_as or flag.clause, mentioned, self.encoder)):
                    doubted[flag.clause] = None  # the other checks may still speak for the clause
                else:
                    found[flag.clause] = (flag.kind, flag.points, check.rule)
        doubts = [clause for clause in doubted if clause not in found]
        if not found:
            return [], doubts, mistakes
        # Shown beside the card sentence it contradicts: the closest of the points it names, else of all.
        closeness = card.point_vectors @ self.encoder.encode([without_negation(c) for c in found]).T
        out: list[Found] = []
        for j, (clause, (kind, hit, rule)) in enumerate(found.items()):
            candidates = sorted(hit) or range(len(card.points))
            nearest = max(candidates, key=lambda i: closeness[i, j])
            out.append((clause, kind, set(hit), nearest, rule))
        return out, doubts, mistakes


def _coverage(card: CardAnalysis, answer: AnswerAnalysis, lexical_weight: float = LEXICAL_WEIGHT) -> tuple[np.ndarray, np.ndarray, float]:
    """Per key point: how well the answer says it (best sentence cosine blended with shared content
    words) and which sentence says it best; and the whole answer's cosine to the card's answer."""
    cosine = card.point_vectors @ answer.vectors.T  # each sentence, and the whole answer (a point may span sentences)
    best_unit = cosine[:, :-1].argmax(axis=1)
    whole = float(answer.whole @ card.reference)
    dense = np.clip((cosine.max(axis=1) - COS_LOW) / (COS_HIGH - COS_LOW), 0.0, 1.0)
    answer_stems = content_stems(answer.said)
    lexical = np.array([len(s & answer_stems) / len(s) if s else 0.0 for s in card.point_stems])
    return (1 - lexical_weight) * dense + lexical_weight * lexical, best_unit, whole


def _result(card: CardAnalysis, coverage: np.ndarray, best_unit: np.ndarray, units: list[str], found: list[Found], hints: int, whole: float,
            doubted: Sequence[str] = (), whole_weight: float = WHOLE_WEIGHT) -> Grade:
    points = card.points
    contradicted: set[int] = set().union(*(hit for _, _, hit, _, _ in found)) if found else set()
    credited = np.where([i in contradicted for i in range(len(points))], 0.0, np.asarray(coverage, dtype=float))
    share = _weighted_share(points, credited)
    overall = float(np.clip((whole - COS_LOW) / (COS_HIGH - COS_LOW), 0.0, 1.0))
    blended = (1 - whole_weight) * min(1.0, share / FULL_MARKS_AT) + whole_weight * overall
    score = blended ** SCORE_CURVE * (CONTRADICTION_FACTOR ** len(found)) * (DOUBT_FACTOR ** min(1, len(doubted)))
    score = min(100.0 * score, max_score_after_hints(hints))
    # each point beside the words that say it: a clause of the sentence closest to it (kb/coach/grade/spans.py)
    covered = [CoveredPoint(p.text, saying_span(card.point_stems[i], units[int(best_unit[i])])) for i, p in enumerate(points) if credited[i] >= COVERED_AT]
    missed = [p.text for i, p in enumerate(points) if credited[i] < COVERED_AT]
    clashes = [Contradiction(clause, points[nearest].text, kind, rule) for clause, kind, _, nearest, rule in found]
    return Grade(int(round(score)), covered, missed, clashes, coverage=[round(float(c), 3) for c in coverage], key_points=list(points),
                 doubted=list(doubted))


def _with_history(card: CardAnalysis, coverage: np.ndarray, found: list[Found], answer: AnswerAnalysis,
                  history: CardHistory) -> tuple[np.ndarray, list[Found], LikeEarlier | None]:
    """Coverage and contradictions once the user's labels for this card are read (kb.coach.grade.history)."""
    points, point_vectors = card.points, card.point_vectors
    coverage = np.array(coverage, dtype=float)
    found = [f for f in found if points[f[3]].text not in history.dismissed]  # "not a contradiction", for that sentence
    vector, sentences = answer.whole, answer.sentence_vectors
    good, good_sim = history.nearest(vector, ("right", ""))
    right = [a for a in history.answers if a.label == "right"]
    repeats = [(repeats_mistake(sentences, a, point_vectors, right), a) for a in history.answers if a.label == "wrong"]
    margin, bad = max(repeats, key=lambda r: r[0], default=(-1.0, None))
    like: LikeEarlier | None = None
    if bad is not None and margin >= WRONG_SENTENCE_MARGIN and not corrects(answer.text, bad.answer, card.card.answer_text) and good_sim < TRUSTED_RIGHT:
        like = LikeEarlier(bad.answer, "wrong", bad.marked_at, float(bad.vector @ vector) if bad.vector is not None else margin)
    elif good is not None and good_sim >= LIKE_ANSWER and good.credited:
        for i, point in enumerate(points):
            if point.text in good.credited:
                coverage[i] = max(coverage[i], good_sim)
        if good.label == "right" and good_sim >= TRUSTED_RIGHT:
            found = []
        like = LikeEarlier(good.answer, good.label or "points", good.marked_at, good_sim)
    same = history.same_answer(answer.text)
    if same is not None:  # this very answer's own marks, as the user set them
        for i, point in enumerate(points):
            if point.text in same.points:
                coverage[i] = 1.0 if same.points[point.text] else 0.0
    return coverage, found, like


def _weighted_share(points: list[KeyPoint], coverage: np.ndarray) -> float:
    """Coverage averaged over the key points by weight (a formula counts half a claim)."""
    weights = np.array([p.weight for p in points])
    return float((weights * np.asarray(coverage, dtype=float)).sum() / weights.sum()) if len(points) else 0.0


def max_score_after_hints(hints: int) -> int:
    """The best score still possible after `hints` hints."""
    return max(0, 100 - HINT_COST * max(0, hints))
