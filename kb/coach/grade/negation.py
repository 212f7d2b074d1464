"""Negation flips: an answer clause that says a claim of the card with "not"/"never" added or dropped.
The grader embeds both sides without their negations; this module supplies the text side."""
from __future__ import annotations

import re

from kb.coach.grade.points import KeyPoint, claim_body
from kb.coach.grade.text import GENERIC, canonical_text, content_stems, plain_text, split_clauses, stem, tokens, words_after_negation
from kb.vocab import NEGATIONS, is_content_word

NEGATION_OVERLAP = 0.5  # share of content words two clauses must share to be "the same claim"
ARROW_RE = re.compile(r"\s*(?:\u2192|->|=>)\s*")
# Verbs that deny what follows them: "prevents premature collapse" says the same as "doesn't collapse prematurely".
PREVENTIONS = frozenset("prevent prevents prevented preventing avoid avoids avoiding stop stops stopping".split())


def claim_clauses(points: list[KeyPoint]) -> tuple[list[str], list[int]]:
    """The card's claims cut into clauses, each with its lead term, and the index of the point each comes from."""
    texts, owners = [], []
    for index, point in enumerate(points):
        if point.kind != "claim":
            continue
        for clause in (part for c in split_clauses(claim_body(point)) for part in ARROW_RE.split(c)):  # "A → B → C": each link is a claim
            if len(clause.split()) >= 2:
                texts.append(f"{plain_text(point.lead)}: {clause}" if point.lead else clause)
                owners.append(index)
    return texts, owners


def is_flipped(clause: str, card_clause: str) -> bool:
    """The answer clause negates what the card clause affirms (or the reverse), about the same word."""
    return is_negated(clause) != is_negated(card_clause) and same_negated_word(clause, card_clause)


def is_negated(text: str) -> bool:
    return any(t in NEGATIONS or t in PREVENTIONS for t in tokens(text))


def _negated_words(text: str) -> set[str]:
    """Stems of the first content word after each negation ("never vanish" -> vanish)."""
    out = set()
    for after in words_after_negation(tokens(text), lambda w: w in NEGATIONS or w in PREVENTIONS, 5):
        following = [t for t in after if is_content_word(t, GENERIC, NEGATIONS)]
        if following:
            out.add(stem(following[0]))
    return out


def same_negated_word(a: str, b: str) -> bool:
    """The two clauses say nearly the same words and the negated word is one of them:
    "never vanish" vs "vanish", not "doesn't blow up" vs "robust"."""
    negated = _negated_words(a) | _negated_words(b)
    stems_a, stems_b = content_stems(a), content_stems(b)
    overlap = len(stems_a & stems_b) / max(1, len(stems_a | stems_b))
    return bool(negated & stems_a & stems_b) and overlap >= NEGATION_OVERLAP


def without_negation(text: str) -> str:
    """The text with its negation words dropped (what is embedded to find the claim it restates)."""
    return " ".join(w for w in text.split() if canonical_text(w).strip(".,;:!?'\"").replace("'", "") not in NEGATIONS)
