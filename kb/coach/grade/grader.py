"""Score an answer against a card: key-point coverage from embeddings and shared words, the whole
answer's similarity, the contradictions the other modules find, and whether the answer fits another
card better, as a 0-100 Grade (one Grader per knowledge base caches each card's embeddings)."""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

import numpy as np

from kb.coach.grade.compared import as_written, resolve_ordered_pairs
from kb.coach.grade.contradictions import contradictions
from kb.coach.grade.fit import CardSpace
from kb.coach.grade.history import LIKE_ANSWER, TRUSTED_RIGHT, WRONG_CAP, WRONG_SENTENCE_MARGIN, CardHistory, LikeEarlier, corrects, repeats_mistake
from kb.coach.grade.negation import claim_clauses, is_flipped, is_negated, without_negation
from kb.coach.grade.points import KeyPoint, key_points
from kb.coach.grade.relation_clashes import relation_clashes
from kb.coach.grade.repairs import MAX_EDITS, ClaimWords, EditKind, attachment_edits, card_terms, closer_in_order, edits, order_repair
from kb.coach.grade.result import Contradiction, ContradictionKind, ContradictionRule, CoveredPoint, Grade
from kb.coach.grade.text import content_stems, plain_text, split_clauses, split_sentences, tokens, without_non_answers
from kb.embed.base import Encoder
from kb.lru import LruCache
from kb.notes.cards import Card
from kb.vocab import NEGATIONS, Vocabulary, using

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
NEGATION_MATCH = 0.72  # cosine above which an answer clause restates a card claim (negation aside)
REPAIR_MATCH = 0.65  # cosine from which an edited clause (closer in word order) restates a card claim
TIE_MARGIN = 0.05  # cosine an undoing edit must gain when word order ties (a mere rewording moves a clause a few hundredths)
DOUBT_FACTOR = 0.7  # any rule-based clash no edit bears out: not a contradiction, once per answer (when unsure, coverage decides)
ATTACHMENT_KINDS: tuple[ContradictionKind, ...] = ("definition_swap", "opposite_attribute")  # rule-based clashes an edit can undo, so can confirm
# General English: after these a term is what the clause is compared with, not what it speaks of.
CONTRAST_CUES = frozenset({"unlike", "instead", "rather", "versus", "vs"})
# General English that denies without a negation word: a flip against a clause using one is left to coverage.
SOFT_NEGATIONS = frozenset("instead rather without unlike except lack lacks lacking fail fails failing resist resists resisting free".split())
MISCONCEPTION_MATCH = 0.6  # cosine from which an answer sentence says a wrong answer the note lists
MISCONCEPTION_MARGIN = 0.1  # ... and it must be this much closer to it than to any key point (negation-blind embeddings put the right claim near it too)
UNSURE_FROM, UNSURE_BELOW = 35, 65  # scores in between, with no contradiction and no label, are "I can't tell" (set on dev triples)
HINT_COST = 15  # each hint lowers the best score still possible by this much
MAX_ANSWER_CHARS = 4000

# (answer clause, kind, the key points it contradicts, the one to show it beside, the rule that found it)
Found = tuple[str, ContradictionKind, set[int], int, ContradictionRule]
T = TypeVar("T")


def _says_something(sentence: str, question_stems: set[str]) -> bool:
    """False for a sentence that only restates the question ("What is focal loss?" adds nothing)."""
    stems = content_stems(sentence)
    new = stems - question_stems
    return bool(new) and (len(new) >= 2 or len(stems & question_stems) < 2)


class Grader:
    """Grades answers with the real sentence encoder, in one vocabulary; per-card embeddings are cached.

    `space` (the corpus's cards and their index vectors) lets the grader see that an answer fits
    another card better; without it that check is skipped."""

    def __init__(self, encoder: Encoder, vocabulary: Vocabulary | None = None, space: CardSpace | None = None, cache_size: int = 256) -> None:
        self.encoder = encoder
        self.vocabulary = vocabulary
        self.space = space
        self._cache: LruCache[str, object] = LruCache(cache_size)  # the web app grades from several threads

    def _cached(self, key: str, make: Callable[[], T]) -> T:
        """A per-card value, computed once (outside the lock: encoding is slow) and kept in an LRU."""
        return cast(T, self._cache.get_or_make(key, make))  # a key's prefix always names what `make` returns

    def card_points(self, card: Card) -> tuple[list[KeyPoint], np.ndarray, list[set[str]]]:
        """The card's key points, their embeddings and their content stems, once per card version."""
        def make() -> tuple[list[KeyPoint], np.ndarray, list[set[str]]]:
            points = key_points(card)
            return points, self.encoder.encode([p.plain for p in points]), [content_stems(p.plain) for p in points]

        return self._cached(f"points:{card.id}:{card.text_hash}", make)

    def grade(self, card: Card, answer: str, hints: int = 0, history: CardHistory | None = None, weights: Weights | None = None) -> Grade:
        """Score an answer; with `history` (the user's labelled answers to this card) they are references
        too; `weights` are a profile's own (`kb calibrate grader`), else the defaults."""
        with using(self.vocabulary):
            return self._grade(card, answer, hints, history or CardHistory(), weights or DEFAULT_WEIGHTS)

    def _grade(self, card: Card, answer: str, hints: int, history: CardHistory, weights: Weights) -> Grade:
        points, point_vectors, point_stems = self.card_points(card)
        answer = (answer or "").strip()[:MAX_ANSWER_CHARS]
        question_stems = content_stems(card.question)
        # Sentences that only restate the question or say "I don't know" add nothing.
        units = [u for u in (without_non_answers(s) for s in split_sentences(plain_text(answer))) if _says_something(u, question_stems)]
        if not units:
            return Grade(0, [], [p.text for p in points], said_nothing=True, coverage=[0.0] * len(points), key_points=list(points))
        unit_vectors = self.encoder.encode(units + [" ".join(units)])
        coverage, best_unit, whole = self._coverage(card, point_vectors, point_stems, unit_vectors, units, weights.lexical)
        found, doubted = self._contradictions(card, points, point_vectors, units)
        like: LikeEarlier | None = None
        if history:
            coverage, found, like = _with_history(card, points, point_vectors, coverage, found, unit_vectors, answer, history)
        grade = self._result(points, coverage, best_unit, units, found, hints, whole, doubted, weights.whole)
        for sentence, mistake in self._misconceptions_said(card, units, unit_vectors[:-1], point_vectors):
            if mistake not in history.dismissed:
                grade.contradictions.append(Contradiction(sentence, mistake, "misconception", "misconception"))
                grade.score = int(round(grade.score * CONTRADICTION_FACTOR))
                found.append((sentence, "misconception", set(), 0, "misconception"))
        grade.vector, grade.sentence_vectors, grade.like = unit_vectors[-1], unit_vectors[:-1], like
        if like is not None and like.label == "wrong":
            grade.score = min(grade.score, WRONG_CAP)
        # An answer that says much of this card answers it, however close it also is to a neighbour.
        said_here = _weighted_share(points, coverage)
        fits = self.space.fits_other(card, unit_vectors[-1]) if self.space is not None and said_here < FITS_HERE else None
        if fits is not None:
            grade.fits_card = fits
            grade.score = min(grade.score, OTHER_CARD_SCORE)
        # Neither confident coverage nor a confident contradiction (nor the user's own label): say so.
        grade.confident = bool(found) or fits is not None or like is not None or not (UNSURE_FROM <= grade.score < UNSURE_BELOW)
        return grade

    def _coverage(self, card: Card, point_vectors: np.ndarray, point_stems: list[set[str]], unit_vectors: np.ndarray, units: list[str],
                  lexical_weight: float = LEXICAL_WEIGHT) -> tuple[np.ndarray, np.ndarray, float]:
        """Per key point: how well the answer says it (best sentence cosine blended with shared content
        words) and which sentence says it best; and the whole answer's cosine to the card's answer."""
        cosine = point_vectors @ unit_vectors.T  # each sentence, and the whole answer (a point may span sentences)
        best_unit = cosine[:, :-1].argmax(axis=1)
        whole = float(unit_vectors[-1] @ self.reference_vector(card))
        dense = np.clip((cosine.max(axis=1) - COS_LOW) / (COS_HIGH - COS_LOW), 0.0, 1.0)
        answer_stems = content_stems(" ".join(units))
        lexical = np.array([len(s & answer_stems) / len(s) if s else 0.0 for s in point_stems])
        return (1 - lexical_weight) * dense + lexical_weight * lexical, best_unit, whole

    def _contradictions(self, card: Card, points: list[KeyPoint], point_vectors: np.ndarray, units: list[str]) -> tuple[list[Found], list[str]]:
        """(answer clause, kind, the key points it contradicts, the one to show it beside, the rule) for every
        contradicting clause, each clause once: attribute, ordered-pair, relation and negation checks;
        and the clauses only doubted. A rule-based attachment clash counts (and is shown)
        only when the edit that would undo it brings the clause closer to the card; one the edit
        does not bear out is a doubt: too unsure to call a contradiction, the doubts of an answer cost
        DOUBT_FACTOR once and the feedback names them as worth checking."""
        text, pair_clashes, written = resolve_ordered_pairs(card, points, " ".join(units))
        # (clause, kind, points, the clause as the check read it ("KL(q||p)" renamed "Reverse KL"), the rule that found it), first check first
        flagged: list[tuple[str, ContradictionKind, set[int], str, ContradictionRule]] = []
        for clause, hit, on_compared in contradictions(card, points, text):
            flagged.append((as_written(clause, written), "definition_swap" if on_compared else "opposite_attribute", hit, clause, "attribute"))
        flagged += [(clause, "swapped_order", set(), clause, "ordered_pair") for clause in pair_clashes]
        flagged += [(clause, kind, set(), clause, "relation") for clause, kind in relation_clashes(card, points, units)]
        clauses = [c.strip() for u in units for c in split_clauses(u) if len(c.split()) >= 3]
        flagged += [(clause, "negation", hit, clause, "negation") for clause, hit in self._negation_flips(card, points, clauses)]
        said = " ".join(units)
        repaired = self._repairs(card, points, [c for c in clauses if not _after_contrast(c, said)])
        found: dict[str, tuple[ContradictionKind, set[int], ContradictionRule]] = {c: (kind, hit, "repair") for c, (kind, hit) in repaired.items()}
        mentioned = set(tokens(text))
        doubted: dict[str, None] = {}  # ordered set
        for clause, kind, hit, read, rule in flagged:
            if clause in found:
                continue
            if kind in ATTACHMENT_KINDS and (_contrasted(clause, said) or not self._undone_by_edit(card, points, read, mentioned)):
                doubted[clause] = None  # the other checks may still speak for the clause
            else:
                found[clause] = (kind, hit, rule)
        doubts = [clause for clause in doubted if clause not in found]
        if not found:
            return [], doubts
        # Shown beside the card sentence it contradicts: the closest of the points it names, else of all.
        clause_vectors = self.encoder.encode([without_negation(c) for c in found])
        closeness = point_vectors @ clause_vectors.T
        out: list[Found] = []
        for j, (clause, (kind, hit, rule)) in enumerate(found.items()):
            candidates = sorted(hit) or range(len(points))
            nearest = max(candidates, key=lambda i: closeness[i, j])
            out.append((clause, kind, set(hit), nearest, rule))
        return out, doubts

    def _repairs(self, card: Card, points: list[KeyPoint], clauses: list[str]) -> dict[str, tuple[EditKind, set[int]]]:
        """Answer clauses that one small edit (two terms swapped, a ratio turned upside down, another
        term put in) makes restate a card claim at least as well: they say its opposite."""
        said = [tokens(c) for c in clauses]
        claims, owners, claim_vectors, terms, claim_words = self.card_claims(card, points)
        candidates = closer_in_order(edits(said, terms, claim_words.words), said, claim_words, terms) if claims else []
        if not candidates:
            return {}
        edited = list(dict.fromkeys(edit.clause for edit, _ in candidates))  # only these clauses are compared as said
        vectors = self.encoder.encode([" ".join(said[i]) for i in edited] + [edit.text for edit, _ in candidates])
        similarity = claim_vectors @ vectors.T
        as_said = dict(zip(edited, similarity[:, : len(edited)].max(axis=0), strict=True))
        found: dict[str, tuple[EditKind, set[int], float]] = {}
        for j, (edit, claim) in enumerate(candidates):
            match = float(similarity[claim, len(edited) + j])
            gain = match - float(as_said[edit.clause])
            clause = clauses[edit.clause]
            if match >= REPAIR_MATCH and gain >= 0 and (clause not in found or gain > found[clause][2]):
                found[clause] = (edit.kind, {owners[claim]}, gain)
        return {clause: (kind, hit) for clause, (kind, hit, _) in found.items()}

    def _undone_by_edit(self, card: Card, points: list[KeyPoint], clause: str, mentioned: set[str]) -> bool:
        """Whether a rule-based clash (a term or attribute attached to the wrong thing) holds up: the
        edit that would undo it (terms swapped, an attribute turned to its opposite, a negation dropped)
        must bring the clause closer to one of the card's claims, in word order, or when word order
        ties, in embedding by TIE_MARGIN. A correct clause the rules misread (a yardstick taken for
        the subject, "trading more variance for less bias") only moves away from the card when edited.
        A clause no such edit applies to cannot be tested and keeps its flag."""
        claims, _, claim_vectors, terms, claim_words = self.card_claims(card, points)
        said = tokens(clause)
        edited = attachment_edits(said, terms, mentioned & terms, claim_words.words)
        if not edited or not claims:
            return True
        closer, ties = order_repair(said, edited, claim_words)
        if closer or not ties:
            return closer
        ties = ties[:MAX_EDITS]
        vectors = self.encoder.encode([" ".join(said)] + [" ".join(edited[i]) for i, _ in ties])
        similarity = claim_vectors @ vectors.T
        gain = max(float(similarity[k, j + 1]) for j, (_, k) in enumerate(ties)) - float(similarity[:, 0].max())
        return gain >= TIE_MARGIN

    def card_claims(self, card: Card, points: list[KeyPoint]) -> tuple[list[str], list[int], np.ndarray, set[str], ClaimWords]:
        """The card's claim clauses as tokens (the form edits are made in), embedded once per card, its
        terms, and the claims' words and stems (word order is compared on those)."""
        def make() -> tuple[list[str], list[int], np.ndarray, set[str], ClaimWords]:
            texts, owners = claim_clauses(points)
            # a claim and the one after it together: "A large rate speeds training. But we may shoot too far"
            texts, owners = texts + [f"{a} {b}" for a, b in itertools.pairwise(texts)], owners + owners[:-1]
            said = [" ".join(tokens(t)) for t in texts]
            vectors = self.encoder.encode(said) if said else np.zeros((0, 1), dtype=np.float32)
            terms = card_terms(card, [p.plain for p in points if p.kind == "claim"], [p.lead for p in points if p.lead])
            return said, owners, vectors, terms, ClaimWords.of(said)

        return self._cached(f"claims:{card.id}:{card.text_hash}", make)

    def _negation_flips(self, card: Card, points: list[KeyPoint], clauses: list[str]) -> list[tuple[str, set[int]]]:
        """An answer clause that says a claim of the card with "not"/"never" added (or dropped)."""
        card_clauses, owners, card_vectors = self.card_clauses(card, points)
        # Only a clause some card clause reads as its flip can be one (a word test): embed just those.
        clauses = [c for c in clauses if any(is_flipped(c, other) for other in card_clauses)]
        if not clauses:
            return []
        vectors = self.encoder.encode([without_negation(c) for c in clauses])
        similarity = card_vectors @ vectors.T
        found: list[tuple[str, set[int]]] = []
        for j, clause in enumerate(clauses):
            i = int(np.argmax(similarity[:, j]))
            if similarity[i, j] >= NEGATION_MATCH and is_flipped(clause, card_clauses[i]) and not _softly_negated(clause, card_clauses[i]):
                found.append((clause, {owners[i]}))
        return found

    def card_clauses(self, card: Card, points: list[KeyPoint]) -> tuple[list[str], list[int], np.ndarray]:
        """The card's claims cut into clauses (each with its lead term), embedded once per card."""
        def make() -> tuple[list[str], list[int], np.ndarray]:
            texts, owners = claim_clauses(points)
            vectors = self.encoder.encode([without_negation(t) for t in texts]) if texts else np.zeros((0, 1), dtype=np.float32)
            return texts, owners, vectors

        return self._cached(f"clauses:{card.id}:{card.text_hash}", make)

    def _misconceptions_said(self, card: Card, units: list[str], unit_vectors: np.ndarray, point_vectors: np.ndarray) -> list[tuple[str, str]]:
        """(answer sentence, the note's known wrong answer it says): a sentence close to a listed
        misconception and closer to it than to any key point of the card."""
        if not card.misconceptions:
            return []
        vectors = self._cached(f"mistakes:{card.id}:{card.text_hash}", lambda: self.encoder.encode([plain_text(m) for m in card.misconceptions]))
        to_mistake = unit_vectors @ vectors.T  # sentences x misconceptions
        to_point = (unit_vectors @ point_vectors.T).max(axis=1) if len(point_vectors) else np.full(len(units), -1.0)
        said: list[tuple[str, str]] = []
        for j, mistake in enumerate(card.misconceptions):
            i = int(to_mistake[:, j].argmax())
            if to_mistake[i, j] >= MISCONCEPTION_MATCH and to_mistake[i, j] > to_point[i] + MISCONCEPTION_MARGIN:
                said.append((units[i], mistake))
        return said

    def reference_vector(self, card: Card) -> np.ndarray:
        """The embedding of the card's whole answer."""
        return self._cached(f"ref:{card.id}:{card.text_hash}", lambda: self.encoder.encode([card.answer_text or card.question])[0])

    @staticmethod
    def _result(points: list[KeyPoint], coverage: np.ndarray, best_unit: np.ndarray, units: list[str], found: list[Found], hints: int, whole: float,
                doubted: Sequence[str] = (), whole_weight: float = WHOLE_WEIGHT) -> Grade:
        contradicted: set[int] = set().union(*(hit for _, _, hit, _, _ in found)) if found else set()
        credited = np.where([i in contradicted for i in range(len(points))], 0.0, np.asarray(coverage, dtype=float))
        share = _weighted_share(points, credited)
        overall = float(np.clip((whole - COS_LOW) / (COS_HIGH - COS_LOW), 0.0, 1.0))
        blended = (1 - whole_weight) * min(1.0, share / FULL_MARKS_AT) + whole_weight * overall
        score = blended ** SCORE_CURVE * (CONTRADICTION_FACTOR ** len(found)) * (DOUBT_FACTOR ** min(1, len(doubted)))
        score = min(100.0 * score, max_score_after_hints(hints))
        covered = [CoveredPoint(p.text, units[int(best_unit[i])]) for i, p in enumerate(points) if credited[i] >= COVERED_AT]
        missed = [p.text for i, p in enumerate(points) if credited[i] < COVERED_AT]
        clashes = [Contradiction(clause, points[nearest].text, kind, rule) for clause, kind, _, nearest, rule in found]
        return Grade(int(round(score)), covered, missed, clashes, coverage=[round(float(c), 3) for c in coverage], key_points=list(points),
                     doubted=list(doubted))


def _with_history(card: Card, points: list[KeyPoint], point_vectors: np.ndarray, coverage: np.ndarray, found: list[Found], unit_vectors: np.ndarray,
                  answer: str, history: CardHistory) -> tuple[np.ndarray, list[Found], LikeEarlier | None]:
    """Coverage and contradictions once the user's labels for this card are read (kb.coach.grade.history)."""
    coverage = np.array(coverage, dtype=float)
    found = [f for f in found if points[f[3]].text not in history.dismissed]  # "not a contradiction", for that sentence
    vector, sentences = unit_vectors[-1], unit_vectors[:-1]
    good, good_sim = history.nearest(vector, ("right", ""))
    right = [a for a in history.answers if a.label == "right"]
    repeats = [(repeats_mistake(sentences, a, point_vectors, right), a) for a in history.answers if a.label == "wrong"]
    margin, bad = max(repeats, key=lambda r: r[0], default=(-1.0, None))
    like: LikeEarlier | None = None
    if bad is not None and margin >= WRONG_SENTENCE_MARGIN and not corrects(answer, bad.answer, card.answer_text) and good_sim < TRUSTED_RIGHT:
        like = LikeEarlier(bad.answer, "wrong", bad.marked_at, float(bad.vector @ vector) if bad.vector is not None else margin)
    elif good is not None and good_sim >= LIKE_ANSWER and good.credited:
        for i, point in enumerate(points):
            if point.text in good.credited:
                coverage[i] = max(coverage[i], good_sim)
        if good.label == "right" and good_sim >= TRUSTED_RIGHT:
            found = []
        like = LikeEarlier(good.answer, good.label or "points", good.marked_at, good_sim)
    same = history.same_answer(answer)
    if same is not None:  # this very answer's own marks, as the user set them
        for i, point in enumerate(points):
            if point.text in same.points:
                coverage[i] = 1.0 if same.points[point.text] else 0.0
    return coverage, found, like


def _contrasted(clause: str, answer: str) -> bool:
    """A clause with a contrast or a negation ("instead of only the hard labels", "never needs pairs"),
    or one "unlike" opens: which term an attribute belongs to can turn on that word, so a word-rule
    clash there is too unsure to call."""
    return bool(set(tokens(clause)) & (CONTRAST_CUES | NEGATIONS)) or _after_contrast(clause, answer)


def _after_contrast(clause: str, answer: str) -> bool:
    """The clause follows a contrast word it was cut at ("L1 ..., and unlike | L2 it drives weights to
    zero"): its first term is what it is compared with, not what it speaks of."""
    start = answer.find(clause)
    before = tokens(answer[max(0, start - 24) : start]) if start > 0 else []
    return bool(before) and before[-1] in CONTRAST_CUES


def _softly_negated(clause: str, card_clause: str) -> bool:
    """The side without a "not" still denies something in other words ("instead of only the hard
    labels" for "not just hard labels", "resists length gaming" for "prevents length gaming"): the two
    may well say the same, so a flip is too unsure to call."""
    side = card_clause if is_negated(clause) else clause
    return bool(set(tokens(side)) & SOFT_NEGATIONS)


def _weighted_share(points: list[KeyPoint], coverage: np.ndarray) -> float:
    """Coverage averaged over the key points by weight (a formula counts half a claim)."""
    weights = np.array([p.weight for p in points])
    return float((weights * np.asarray(coverage, dtype=float)).sum() / weights.sum()) if len(points) else 0.0


def max_score_after_hints(hints: int) -> int:
    """The best score still possible after `hints` hints."""
    return max(0, 100 - HINT_COST * max(0, hints))
