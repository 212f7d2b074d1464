"""The things a card sets against each other (MSE / MAE / Huber, Forward / Reverse KL, C51 / QR-DQN),
and the checks that an answer keeps them apart: ordered formula arguments tied to the wrong term, and
one term given the words the card says only of another."""
from __future__ import annotations

import re

from kb.coach.grade import relations
from kb.coach.grade.antonyms import antonym_lexicon
from kb.coach.grade.points import KeyPoint, claim_body, is_compared_term
from kb.coach.grade.text import GENERIC, content_stems, plain_text, split_clauses, stem, tokens
from kb.notes.cards import Card
from kb.vocab import STOPWORDS, is_content_word

COMPARISON_RE = re.compile(r"([a-z0-9][a-z0-9-]*)(?: loss(?:es)?)? (?:vs|versus|and not|and|or|instead of|over|compared to) (?:the )?([a-z0-9][a-z0-9-]*)")
MISATTRIBUTED_WORDS = 2  # another term's own words a clause must give a term before it counts as a mix-up
RENAMED_MARK = "\u2060"  # an invisible word joiner after a renamed formula: no token, and findable again

Leads = list[tuple[set[str], str]]  # per compared lead term: (its distinctive stems, its name)


# ---- the compared terms ---------------------------------------------------------------------------
def compared_terms(card: Card, points: list[KeyPoint]) -> dict[str, int]:
    """The card's compared things (bold leads like MSE / MAE / Huber) as one more contrast axis: stem -> pole."""
    leads: list[set[str]] = []
    for point in points:
        if point.lead and is_compared_term(point.lead, card.question):
            stems = {stem(w) for w in tokens(point.lead) if w not in STOPWORDS}
            if stems and stems not in leads:
                leads.append(stems)
    if len(leads) < 2:
        leads = _question_comparison(card.question)
    if len(leads) < 2:
        return {}
    shared = set.intersection(*leads) if leads else set()
    compared: dict[str, int] = {}
    for pole, stems in enumerate(leads):
        for s in stems - shared:
            if not any(stem(w) == s for w in antonym_lexicon()):
                compared.setdefault(s, pole)
    return compared


def _question_comparison(question: str) -> list[set[str]]:
    """Things a question sets against each other: "MSE and MAE", "Huber loss instead of MSE"."""
    text = " ".join(tokens(question))
    found: list[set[str]] = []
    for match in COMPARISON_RE.finditer(text):
        for word in match.groups():
            if is_content_word(word, GENERIC) and {stem(word)} not in found:
                found.append({stem(word)})
    return found


def _lead_poles(card: Card, points: list[KeyPoint]) -> Leads:
    """The card's compared lead terms ("Forward KL", "Reverse KL") as (distinctive stems, name)."""
    leads: Leads = []
    for point in points:
        if point.lead and is_compared_term(point.lead, card.question):
            stems = {stem(w) for w in tokens(point.lead) if w not in STOPWORDS}
            if stems and all(stems != known for known, _ in leads):
                leads.append((stems, plain_text(point.lead)))
    shared = set.intersection(*(stems for stems, _ in leads)) if leads else set()
    return [(stems - shared, name) for stems, name in leads if stems - shared]


def _pole_of(words: list[str], leads: Leads) -> int | None:
    """The lead term the words name: the one most of them belong to ("td 0" is TD(0), not TD(lambda))."""
    stems = {stem(w) for w in words}
    hits = sorted(((len(stems & lead), i) for i, (lead, _) in enumerate(leads) if stems & lead), reverse=True)
    if not hits or (len(hits) > 1 and hits[0][0] == hits[1][0]):
        return None
    return hits[0][1]


# ---- misattribution: one term given another's words -----------------------------------------------
def distinctive_words(card: Card, points: list[KeyPoint]) -> tuple[Leads, list[set[str]]]:
    """Per compared lead term, the content words the card says under it (C51: atoms, probabilities;
    QR-DQN: quantiles, locations)."""
    leads = _lead_poles(card, points)
    if len(leads) < 2:
        return leads, []
    skip = content_stems(card.question) | set().union(*(stems for stems, _ in leads))
    words: list[set[str]] = [set() for _ in leads]
    for point in points:
        pole = _pole_of(tokens(point.lead), leads) if point.lead and point.kind == "claim" else None
        if pole is not None:
            words[pole] |= {w for w in content_stems(claim_body(point)) if w not in skip and w not in antonym_lexicon()}
    return leads, words


def misattributed(leads: Leads, distinctive: list[set[str]], clause: str) -> bool:
    """A clause that gives one compared term at least two things the card says only of another
    ("C51 uses fixed quantiles and learns atom locations"), and nothing of its own."""
    words = tokens(clause)
    own: dict[int, set[str]] = {}
    foreign: dict[int, set[str]] = {}
    subject = None
    for i, word in enumerate(words):
        pole = _pole_of([word], leads)
        if pole is not None and not (i > 0 and words[i - 1] == "than"):
            subject = pole
            continue
        if subject is None:
            continue
        s = stem(word)
        others = [d for j, d in enumerate(distinctive) if j != subject]
        if s in distinctive[subject] and not any(s in d for d in others):
            own.setdefault(subject, set()).add(s)
        elif s not in distinctive[subject] and any(s in d for d in others):
            foreign.setdefault(subject, set()).add(s)
    named = {p for w in words if (p := _pole_of([w], leads)) is not None}
    if len(named) != 1:  # "Huber is MSE near zero and MAE in the tails" relates terms; it gives none another's words
        return False
    return any(len(found) >= MISATTRIBUTED_WORDS and not own.get(pole) for pole, found in foreign.items())


# ---- ordered formula arguments: KL(p||q) vs KL(q||p) ----------------------------------------------
def _pair_poles(card: Card, points: list[KeyPoint]) -> dict[str, int]:
    """Ordered formula arguments the card ties to one compared term: {"pq": forward, "qp": reverse}."""
    leads = _lead_poles(card, points)
    ties: dict[str, set[int]] = {}
    for point in points:
        pole = _pole_of(tokens(point.lead), leads) if point.lead else None
        if pole is None:
            continue
        for _, pair in relations.ordered_pairs(point.text):
            ties.setdefault(pair, set()).add(pole)
    return {pair: next(iter(poles)) for pair, poles in ties.items() if len(poles) == 1 and pair[::-1] in ties}


def resolve_ordered_pairs(card: Card, points: list[KeyPoint], answer: str) -> tuple[str, list[str], dict[str, str]]:
    """Write KL(q||p) as the card's name for that order ("Reverse KL"), so attribute checks see it; and
    flag "Forward KL is KL(q||p)": a name set equal to the other order.

    Returns the renamed answer, the flagged clauses, and name -> the formula the student wrote."""
    poles = _pair_poles(card, points)
    if not poles:
        return answer, [], {}
    leads = _lead_poles(card, points)
    names = {i: name for i, (_, name) in enumerate(leads)}
    clashes = _pair_clashes(answer, poles, leads)
    pattern = re.compile(r"(?:\b(?:D|KL|D_?\{?(?:\\text\{)?KL\}?\}?)\s*)?" + relations.ORDERED_PAIR_RE.pattern, re.I)

    def rename(match: re.Match[str]) -> str:
        pair = (match.group(1) + match.group(2)).lower()
        if pair in poles and poles[pair] in names:
            written[names[poles[pair]]] = match.group(0).strip()
            return f" {names[poles[pair]]}{RENAMED_MARK} "
        return match.group(0)

    written: dict[str, str] = {}
    renamed = pattern.sub(rename, answer)
    return renamed, clashes, written


def _pair_clashes(answer: str, poles: dict[str, int], leads: Leads) -> list[str]:
    """Clauses that set a compared term equal to the order the card gives the other ("Forward KL is KL(q||p)")."""
    clashes = []
    for clause in split_clauses(answer):
        for start, pair in relations.ordered_pairs(clause):
            before = tokens(clause[:start])[-4:]
            named = [p for p in (_pole_of([w], leads) for w in before) if p is not None]
            if pair in poles and named and named[-1] != poles[pair] and any(w in ("is", "are", "means", "equals") for w in before):
                if clause.strip() not in clashes:
                    clashes.append(clause.strip())
    return clashes


def as_written(clause: str, written: dict[str, str]) -> str:
    """A flagged clause of the renamed answer, shown with the formula the student wrote."""
    for name, original in written.items():
        clause = clause.replace(f"{name}{RENAMED_MARK}", original)
    return re.sub(r"\s+", " ", clause).strip()
