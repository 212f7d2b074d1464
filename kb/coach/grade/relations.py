"""Directional relations the grader checks beyond single attributes (read by relation_clashes.py).

Sentence embeddings score "A is faster than B" and "B is faster than A" alike, and an answer that
waves a topic away ("X has nothing to do with Y") still shares the card's words. Three general,
pattern-based checks, none keyed to one card:

- comparatives: "A is more/less X than B", "A is simpler than B", read as (A, axis, direction, B);
  an answer that reverses the direction, or swaps A and B, contradicts the card;
- ordered arguments written as formulas, KL(p||q) vs KL(q||p): the card ties each order to one of its
  compared terms (Forward KL / Reverse KL); an answer that ties it to the other one contradicts it;
- dismissals: "unrelated", "has nothing to do with", "doesn't matter" said about something the card
  asks about or explains, when the card never dismisses it.
"""
from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from kb.coach.grade.antonyms import antonym_lexicon, axis_sizes
from kb.coach.grade.text import GENERIC, stem, tokens, words_after_negation
from kb.vocab import NEGATIONS, is_content_word

COMPARATIVE_WINDOW = 6  # tokens before "than" that may hold the comparative ("much more sample efficient than")
ENTITY_WORDS = 3  # content words after "than" that name the other side
LESS_WORDS = frozenset({"less", "fewer"})
MORE_WORDS = frozenset({"more"})
DISMISSAL_RE = re.compile(
    r"\b(?:nothing to do with|unrelated|not related|no relation|no connection|not connected|says nothing about|"
    r"irrelevant|unimportant|(?:does ?n[o']?t|do ?n[o']?t) (?:really )?matter|no bearing)\b", re.I)
# A pair of single-letter arguments: (p || q), (p \| q), D(q‖p), "p | q" once LaTeX is spelt out.
ORDERED_PAIR_RE = re.compile(r"\(\s*([a-z])(?:_?[a-z0-9]{0,3})?\s*(?:\\\||\|\||\u2016|\|)\s*([a-z])(?:_?[a-z0-9]{0,3})?\s*\)", re.I)


RelationAxis = int | tuple[str, str]  # an antonym axis, or ("word", stem) for an attribute outside the lexicon
RolePairs = dict[tuple[str, str], frozenset[str]]  # (role a, role b) -> the verbs linking a to b
Superlative = tuple[frozenset[str], RelationAxis, int]  # (subject stems, axis, +1/-1)


@dataclass(frozen=True)
class Comparison:
    left: frozenset[str]  # stems of the thing compared ("sac")
    axis: RelationAxis
    direction: int  # +1 more / -1 less
    right: frozenset[str]  # stems of what it is compared with ("ppo")


def _content(words: list[str]) -> list[str]:
    lexicon = antonym_lexicon()
    return [w for w in words if is_content_word(w, GENERIC, lexicon, ("than",), min_length=2)]


def _direction_of(words: list[str]) -> tuple[RelationAxis, int] | None:
    """The comparative just before "than": (axis, +1/-1), or None when there is none."""
    lexicon = antonym_lexicon()
    sizes = axis_sizes()
    for pos in range(len(words) - 1, -1, -1):  # the comparative nearest to "than" speaks for it
        word = words[pos]
        polarities = [p for p in lexicon.get(word, ()) if sizes.get(p[0], 2) == 2]
        if word in MORE_WORDS or word in LESS_WORDS:
            sign = 1 if word in MORE_WORDS else -1
            after = words[pos + 1 :]
            for follower in reversed(after):  # "more sample efficient": the attribute is the last word
                follower_pol = [p for p in lexicon.get(follower, ()) if sizes.get(p[0], 2) == 2]
                if follower_pol:
                    axis, pole = follower_pol[0]
                    return axis, sign * (1 if pole == 0 else -1)
            if after:
                return ("word", stem(after[-1])), sign
            if pos > 0:  # "matters more than"
                return ("word", stem(words[pos - 1])), sign
            return None
        if polarities and word not in ("high", "low", "large", "small"):
            axis, pole = polarities[0]
            if word.endswith(("er", "ier")) or word in ("better", "worse", "more", "less"):
                return axis, 1 if pole == 0 else -1
    return None


def comparisons(clause: str, implicit_subject: frozenset[str] = frozenset()) -> list[Comparison]:
    """Every "A ... -er than B" in a clause; A defaults to `implicit_subject` (the card's lead or question)."""
    words = tokens(clause)
    out: list[Comparison] = []
    for pos, word in enumerate(words):
        if word != "than":
            continue
        window = words[max(0, pos - COMPARATIVE_WINDOW) : pos]
        found = _direction_of(window)
        if found is None:
            continue
        axis, direction = found
        start = max(0, pos - COMPARATIVE_WINDOW)
        comparative_at = next((start + i for i, w in enumerate(window) if w in MORE_WORDS | LESS_WORDS or w in antonym_lexicon()), pos)
        left = {stem(w) for w in _content(words[:comparative_at])} or set(implicit_subject)
        right = {stem(w) for w in _content(words[pos + 1 :])[:ENTITY_WORDS]}
        shared = left & right
        left, right = left - shared, right - shared
        if left and right:
            out.append(Comparison(frozenset(left), axis, direction, frozenset(right)))
    return out


def clashing_comparison(card_side: list[Comparison], answer_side: list[Comparison]) -> bool:
    """The answer reverses a comparison the card makes, or swaps its two sides."""
    for said in answer_side:
        for known in card_side:
            if said.axis != known.axis:
                continue
            same_order = bool(said.left & known.left) and bool(said.right & known.right)
            swapped = bool(said.left & known.right) and bool(said.right & known.left)
            if same_order and not swapped and said.direction != known.direction:
                return True
            if swapped and not same_order and said.direction == known.direction:
                return True
    return False


def ordered_pairs(text: str) -> list[tuple[int, str]]:
    """(character position, "pq") for each ordered pair of single-letter arguments."""
    return [(m.start(), (m.group(1) + m.group(2)).lower()) for m in ORDERED_PAIR_RE.finditer(text)]


def dismisses(clause: str) -> bool:
    return bool(DISMISSAL_RE.search(clause))


ROLE_GAP = 3  # content words allowed between two roles of one relation ("student [to match] teacher")
ROLE_SEPARATORS = frozenset("and or vs versus than by from with like between both nor each".split())
DENIERS = frozenset("no without never".split())
DENIAL_SKIP = frozenset("a an the any separate separately explicit extra real single need for of".split())


def role_pairs(words: list[str], roles: set[str]) -> RolePairs:
    """(a, b) -> the verbs linking them, for roles a then b joined by a short run of words with a verb
    and no separator between them: "student [to match] teacher" is (student, teacher) via match."""
    pairs: RolePairs = {}
    positions = [(i, stem(w)) for i, w in enumerate(words) if stem(w) in roles]
    for n, (i, a) in enumerate(positions):
        for j, b in positions[n + 1 :]:
            if j - i > ROLE_GAP + 4:
                break  # positions are in order: nothing further can be linked to a
            between = words[i + 1 : j]
            if a == b or any(w in ROLE_SEPARATORS for w in between) or any("'" in w for w in between):
                continue
            linking = _content(between)
            verbs = {stem(words[k]) for k in range(i + 1, j) if _verbish(words, k)}
            if linking and verbs and len(linking) <= ROLE_GAP and j - i <= ROLE_GAP + 4:
                pairs[(a, b)] = pairs.get((a, b), frozenset()) | verbs
    return pairs


VERB_CUES = frozenset("to is are was were be will must can should does do".split())
DETERMINERS = frozenset("the a an its their his her".split())


def _verbish(words: list[str], k: int) -> bool:
    """A word used as a verb: after "to"/"is"/a modal ("to match", "is trained"), or an -s/-ed form
    followed by a determiner ("teaches the teacher")."""
    if k > 0 and words[k - 1] in VERB_CUES:
        return True
    return words[k].endswith(("s", "ed")) and k + 1 < len(words) and words[k + 1] in DETERMINERS


def swapped_roles(card_pairs: RolePairs, said_pairs: RolePairs) -> bool:
    """The answer links two of the card's roles by the same word in the opposite order
    ("the teacher is trained to match the student" against "train the student to match the teacher")."""
    return any((b, a) in card_pairs and (a, b) not in card_pairs and linking & card_pairs[(b, a)] for (a, b), linking in said_pairs.items())


def denied_terms(words: list[str]) -> set[str]:
    """Stems of the word a "no"/"without"/"never" takes ("with no KL penalty" -> kl)."""
    out: set[str] = set()
    for after in words_after_negation(_pairs_joined(words), lambda w: w in DENIERS or w in DENYING_PAIRS, 5):
        following = [w for w in after if w not in DENIAL_SKIP]
        if following:
            out.add(stem(following[0]))
    return out


DENYING_PAIRS = frozenset({"rather than", "instead of"})  # "the image rather than the noise" denies the noise


def _pairs_joined(words: list[str]) -> list[str]:
    """The words with each denying pair ("rather than") read as one word."""
    out: list[str] = []
    for word in words:
        if out and f"{out[-1]} {word}" in DENYING_PAIRS:
            out[-1] = f"{out[-1]} {word}"
        else:
            out.append(word)
    return out


AFFIRMING_VERBS = frozenset(
    "need needs needed require requires required use uses used using train trains trained rely relies has have keep keeps add adds".split()
)
AFFIRM_WINDOW = 4  # tokens between the verb and the thing it affirms ("needs a separately trained critic")


def affirmed_terms(words: list[str]) -> set[str]:
    """Stems a clause says something needs or uses ("needs a separately trained critic" -> critic),
    unless the clause negates anything."""
    if any(w in NEGATIONS for w in words):
        return set()
    out: set[str] = set()
    for pos, word in enumerate(words):
        if word in AFFIRMING_VERBS:
            out.update(stem(w) for w in words[pos + 1 : pos + 1 + AFFIRM_WINDOW])
    return out


def superlatives(clause: str) -> list[Superlative]:
    """(subject stems, axis, +1/-1) for "X is the most stable option" or "X is the simplest"."""
    lexicon = antonym_lexicon()
    sizes = axis_sizes()
    words = tokens(clause)
    out: list[Superlative] = []
    for pos, word in enumerate(words):
        found: tuple[RelationAxis, int] | None = None
        if word in ("most", "least") and pos + 1 < len(words):
            following = [p for p in lexicon.get(words[pos + 1], ()) if sizes.get(p[0], 2) == 2]
            if following:
                axis, pole = following[0]
                found = axis, (1 if word == "most" else -1) * (1 if pole == 0 else -1)
        elif word.endswith("est") or word in ("best", "worst"):
            polarities = [p for p in lexicon.get(word, ()) if sizes.get(p[0], 2) == 2]
            if polarities:
                axis, pole = polarities[0]
                found = axis, 1 if pole == 0 else -1
        if found:
            subject = frozenset(stem(w) for w in _content(words[:pos]))
            if subject:
                out.append((subject, *found))
    return out


def clashing_superlative(card_side: list[Comparison], answer_side: list[Superlative]) -> bool:
    """The answer calls "most X" the side the card calls less X ("B is the most stable" against "A is more stable than B")."""
    for subject, axis, direction in answer_side:
        for known in card_side:
            if axis != known.axis:
                continue
            on_right, on_left = len(subject & known.right), len(subject & known.left)
            if on_right > on_left and direction == known.direction:
                return True
            if on_left > on_right and direction != known.direction:
                return True
    return False


# "temperature 0.07", "tau = 0.9", "gamma of 2", "the 90th percentile": a number said about a word.
# A number followed by a word counts that word ("2 layers"), and is no value of the word before; the
# lookahead also keeps "0.07 before" from matching as its leading "0".
NUMBER_AFTER_RE = re.compile(r"\b([a-z][a-z-]{2,})\s*(?:=|:|\bof\b|\bis\b|\bat\b|\baround\b|\babout\b)?\s*(\d+(?:\.\d+)?)(?![\d.]\d|\d|\s*[a-z(])", re.I)
NUMBER_BEFORE_RE = re.compile(r"\b(\d+(?:\.\d+)?)(?:th|st|nd|rd)\s+([a-z][a-z-]{2,})\b", re.I)


def numbers_said(text: str, skip: Collection[str]) -> dict[str, set[float]]:
    """word stem -> the numbers the text gives it."""
    out: dict[str, set[float]] = {}
    for word, number in NUMBER_AFTER_RE.findall(text):
        if word.lower() not in skip:
            out.setdefault(stem(word.lower()), set()).add(float(number))
    for number, word in NUMBER_BEFORE_RE.findall(text):
        if word.lower() not in skip:
            out.setdefault(stem(word.lower()), set()).add(float(number))
    return out


def wrong_number(card_numbers: dict[str, set[float]], said: dict[str, set[float]]) -> bool:
    """The answer gives a word of the card a number the card never gives it ("temperature of 10")."""
    return any(word in card_numbers and values - card_numbers[word] for word, values in said.items())
