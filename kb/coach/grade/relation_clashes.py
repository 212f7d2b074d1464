"""Relation contradictions: answer clauses that reverse one of the card's comparisons or swap its roles,
give a compared term another's words, give a wrong number, dismiss what the card is about, or deny
what it says is there. The patterns live in relations.py; this module applies them to a card."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kb.coach.grade import relations
from kb.coach.grade.antonyms import antonym_lexicon
from kb.coach.grade.compared import Leads, distinctive_words, misattributed
from kb.coach.grade.points import KeyPoint, claim_body
from kb.coach.grade.relations import Comparison, RolePairs
from kb.coach.grade.text import GENERIC, content_stems, split_clauses, stem, tokens, words_after_negation
from kb.notes.cards import Card
from kb.vocab import NEGATIONS, STOPWORDS, is_content_word

NUMBER_SKIP = STOPWORDS | GENERIC | {"than", "step", "steps", "top", "epoch", "epochs", "layer", "layers", "page", "times", "dimension"}


@dataclass
class CardRelations:
    """What the relation checks need from a card, worked out once per card version."""
    question: frozenset[str]
    comparisons: list[Comparison]
    dismisses: bool
    named: set[str]
    roles: set[str]
    pairs: RolePairs
    denied: set[str]
    affirmed: set[str]
    numbers: dict[str, set[float]]
    leads: Leads
    distinctive: list[set[str]]


def card_relations(card: Card, points: list[KeyPoint]) -> CardRelations:
    """The card's relations (read once per card version, with the rest of its analysis: kb/coach/grade/analysis.py)."""
    question = frozenset(content_stems(card.question))
    comparisons: list[Comparison] = []
    dismisses = False
    for point in points:
        if point.kind != "claim":
            continue
        subject = frozenset(stem(w) for w in tokens(point.lead) if w not in STOPWORDS) or question
        body = claim_body(point)
        dismisses = dismisses or relations.dismisses(body)
        for clause in split_clauses(body):
            comparisons.extend(relations.comparisons(clause, subject))
    named = set(question) | {stem(w) for p in points for w in tokens(p.lead) if w not in STOPWORDS}
    roles, pairs, denied = _card_roles(points)
    affirmed: set[str] = set().union(*(relations.affirmed_terms(tokens(c)) for p in points if p.kind == "claim" for c in split_clauses(p.plain)))
    numbers = relations.numbers_said(" ".join(p.plain for p in points if p.kind == "claim"), NUMBER_SKIP)
    leads, distinctive = distinctive_words(card, points)
    return CardRelations(question, comparisons, dismisses, named, roles, pairs, denied, affirmed, numbers, leads, distinctive)


# Each relation test: one answer clause (and its words) against the card's relations.
RelationTest = Callable[[CardRelations, str, list[str]], bool]


def reverses_comparison(rel: CardRelations, clause: str, words: list[str]) -> bool:
    """"B is more stable than A" where the card says A is more stable than B."""
    said = relations.comparisons(clause)
    return bool(said and rel.comparisons and relations.clashing_comparison(rel.comparisons, said))


def misattributes(rel: CardRelations, clause: str, words: list[str]) -> bool:
    """"C51 learns atom locations": another compared term's words on this one."""
    return bool(rel.distinctive) and misattributed(rel.leads, rel.distinctive, clause)


def gives_wrong_number(rel: CardRelations, clause: str, words: list[str]) -> bool:
    """"a temperature of 10" where the card says 0.07."""
    return bool(rel.numbers) and relations.wrong_number(rel.numbers, relations.numbers_said(clause, NUMBER_SKIP))


def reverses_superlative(rel: CardRelations, clause: str, words: list[str]) -> bool:
    """"B is the most stable option" where the card says A is more stable than B."""
    return bool(rel.comparisons) and relations.clashing_superlative(rel.comparisons, relations.superlatives(clause))


def dismisses_subject(rel: CardRelations, clause: str, words: list[str]) -> bool:
    """"X has nothing to do with Y" about what the card explains, when the card dismisses nothing."""
    return not rel.dismisses and relations.dismisses(clause) and bool(content_stems(clause) & (rel.named | rel.affirmed))


def swaps_roles(rel: CardRelations, clause: str, words: list[str]) -> bool:
    """"the student teaches the teacher": the card's roles the other way round."""
    return relations.swapped_roles(rel.pairs, relations.role_pairs(words, rel.roles))


def denies_what_is_there(rel: CardRelations, clause: str, words: list[str]) -> bool:
    """"with no KL penalty": denies what the card says is there."""
    return bool(relations.denied_terms(words) & rel.named - rel.denied - rel.question)


def needs_what_is_not(rel: CardRelations, clause: str, words: list[str]) -> bool:
    """"needs a separately trained critic" where the card says "no critic"."""
    return bool(relations.affirmed_terms(words) & (rel.named & rel.denied) - rel.affirmed)


def _card_roles(points: list[KeyPoint]) -> tuple[set[str], RolePairs, set[str]]:
    """The card's things (its content words), the ordered pairs of them it links by a short run of
    words ("student [to match] teacher"), and the words it itself denies ("no critic")."""
    words = tokens(" ".join(p.plain for p in points if p.kind == "claim"))
    counts: dict[str, int] = {}
    lexicon = antonym_lexicon()
    for word in words:
        if is_content_word(word, GENERIC, NEGATIONS, lexicon, min_length=3):
            counts[stem(word)] = counts.get(stem(word), 0) + 1
    roles = set(counts)
    pairs: RolePairs = {}
    for point in points:
        if point.kind == "claim":
            for clause in split_clauses(point.plain):
                for pair, linking in relations.role_pairs(tokens(clause), roles).items():
                    pairs[pair] = pairs.get(pair, frozenset()) | linking
    denied = relations.denied_terms(words) | {stem(w) for w in _negated_words_all(words)}
    return roles, pairs, denied


def _negated_words_all(words: list[str]) -> set[str]:
    """Every content word within three words after a negation in the card (it denies them itself)."""
    out: set[str] = set()
    for after in words_after_negation(words, lambda w: w in NEGATIONS or w.startswith(("non-", "un")), 3):
        out.update(w for w in after if w not in STOPWORDS)
    return out
