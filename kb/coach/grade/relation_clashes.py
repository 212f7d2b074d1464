"""Relation contradictions: answer clauses that reverse one of the card's comparisons or swap its roles,
give a compared term another's words, give a wrong number, dismiss what the card is about, or deny
what it says is there. The patterns live in relations.py; this module applies them to a card."""
from __future__ import annotations

from dataclasses import dataclass

from kb.coach.grade import relations
from kb.coach.grade.antonyms import antonym_lexicon
from kb.coach.grade.compared import Leads, distinctive_words, misattributed
from kb.coach.grade.points import KeyPoint, claim_body
from kb.coach.grade.relations import Comparison, RolePairs
from kb.coach.grade.result import ContradictionKind
from kb.coach.grade.text import GENERIC, content_stems, split_clauses, stem, tokens
from kb.lru import LruCache
from kb.notes.cards import Card
from kb.vocab import NEGATIONS, STOPWORDS, Vocabulary, current_vocabulary, is_content_word

NUMBER_SKIP = STOPWORDS | GENERIC | {"than", "step", "steps", "top", "epoch", "epochs", "layer", "layers", "page", "times", "dimension"}
CACHE_SIZE = 512  # cards whose relations are kept


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


_RELATIONS_CACHE: LruCache[tuple[str, str, Vocabulary], CardRelations] = LruCache(CACHE_SIZE)


def card_relations(card: Card, points: list[KeyPoint]) -> CardRelations:
    """The card's relations, from an LRU keyed by the card's id and text."""
    key = (card.id, getattr(card, "text_hash", card.answer_md), current_vocabulary())
    return _RELATIONS_CACHE.get_or_make(key, lambda: _work_out_relations(card, points))


def _work_out_relations(card: Card, points: list[KeyPoint]) -> CardRelations:
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


def relation_clashes(card: Card, points: list[KeyPoint], units: list[str]) -> list[tuple[str, ContradictionKind]]:
    """(clause, kind) for each answer clause that reverses one of the card's comparisons or swaps its
    roles, gives one compared term another's words, gives a wrong number, dismisses what the card is
    about, denies what it says is there, or claims what it says is not needed."""
    rel = card_relations(card, points)
    found: list[tuple[str, ContradictionKind]] = []
    for unit in units:
        for clause in split_clauses(unit):
            kind = _clash_kind(rel, clause)
            if kind:
                found.append((clause.strip(), kind))
    return found


def _clash_kind(rel: CardRelations, clause: str) -> ContradictionKind | None:
    """One clause against the card's relations, check by check: the kind of the first clash, or None."""
    words = tokens(clause)
    said = relations.comparisons(clause)
    if said and rel.comparisons and relations.clashing_comparison(rel.comparisons, said):
        return "reversed_comparison"
    if rel.distinctive and misattributed(rel.leads, rel.distinctive, clause):
        return "definition_swap"  # "C51 learns atom locations": another term's words on this one
    if rel.numbers and relations.wrong_number(rel.numbers, relations.numbers_said(clause, NUMBER_SKIP)):
        return "wrong_number"  # "a temperature of 10" where the card says 0.07
    if rel.comparisons and relations.clashing_superlative(rel.comparisons, relations.superlatives(clause)):
        return "reversed_comparison"  # "B is the most stable option" where the card says A is more stable than B
    if not rel.dismisses and relations.dismisses(clause) and content_stems(clause) & (rel.named | rel.affirmed):
        return "dismissed"
    if relations.swapped_roles(rel.pairs, relations.role_pairs(words, rel.roles)):
        return "role_swap"  # "the student teaches the teacher": the card's roles swapped
    if relations.denied_terms(words) & rel.named - rel.denied - rel.question:
        return "negation"  # "with no KL penalty": denies what the card says is there
    if relations.affirmed_terms(words) & (rel.named & rel.denied) - rel.affirmed:
        return "negation"  # "needs a separately trained critic" where the card says "no critic"
    return None


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
    for pos, word in enumerate(words):
        if word in NEGATIONS or word.startswith(("non-", "un")):
            out.update(w for w in words[pos + 1 : pos + 4] if w not in STOPWORDS)
    return out
