"""The contradiction checks, each a registered object with one signature:

    check.find(card: CardAnalysis, answer: AnswerAnalysis, encoder: Encoder) -> list[Flag]

A check reads the two analyses (kb/coach/grade/analysis.py), may embed a few edited or negation-free
clauses, and returns the answer clauses it finds saying the opposite of the card. `rule` names it in
`kb grade --json` and in `benchmarks.evaluate_grading --by-rule`, which counts each rule's flags on
strong, partial and wrong dev answers: a rule that does not pay there is deleted, not kept "just in
case". The grader (kb/coach/grade/grader.py) runs CHECKS in order; a clause keeps the first flag it got,
and the word rules' attachment clashes must hold up under the edit that would undo them (`holds_up`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from kb.coach.grade.analysis import AnswerAnalysis, CardAnalysis
from kb.coach.grade.compared import as_written
from kb.coach.grade.contradictions import contradictions
from kb.coach.grade.negation import is_flipped, is_negated, without_negation
from kb.coach.grade.relation_clashes import (
    RelationTest,
    denies_what_is_there,
    dismisses_subject,
    gives_wrong_number,
    misattributes,
    needs_what_is_not,
    reverses_comparison,
    reverses_superlative,
    swaps_roles,
)
from kb.coach.grade.repairs import MAX_EDITS, EditKind, attachment_edits, closer_in_order, edits, order_repair
from kb.coach.grade.result import ContradictionKind, ContradictionRule
from kb.coach.grade.text import tokens
from kb.embed.base import Encoder
from kb.vocab import NEGATIONS

NEGATION_MATCH = 0.72  # cosine above which an answer clause restates a card claim (negation aside)
REPAIR_MATCH = 0.65  # cosine from which an edited clause (closer in word order) restates a card claim
TIE_MARGIN = 0.05  # cosine an undoing edit must gain when word order ties (a mere rewording moves a clause a few hundredths)
MISCONCEPTION_MATCH = 0.6  # cosine from which an answer sentence says a wrong answer the note lists
MISCONCEPTION_MARGIN = 0.1  # ... and it must be this much closer to it than to any key point (negation-blind embeddings put the right claim near it too)
# General English: after these a term is what the clause is compared with, not what it speaks of.
CONTRAST_CUES = frozenset({"unlike", "instead", "rather", "versus", "vs"})
# General English that denies without a negation word: a flip against a clause using one is left to coverage.
SOFT_NEGATIONS = frozenset("instead rather without unlike except lack lacks lacking fail fails failing resist resists resisting free".split())


@dataclass(frozen=True)
class Flag:
    """An answer clause a check finds contradicting the card."""

    clause: str  # the answer's words, as written
    kind: ContradictionKind
    points: frozenset[int] = frozenset()  # the key points it contradicts (empty: the nearest is shown)
    read_as: str = ""  # the clause as the check read it, when that differs ("KL(q||p)" renamed "Reverse KL")
    mistake: str = ""  # for a misconception: the note's wrong answer it says


class Check(Protocol):
    @property
    def rule(self) -> ContradictionRule: ...

    def find(self, card: CardAnalysis, answer: AnswerAnalysis, encoder: Encoder) -> list[Flag]: ...


@dataclass(frozen=True)
class AttributeCheck:
    """The opposite attribute (antonym lexicon), or another compared term's, said of what the card
    describes: "MAE predicts the mean" (kb/coach/grade/contradictions.py)."""

    rule: ContradictionRule = "attribute"

    def find(self, card: CardAnalysis, answer: AnswerAnalysis, encoder: Encoder) -> list[Flag]:
        return [Flag(as_written(clause, answer.written), "definition_swap" if on_compared else "opposite_attribute", frozenset(hit), clause)
                for clause, hit, on_compared in contradictions(card.card, card.points, answer.renamed, card.compared)]


@dataclass(frozen=True)
class OrderedPairCheck:
    """A compared term set equal to the other order's formula: "Forward KL is KL(q||p)"."""

    rule: ContradictionRule = "ordered_pair"

    def find(self, card: CardAnalysis, answer: AnswerAnalysis, encoder: Encoder) -> list[Flag]:
        return [Flag(clause, "swapped_order") for clause in answer.pair_clashes]


@dataclass(frozen=True)
class RelationCheck:
    """One pattern of kb/coach/grade/relations.py applied to the answer's clauses."""

    rule: ContradictionRule
    kind: ContradictionKind
    test: RelationTest

    def find(self, card: CardAnalysis, answer: AnswerAnalysis, encoder: Encoder) -> list[Flag]:
        return [Flag(clause, self.kind) for clause in answer.unit_clauses if self.test(card.relations, clause, tokens(clause))]


@dataclass(frozen=True)
class NegationCheck:
    """A clause that says a claim of the card with "not"/"never" added or dropped: the word test
    (`is_flipped`) picks candidates, their negation-free embedding must restate the claim."""

    rule: ContradictionRule = "negation"

    def find(self, card: CardAnalysis, answer: AnswerAnalysis, encoder: Encoder) -> list[Flag]:
        clauses = [c for c in answer.clauses if any(is_flipped(c, other) for other in card.clauses)]
        if not clauses:
            return []
        similarity = card.clause_vectors @ encoder.encode([without_negation(c) for c in clauses]).T
        flags = []
        for j, clause in enumerate(clauses):
            i = int(np.argmax(similarity[:, j]))
            if similarity[i, j] >= NEGATION_MATCH and is_flipped(clause, card.clauses[i]) and not _softly_negated(clause, card.clauses[i]):
                flags.append(Flag(clause, "negation", frozenset({card.clause_owners[i]})))
        return flags


@dataclass(frozen=True)
class RepairCheck:
    """A clause that one small edit (two of the card's terms swapped, a ratio turned upside down,
    another term put in) makes restate a card claim at least as well: it says its opposite
    (kb/coach/grade/repairs.py)."""

    rule: ContradictionRule = "repair"

    def find(self, card: CardAnalysis, answer: AnswerAnalysis, encoder: Encoder) -> list[Flag]:
        clauses = [c for c in answer.clauses if not after_contrast(c, answer.said)]
        said = [tokens(c) for c in clauses]
        candidates = closer_in_order(edits(said, card.terms, card.claim_words.words), said, card.claim_words, card.terms) if card.claims else []
        if not candidates:
            return []
        edited = list(dict.fromkeys(edit.clause for edit, _ in candidates))  # only these clauses are compared as said
        similarity = card.claim_vectors @ encoder.encode([" ".join(said[i]) for i in edited] + [edit.text for edit, _ in candidates]).T
        as_said = dict(zip(edited, similarity[:, : len(edited)].max(axis=0), strict=True))
        best: dict[str, tuple[EditKind, int, float]] = {}
        for j, (edit, claim) in enumerate(candidates):
            match = float(similarity[claim, len(edited) + j])
            gain = match - float(as_said[edit.clause])
            clause = clauses[edit.clause]
            if match >= REPAIR_MATCH and gain >= 0 and (clause not in best or gain > best[clause][2]):
                best[clause] = (edit.kind, card.claim_owners[claim], gain)
        return [Flag(clause, kind, frozenset({owner})) for clause, (kind, owner, _) in best.items()]


@dataclass(frozen=True)
class MisconceptionCheck:
    """A sentence that says a wrong answer the note lists under the card (kb/notes/misconceptions.py),
    closer to it than to any key point."""

    rule: ContradictionRule = "misconception"

    def find(self, card: CardAnalysis, answer: AnswerAnalysis, encoder: Encoder) -> list[Flag]:
        if not card.misconceptions or not answer:
            return []
        sentences = answer.sentence_vectors
        to_mistake = sentences @ card.misconception_vectors.T  # sentences x misconceptions
        to_point = (sentences @ card.point_vectors.T).max(axis=1) if len(card.point_vectors) else np.full(len(answer.units), -1.0)
        flags = []
        for j, mistake in enumerate(card.misconceptions):
            i = int(to_mistake[:, j].argmax())
            if to_mistake[i, j] >= MISCONCEPTION_MATCH and to_mistake[i, j] > to_point[i] + MISCONCEPTION_MARGIN:
                flags.append(Flag(answer.units[i], "misconception", mistake=mistake))
        return flags


# Run in this order; a clause keeps the first flag it gets (a repair, being confirmed, wins over all).
CHECKS: tuple[Check, ...] = (
    RepairCheck(),
    AttributeCheck(),
    OrderedPairCheck(),
    RelationCheck("comparison", "reversed_comparison", reverses_comparison),
    RelationCheck("misattribution", "definition_swap", misattributes),
    RelationCheck("number", "wrong_number", gives_wrong_number),
    RelationCheck("superlative", "reversed_comparison", reverses_superlative),
    RelationCheck("dismissal", "dismissed", dismisses_subject),
    RelationCheck("role_order", "role_swap", swaps_roles),
    RelationCheck("denial", "negation", denies_what_is_there),
    RelationCheck("needless", "negation", needs_what_is_not),
    NegationCheck(),
    MisconceptionCheck(),
)
RULES: tuple[ContradictionRule, ...] = tuple(check.rule for check in CHECKS)


def holds_up(card: CardAnalysis, clause: str, mentioned: set[str], encoder: Encoder) -> bool:
    """Whether a word rule's clash (a term or attribute attached to the wrong thing) holds up: the
    edit that would undo it (terms swapped, an attribute turned to its opposite, a negation dropped)
    must bring the clause closer to one of the card's claims, in word order, or when word order
    ties, in embedding by TIE_MARGIN. A correct clause the rules misread (a yardstick taken for
    the subject, "trading more variance for less bias") only moves away from the card when edited.
    A clause no such edit applies to cannot be tested and keeps its flag."""
    said = tokens(clause)
    edited = attachment_edits(said, card.terms, mentioned & card.terms, card.claim_words.words)
    if not edited or not card.claims:
        return True
    closer, ties = order_repair(said, edited, card.claim_words)
    if closer or not ties:
        return closer
    ties = ties[:MAX_EDITS]
    similarity = card.claim_vectors @ encoder.encode([" ".join(said)] + [" ".join(edited[i]) for i, _ in ties]).T
    gain = max(float(similarity[k, j + 1]) for j, (_, k) in enumerate(ties)) - float(similarity[:, 0].max())
    return gain >= TIE_MARGIN


def contrasted(clause: str, answer: str) -> bool:
    """A clause with a contrast or a negation ("instead of only the hard labels", "never needs pairs"),
    or one "unlike" opens: which term an attribute belongs to can turn on that word, so a word-rule
    clash there is too unsure to call."""
    return bool(set(tokens(clause)) & (CONTRAST_CUES | NEGATIONS)) or after_contrast(clause, answer)


def after_contrast(clause: str, answer: str) -> bool:
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
