"""Score an answer against a card: key-point coverage from embeddings and shared words, the whole
answer's similarity, and the contradictions the other modules find, as a 0-100 Grade (one Grader
per encoder caches each card's embeddings)."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from kb.coach.grade.compared import as_written, resolve_ordered_pairs
from kb.coach.grade.contradictions import contradictions
from kb.coach.grade.negation import claim_clauses, is_flipped, without_negation
from kb.coach.grade.points import KeyPoint, key_points
from kb.coach.grade.relation_clashes import relation_clashes
from kb.coach.grade.text import content_stems, plain_text, split_clauses, split_sentences

# Coverage: cosine below LOW counts as nothing, above HIGH as fully said (all-MiniLM-L6-v2 scale).
COS_LOW, COS_HIGH = 0.30, 0.70
LEXICAL_WEIGHT = 0.35  # share of a point's coverage that comes from its content words
WHOLE_WEIGHT = 0.3  # share of the score from the whole answer's similarity to the card's answer
COVERED_AT = 0.5  # a point counts as covered from this coverage on
FULL_MARKS_AT = 0.7  # weighted coverage that already earns 100 (a spoken answer never says everything)
SCORE_CURVE = 0.5  # < 1 lifts partial answers: saying one point right is worth more than 1/n of the marks
CONTRADICTION_FACTOR = 0.25  # the score is multiplied by this for each contradicting clause
NEGATION_MATCH = 0.72  # cosine above which an answer clause restates a card claim (negation aside)
HINT_COST = 15  # each hint lowers the best score still possible by this much
MAX_ANSWER_CHARS = 4000


@dataclass
class Grade:
    score: int
    covered: list[str]
    missed: list[str]
    contradictions: list[str] = field(default_factory=list)  # answer clauses that say the opposite of the card
    coverage: list[float] = field(default_factory=list)  # per key point, in key-point order
    key_points: list[KeyPoint] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"score": self.score, "covered": self.covered, "missed": self.missed, "contradictions": self.contradictions}


def _says_something(sentence: str, question_stems: set[str]) -> bool:
    """False for a sentence that only restates the question ("What is focal loss?" adds nothing)."""
    stems = content_stems(sentence)
    new = stems - question_stems
    return bool(new) and (len(new) >= 2 or len(stems & question_stems) < 2)


class Grader:
    """Grades answers with the real sentence encoder; key-point embeddings are cached per card."""

    def __init__(self, encoder, cache_size: int = 256):
        self.encoder = encoder
        self._cache: OrderedDict[str, object] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # the web app grades from several threads

    def _cached(self, key: str, make):
        """A per-card value, computed once (outside the lock: encoding is slow) and kept in an LRU."""
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = make()
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return value

    def card_points(self, card) -> tuple[list[KeyPoint], np.ndarray, list[set[str]]]:
        """The card's key points, their embeddings and their content stems, once per card version."""
        def make():
            points = key_points(card)
            return points, self.encoder.encode([p.plain for p in points]), [content_stems(p.plain) for p in points]

        return self._cached(f"points:{card.id}:{card.text_hash}", make)

    def grade(self, card, answer: str, hints: int = 0) -> Grade:
        points, point_vectors, point_stems = self.card_points(card)
        answer = (answer or "").strip()[:MAX_ANSWER_CHARS]
        question_stems = content_stems(card.question)
        # Sentences that only restate the question add nothing: keep those with new content words.
        units = [s for s in split_sentences(plain_text(answer)) if _says_something(s, question_stems)]
        if not units:
            return self._result(points, np.zeros(len(points)), [], set(), hints, 0.0)
        coverage, whole = self._coverage(card, point_vectors, point_stems, units)
        found, contradicted = self._contradictions(card, points, units)
        return self._result(points, coverage, found, contradicted, hints, whole)

    def _coverage(self, card, point_vectors: np.ndarray, point_stems: list[set[str]], units: list[str]) -> tuple[np.ndarray, float]:
        """Per key point, how well the answer says it (best sentence cosine blended with shared content
        words); and the whole answer's cosine to the card's answer."""
        unit_vectors = self.encoder.encode(units + [" ".join(units)])
        cosine = (point_vectors @ unit_vectors.T).max(axis=1)
        whole = float(unit_vectors[-1] @ self.reference_vector(card))
        dense = np.clip((cosine - COS_LOW) / (COS_HIGH - COS_LOW), 0.0, 1.0)
        answer_stems = content_stems(" ".join(units))
        lexical = np.array([len(s & answer_stems) / len(s) if s else 0.0 for s in point_stems])
        return (1 - LEXICAL_WEIGHT) * dense + LEXICAL_WEIGHT * lexical, whole

    def _contradictions(self, card, points: list[KeyPoint], units: list[str]) -> tuple[list[str], set[int]]:
        """Every contradicting clause (attribute, ordered-pair, relation and negation checks, each clause
        once) and the key points they take the credit of."""
        text, pair_clashes, written = resolve_ordered_pairs(card, points, " ".join(units))
        found, contradicted = contradictions(card, points, text)
        found = list(dict.fromkeys(as_written(c, written) for c in found))
        found += [c for c in dict.fromkeys(pair_clashes + relation_clashes(card, points, units)) if c not in found]
        negated_found, negated_points = self._negation_flips(card, points, units)
        found += [c for c in negated_found if c not in found]
        return found, contradicted | negated_points

    def _negation_flips(self, card, points, units) -> tuple[list[str], set[int]]:
        """An answer clause that says a claim of the card with "not"/"never" added (or dropped)."""
        clauses = [c.strip() for u in units for c in split_clauses(u) if len(c.split()) >= 3]
        card_clauses, owners, card_vectors = self.card_clauses(card, points)
        if not clauses or not card_clauses:
            return [], set()
        vectors = self.encoder.encode([without_negation(c) for c in clauses])
        similarity = card_vectors @ vectors.T
        found, hit = [], set()
        for j, clause in enumerate(clauses):
            i = int(np.argmax(similarity[:, j]))
            if similarity[i, j] >= NEGATION_MATCH and is_flipped(clause, card_clauses[i]):
                found.append(clause)
                hit.add(owners[i])
        return found, hit

    def card_clauses(self, card, points) -> tuple[list[str], list[int], np.ndarray]:
        """The card's claims cut into clauses (each with its lead term), embedded once per card."""
        def make():
            texts, owners = claim_clauses(points)
            vectors = self.encoder.encode([without_negation(t) for t in texts]) if texts else np.zeros((0, 1), dtype=np.float32)
            return texts, owners, vectors

        return self._cached(f"clauses:{card.id}:{card.text_hash}", make)

    def reference_vector(self, card) -> np.ndarray:
        """The embedding of the card's whole answer."""
        return self._cached(f"ref:{card.id}:{card.text_hash}", lambda: self.encoder.encode([card.answer_text or card.question])[0])

    @staticmethod
    def _result(points, coverage, found, contradicted, hints, whole: float) -> Grade:
        coverage = np.asarray(coverage, dtype=float)
        weights = np.array([p.weight for p in points])
        credited = np.where([i in contradicted for i in range(len(points))], 0.0, coverage)
        share = float((weights * credited).sum() / weights.sum()) if len(points) else 0.0
        overall = float(np.clip((whole - COS_LOW) / (COS_HIGH - COS_LOW), 0.0, 1.0))
        blended = (1 - WHOLE_WEIGHT) * min(1.0, share / FULL_MARKS_AT) + WHOLE_WEIGHT * overall
        score = blended ** SCORE_CURVE * (CONTRADICTION_FACTOR ** len(found))
        score = min(100.0 * score, max_score_after_hints(hints))
        covered = [p.text for i, p in enumerate(points) if credited[i] >= COVERED_AT]
        missed = [p.text for i, p in enumerate(points) if credited[i] < COVERED_AT]
        return Grade(int(round(score)), covered, missed, found, [round(float(c), 3) for c in coverage], list(points))


def max_score_after_hints(hints: int) -> int:
    """The best score still possible after `hints` hints."""
    return max(0, 100 - HINT_COST * max(0, hints))


