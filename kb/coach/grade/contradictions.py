"""Attribute contradictions: answer clauses that attach the opposite attribute (antonym lexicon, or
another of the card's compared terms) to something the card describes ("MAE predicts the mean")."""
from __future__ import annotations

from kb.coach.grade.antonyms import Axis, antonym_lexicon, axis_sizes, is_modifier
from kb.coach.grade.compared import compared_terms
from kb.coach.grade.points import KeyPoint
from kb.coach.grade.text import GENERIC, content_stems, split_clauses, split_sentences, stem, tokens
from kb.notes.cards import Card
from kb.vocab import NEGATIONS, STOPWORDS, is_content_word

ANCHOR_WINDOW = 8  # tokens between an attribute and a word it can be about
NEAR_WINDOW = 2  # an attribute this close to a word is surely about it ("biased estimate", "variance is low")
LESS_MODIFIERS = frozenset({"less", "fewer"})
LEVEL_WORDS = frozenset({"low", "high"})  # "low-entropy", "high-variance": an attribute of the word they join
PREPOSITIONS = frozenset("to on from for of in at by into onto".split())

Fact = tuple[str, Axis, int]  # (anchor, axis, pole): the attribute `pole` of `axis` is said of `anchor`
Polarities = tuple[tuple[Axis, int], ...]  # a word's (axis, pole)s; () for a plain word
Item = tuple[int, str, Polarities]  # (position, stem, polarities) of a clause word
CardFacts = dict[tuple[str, Axis], dict[int, set[int]]]  # (anchor, axis) -> pole -> the claims that say it


def contradictions(card: Card, points: list[KeyPoint], answer: str, compared: dict[str, int] | None = None) -> list[tuple[str, set[int], bool]]:
    """(clause, the points it contradicts, whether a clash is between the card's own compared terms)
    for each answer clause that attaches to an entity the opposite of what the card says; `compared`
    is the card's compared terms when already worked out."""
    compared = compared_terms(card, points) if compared is None else compared
    sizes: dict[Axis, int] = {**axis_sizes(), "compared": max(2, len(set(compared.values())) or 2)}
    card_facts = _card_facts(points, compared, sizes)
    # A clash about a named thing (a compared term, a word of the question or of a lead) or about the
    # word right beside the attribute counts at once; a clash about a word further off needs a second one.
    named = set(compared) | content_stems(card.question) | {stem(w) for p in points for w in tokens(p.lead)}
    found: list[tuple[str, set[int], bool]] = []
    for clause in _answer_clauses(answer, compared):
        on_compared: list[bool] = []
        conflicting = _contradicted_points(clause, compared, sizes, card_facts, named, on_compared)
        if conflicting:
            found.append((clause.strip(), conflicting, any(on_compared)))
    return found


def _card_facts(points: list[KeyPoint], compared: dict[str, int], sizes: dict[Axis, int]) -> CardFacts:
    """(anchor, axis) -> pole -> the claims that say it, over all of the card's claims (read leniently)."""
    card_facts: CardFacts = {}
    for index, point in enumerate(points):
        if point.kind != "claim":
            continue
        for clause in split_clauses(point.plain):
            for anchor, axis, pole in _facts(clause, compared, sizes, lead=point.lead, strict=False):
                card_facts.setdefault((anchor, axis), {}).setdefault(pole, set()).add(index)
    return card_facts


def _contradicted_points(clause: str, compared: dict[str, int], sizes: dict[Axis, int], card_facts: CardFacts, named: set[str],
                         on_compared: list[bool]) -> set[int]:
    """The card's points an answer clause contradicts: one clash about a named or adjacent word, or two
    about other words; else none."""
    conflicting: set[int] = set()
    strong, weak = 0, set()
    near: set[Fact] = set()
    for anchor, axis, pole in _facts(clause, compared, sizes, near=near):
        poles = card_facts.get((anchor, axis))
        if poles and pole not in poles:
            on_compared.append(axis == "compared")
            if axis == "compared" or anchor in named or (anchor, axis, pole) in near:
                strong += 1
            else:
                weak.add(anchor)
            for other in poles.values():
                conflicting |= other
    return conflicting if strong or len(weak) >= 2 else set()


def _answer_clauses(answer: str, compared: dict[str, int]) -> list[str]:
    """Clauses of an answer; a clause with no compared term inherits the last one named before it in
    the sentence ("hinge keeps a gradient, and it gives probabilities": "it" is still hinge)."""
    lexicon = antonym_lexicon()
    out: list[str] = []
    for sentence in split_sentences(answer):
        subject = ""
        clauses = split_clauses(sentence)
        first = next((w for w in tokens(clauses[0]) if is_content_word(w, GENERIC, lexicon)), "") if clauses else ""
        for clause in clauses:
            words = tokens(clause)
            named = [w for i, w in enumerate(words) if stem(w) in compared and not (i > 0 and words[i - 1] == "than")]
            if named:
                subject = named[-1]
            elif subject:
                clause = f"{subject} {clause}"
            elif first and not any(is_content_word(w, GENERIC, lexicon) for w in words):
                clause = f"{first} {clause}"  # "..., which is biased": about the sentence's subject
            out.append(clause)
    return out


# ---- reading one clause's facts --------------------------------------------------------------------
def _facts(clause: str, compared: dict[str, int], sizes: dict[Axis, int], lead: str = "", strict: bool = True,
           near: set[Fact] | None = None) -> set[Fact]:
    """(anchor, axis, pole) triples: a contrasting attribute and the words it is said about.

    Compared terms (the card's MSE / MAE / Huber) form one more axis whose anchors are the attribute
    words near them: an attribute belongs to the nearest compared term before it. The card (not
    strict) also gives it to the claim's lead term, so only a clear mismatch counts as a contradiction.
    `near` collects the facts whose word sits right beside the attribute ("biased estimate").
    """
    toks = tokens(clause)
    items, compound = _clause_items(toks, compared)
    lead_poles = {compared[stem(w)] for w in tokens(lead) if stem(w) in compared}
    if lead and not strict:  # the card's lead term is what every clause under it speaks about
        items.extend((-1, stem(w), ()) for w in tokens(lead) if w not in STOPWORDS and stem(w) not in compared)
    entities = _subject_entities(toks, items)
    facts: set[Fact] = set()
    for pos, attribute, polarities in items:
        if not polarities or polarities[0][0] == "compared":
            continue
        negated = _is_negated_at(toks, pos)
        of_object = strict and _describes_object(toks, items, entities, pos)
        noun = next((s for p, s, pol in items if p > pos and not pol), None) if pos >= 0 else None
        described = _described_entities(entities, pos, lead_poles, strict) if compared and not negated and not of_object else set()
        for axis, pole in polarities:
            if negated:
                if sizes.get(axis, 2) != 2:
                    continue
                pole = 1 - pole
            facts |= _anchor_facts(items, pos, axis, pole, of_object, strict, near)
            for entity in described:
                facts.add((attribute, "compared", entity))
                if noun:  # "high variance" is one attribute; "high bias" another
                    facts.add((f"{axis}/{pole}/{noun}", "compared", entity))
    facts |= compound
    if near is not None:
        near |= compound
    return _one_pole_each(facts) if strict else facts


def _clause_items(toks: list[str], compared: dict[str, int]) -> tuple[list[Item], set[Fact]]:
    """The clause's words as (position, stem, polarities): the lexicon's (axis, pole)s for an attribute,
    (("compared", pole),) for a compared term, () for a plain content word; and the facts said inside
    one hyphenated word ("low-entropy")."""
    lexicon = antonym_lexicon()
    items: list[Item] = []
    compound: set[Fact] = set()
    for pos, tok in enumerate(toks):
        if tok in lexicon:
            if not is_modifier(toks, pos, lexicon):
                items.append((pos, stem(tok), lexicon[tok]))
            continue
        parts = tok.split("-") if "-" in tok else [tok]
        if len(parts) == 2 and parts[0] in LEVEL_WORDS and parts[1] not in lexicon and stem(parts[1]) not in compared:
            # "low-entropy policies" is one thing: "penalizes" is about it, not about entropy
            items.append((pos, stem(tok), ()))
            compound.update((stem(parts[1]), axis, pole) for axis, pole in lexicon[parts[0]])
            continue
        for part in parts:
            part_stem = stem(part)
            if part_stem in compared:
                items.append((pos, part_stem, (("compared", compared[part_stem]),)))
            elif part in lexicon:
                if not is_modifier(toks, pos, lexicon):
                    items.append((pos, part_stem, lexicon[part]))
            elif is_content_word(part, GENERIC, min_length=2):
                items.append((pos, part_stem, ()))
    return items, compound


def _subject_entities(toks: list[str], items: list[Item]) -> list[tuple[int, int]]:
    """(position, pole) of each compared term the clause speaks about.

    A term right after "than" is the yardstick, not the subject ("SAC is more efficient than PPO, so it suits ...")."""
    return [(p, pol[0][1]) for p, _, pol in items if pol and pol[0][0] == "compared" and not (p > 0 and toks[p - 1] == "than")]


def _is_negated_at(toks: list[str], pos: int) -> bool:
    """A negation up to three words before the attribute; "less"/"fewer" right before it flips it once more."""
    negated = any(t in NEGATIONS for t in toks[max(0, pos - 3) : pos])
    if pos > 0 and toks[pos - 1] in LESS_MODIFIERS:  # "less stable" says the opposite of "stable"
        negated = not negated
    return negated


def _describes_object(toks: list[str], items: list[Item], entities: list[tuple[int, int]], pos: int) -> bool:
    """"Huber is more robust to large errors": after a preposition, with an attribute already said
    before it, "large" describes the errors, not Huber."""
    subject_at = max((p for p, _ in entities if p < pos), default=-1)
    return pos > 0 and toks[pos - 1] in PREPOSITIONS and any(
        subject_at < p < pos - 1 and pol and pol[0][0] != "compared" for p, _, pol in items)


def _described_entities(entities: list[tuple[int, int]], pos: int, lead_poles: set[int], strict: bool) -> set[int]:
    """The compared terms an attribute at `pos` is said of: the nearest named before it (else the first
    named after it); the card (not strict) also gives it to the claim's lead term."""
    before = [e for e in entities if e[0] < pos]
    chosen = {before[-1][1]} if before else ({entities[0][1]} if entities else set())
    if not strict:
        chosen |= lead_poles
    return chosen


def _anchor_facts(items: list[Item], pos: int, axis: Axis, pole: int, of_object: bool, strict: bool, near: set[Fact] | None) -> set[Fact]:
    """The attribute (axis, pole) at `pos` said of each word near it; those right beside it also go to `near`."""
    facts: set[Fact] = set()
    for other_pos, other_stem, other_pol in items:
        if other_pos == pos or any(a == axis for a, _ in other_pol):
            continue
        if other_pos >= 0 and abs(other_pos - pos) > ANCHOR_WINDOW:
            continue  # an attribute speaks about the words near it, not the whole clause
        if of_object and other_pos < pos:
            continue
        if strict and other_pol and not _nearest_of_its_axis(items, other_pos, other_pol, pos):
            continue  # "forward is seeking and reverse is covering": pair each attribute with its own subject
        facts.add((other_stem, axis, pole))
        if near is not None and other_pos >= 0 and abs(other_pos - pos) <= NEAR_WINDOW:
            near.add((other_stem, axis, pole))
    return facts


def _nearest_of_its_axis(items: list[Item], other_pos: int, other_pol: Polarities, pos: int) -> bool:
    """When a clause names several poles of one axis, only the nearest one before `pos` (else after) speaks for it."""
    axis = other_pol[0][0]
    same_axis = [(p, pol) for p, _, pol in items if pol and pol[0][0] == axis]
    if len({pol[0][1] for _, pol in same_axis}) < 2:
        return True
    before = [p for p, _ in same_axis if p < pos]
    nearest = max(before) if before else min(p for p, _ in same_axis if p > pos)
    return other_pos == nearest


def _one_pole_each(facts: set[Fact]) -> set[Fact]:
    """Drop the facts of an anchor given both poles of one axis ("less bias, more variance" is not read)."""
    poles: dict[tuple[str, Axis], set[int]] = {}
    for anchor, axis, pole in facts:
        poles.setdefault((anchor, axis), set()).add(pole)
    return {f for f in facts if len(poles[(f[0], f[1])]) == 1}
