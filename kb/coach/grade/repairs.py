"""Contradictions found by repair: an answer clause that a small edit turns into a claim of the card.

Sentence embeddings barely see which of two things gets which property ("pandas for small data and
Polars for huge" reads like the card's "Polars for huge data and pandas for small"). So instead of
asking whether a clause looks like the card, ask whether a minimal edit makes it restate a card claim
better: swapping two of the card's terms (roles, definitions), turning a ratio upside down, or putting
another of the card's terms in place of one (a definition given to the wrong thing). The edited
clause must share most of its words, in order, with the claim, more than the clause as said shares
with any claim, and match it at least as well in embedding space. Everything here reads the card's
own text: no word list is involved."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

from kb.coach.grade.antonyms import antonym_lexicon
from kb.coach.grade.text import GENERIC, stem, tokens
from kb.notes.cards import Card
from kb.notes.concepts import RELATION_OPENERS
from kb.vocab import NEGATIONS, is_content_word, named_terms

MAX_EDITS = 40  # edited clauses embedded per answer (each costs a short encode)
ORDER_MATCH = 3  # common words in order an edited clause must share with the card claim it restates ...
ORDER_SHARE = 0.7  # ... and at least this share of its own words: it restates the claim, not one phrase of it
DIVIDING = frozenset({"dividing", "divide", "divides"})  # "dividing A by B"
RATIO_OPENERS = frozenset({"is", "are", "equals", "means", "dividing", "divide", "divides", "as", "take", "takes"})
RATIO_CLOSERS = frozenset({"and", "so", "which", "then", "because", "where", "while"})
EditKind = Literal["role_swap", "definition_swap", "swapped_order"]  # the contradiction an edit undoes
UNNAMED_EDITS: tuple[EditKind, ...] = ("swapped_order",)  # edits that move no term of the card
LIST_JOINERS = frozenset({"and", "or"})  # commas are gone from tokens


@dataclass(frozen=True)
class Edit:
    clause: int  # index of the answer clause
    words: tuple[str, ...]  # the edited clause's tokens
    kind: EditKind

    @property
    def text(self) -> str:
        return " ".join(self.words)


@dataclass(frozen=True)
class ClaimWords:
    """A card's claim clauses as tokens, and as the stems word order is compared on: worked out once per card."""
    words: list[list[str]]
    stems: list[list[str]]
    counts: list[Counter[str]]  # each claim's stems as a multiset: a cheap bound on a common subsequence
    singles: int  # the first `singles` claims are one clause each; the rest join two neighbours

    @classmethod
    def of(cls, claims: list[str], singles: int | None = None) -> ClaimWords:
        words = [claim.split() for claim in claims]
        stems = [_stems(w) for w in words]
        return cls(words, stems, [Counter(s) for s in stems], len(claims) if singles is None else singles)


def card_terms(card: Card, texts: list[str], leads: list[str]) -> set[str]:
    """The card's terms, the things it says something about: the content words of its question and of
    its bold lead terms, and the names and acronyms it writes with a capital inside a sentence."""
    said = {t for text in texts for t in tokens(text) if _is_content(t)}
    named = {t for text in [card.question, *texts] for w in named_terms(text) for t in tokens(w)}
    # a question's relation words ("what's the difference with the usual ...") frame it; they are no terms to swap
    asked = {t for text in [card.question, *leads] for t in tokens(text) if _is_content(t) and t not in RELATION_OPENERS}
    return (named & said) | asked


def _is_content(token: str) -> bool:
    return is_content_word(token, GENERIC, NEGATIONS, min_length=2, digits=False)


def edits(clauses: list[list[str]], terms: set[str], claims: list[list[str]]) -> list[Edit]:
    """Minimal edits of each clause (tokens): two of its words swapped (two terms, or two words one card
    claim names together), a ratio turned upside down ("the total divided by the correct ones"), and
    another term of the answer put in place of one. Swaps first."""
    mentioned = {t for clause in clauses for t in clause if t in terms}
    together = [set(claim) for claim in claims]
    swaps: list[Edit] = []
    substitutions: list[Edit] = []
    for index, clause in enumerate(clauses):
        named = list(dict.fromkeys(t for t in clause if t in terms))
        words = list(dict.fromkeys(t for t in clause if _is_content(t)))
        for i, a in enumerate(words):
            for b in words[i + 1 :]:
                if ((a in terms and b in terms) or any(a in c and b in c for c in together)) and not _listed_together(clause, a, b, terms):
                    swaps.append(Edit(index, _exchanged(clause, a, b), "role_swap"))
        for a in named:
            for b in sorted(mentioned - set(named)):
                substitutions.append(Edit(index, _exchanged(clause, a, b, both_ways=False), "definition_swap"))
        ratio = _ratio_swapped(clause)
        if ratio:
            swaps.append(Edit(index, ratio, "swapped_order"))
    return swaps + substitutions


def _listed_together(clause: list[str], a: str, b: str, terms: set[str]) -> bool:
    """`a` and `b` in one list ("SimCLR, MoCo and CLIP"): only terms and "and"/"or" between them. The
    order of a list carries no role, so swapping two of its items says nothing."""
    i, j = sorted((clause.index(a), clause.index(b)))
    return all(t in terms or t in LIST_JOINERS for t in clause[i + 1 : j])


def _exchanged(clause: list[str], a: str, b: str, both_ways: bool = True) -> tuple[str, ...]:
    """The clause with `a` and `b` swapped; with both_ways=False, `a` replaced by `b` (b stays)."""
    return tuple(b if t == a else a if both_ways and t == b else t for t in clause)


def _ratio_swapped(clause: list[str]) -> tuple[str, ...] | None:
    """"A divided by B" as "B divided by A" ("dividing A by B", "A over B" too): numerator and denominator exchanged."""
    words = list(clause)
    for i, word in enumerate(words):
        pivot = 0
        if word == "divided" and i + 1 < len(words) and words[i + 1] == "by":
            pivot = 2
        elif word in ("over", "by") and any(w in DIVIDING for w in words[:i]):
            pivot = 1
        if not pivot:
            continue
        start = max((j + 1 for j, w in enumerate(words[:i]) if w in RATIO_OPENERS), default=0)
        end = next((j for j in range(i + pivot, len(words)) if words[j] in RATIO_CLOSERS), len(words))
        left, right = words[start:i], words[i + pivot : end]
        if left and right:
            return tuple(words[:start] + right + words[i : i + pivot] + left + words[end:])
    return None


def closer_in_order(edits_: list[Edit], clauses: list[list[str]], claims: ClaimWords, terms: set[str]) -> list[tuple[Edit, int]]:
    """The edits that bring the clause's words closer, in order, to one of the card's claims, each with
    that claim; at most MAX_EDITS. The edited clause must share a long common subsequence of stems with
    the claim (the term and its context, not the term alone), longer than the clause as said shares
    with any claim, and the claim must speak of the terms the edit put in (a term taken out must not
    be in it). Word order is what embeddings miss, so it is checked here, before any embedding."""
    said = [_stems(c) for c in clauses]
    claim_stems, claim_counts = claims.stems, claims.counts
    claim_terms = [{w for w in c if w in terms} for c in claims.words]
    best_as_said: dict[int, int] = {}

    def as_said(clause: int) -> int:  # the clause's best match with one claim, unedited (worked out only when needed)
        # Not with two claims joined: a subsequence across their boundary reads "bagging [...] trains
        # models sequentially" as a match for the swapped clause itself.
        if clause not in best_as_said:
            best_as_said[clause] = max((_lcs(said[clause], claim) for claim in claim_stems[: claims.singles]), default=0)
        return best_as_said[clause]

    kept = []
    for edit in edits_:
        original = clauses[edit.clause]
        changed = [(a, b) for a, b in zip(original, edit.words, strict=False) if a != b]  # word by word, up to the shorter
        added = {b for _, b in changed}
        removed = {a for a, _ in changed} - set(edit.words)
        edited = _stems(list(edit.words))
        needed = max(ORDER_MATCH, ORDER_SHARE * len(edited))
        edited_counts = Counter(edited)
        best = None
        for k, claim in enumerate(claim_stems):
            if not (added & claim_terms[k] or edit.kind in UNNAMED_EDITS) or removed & claim_terms[k]:
                continue
            if sum((edited_counts & claim_counts[k]).values()) < needed:  # the common subsequence cannot be long enough
                continue
            common = _lcs(edited, claim)
            if common >= needed and common > as_said(edit.clause) and common > _lcs(said[edit.clause], claim) and (best is None or common > best[1]):
                best = (k, common)
        if best is not None:
            kept.append((edit, best[0]))
    return kept[:MAX_EDITS]


def _stems(words: list[str]) -> list[str]:
    """Content words and attributes as stems; every negation as "not" (it is part of what is claimed)."""
    lexicon = antonym_lexicon()
    return ["not" if w in NEGATIONS else stem(w) for w in words if _is_content(w) or w in lexicon or w in NEGATIONS]


def _lcs(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (clauses are short: the quadratic table is cheap)."""
    if not a or not b:
        return 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


# ---- confirming a rule-based clash ----------------------------------------------------------------
def attachment_edits(clause: list[str], terms: set[str], mentioned: set[str], claims: list[list[str]]) -> list[tuple[str, ...]]:
    """The edits that would undo a wrong attachment in a clause (tokens): two of its terms swapped,
    one of its terms replaced by another the answer names, an attribute replaced by one of the
    opposite pole that the card's claims use ("upper" -> "lower"), a negation dropped."""
    lexicon = antonym_lexicon()
    named = list(dict.fromkeys(t for t in clause if t in terms))
    out: list[tuple[str, ...]] = []
    for i, a in enumerate(named):
        out.extend(_exchanged(clause, a, b) for b in named[i + 1 :])
        out.extend(_exchanged(clause, a, b, both_ways=False) for b in sorted(mentioned - set(named)))
    card_attributes = sorted({w for claim in claims for w in claim if w in lexicon})
    for pos, word in enumerate(clause):
        if word in lexicon:
            poles = dict(lexicon[word])
            for other in card_attributes:
                if any(axis in poles and poles[axis] != pole for axis, pole in lexicon[other]):
                    out.append((*clause[:pos], other, *clause[pos + 1 :]))
        elif word in NEGATIONS:
            out.append((*clause[:pos], *clause[pos + 1 :]))
    return out


def order_repair(clause: list[str], edited: list[tuple[str, ...]], claims: ClaimWords) -> tuple[bool, list[tuple[int, int]]]:
    """Whether one of the edits brings the clause closer, in word order, to a card claim than the
    clause as said comes to any claim; else the (edit, claim) pairs that come exactly as close (the
    order of words cannot tell them apart) while improving on that claim."""
    claim_stems = claims.stems
    said = _stems(clause)
    per_claim = [_lcs(said, c) for c in claim_stems]
    best = max(per_claim, default=0)
    ties = []
    for i, words in enumerate(edited):
        stems = _stems(list(words))
        counts = Counter(stems)
        for k, claim in enumerate(claim_stems):
            # a common subsequence is at most the words both share: skip a claim it cannot matter for
            if sum((counts & claims.counts[k]).values()) < max(best, per_claim[k] + 1):
                continue
            common = _lcs(stems, claim)
            if common > per_claim[k]:
                if common > best:
                    return True, []
                if common == best:
                    ties.append((i, k))
    return False, ties
