"""The antonym lexicon the contradiction checks read: each contrasting word's (axis, pole)s, each axis's
number of poles, and which comparatives only modify the word after them."""
from __future__ import annotations

import functools

from kb.vocab import Vocabulary, current_vocabulary

# An antonym axis (an index into the vocabulary's axes), or "compared": the card's own compared terms.
Axis = int | str
Lexicon = dict[str, tuple[tuple[int, int], ...]]  # word -> its (axis, pole)s


def antonym_lexicon() -> Lexicon:
    """word -> its (axis, pole)s ("lower" is both less and the opposite of upper), from the vocabulary in use.

    Exact word forms: stems would merge "bias" (a noun) with "biased"."""
    return _lexicon(current_vocabulary())


def axis_sizes() -> dict[Axis, int]:
    """axis -> how many poles it has (most have two; a negation flips only those)."""
    return _axis_sizes(current_vocabulary())


@functools.lru_cache(maxsize=8)
def _lexicon(vocabulary: Vocabulary) -> Lexicon:
    lexicon: Lexicon = {}
    for axis, poles in enumerate(vocabulary.antonym_axes):
        for pole, words in enumerate(poles):
            for word in words:
                if (axis, pole) not in lexicon.get(word, ()):
                    lexicon[word] = lexicon.get(word, ()) + ((axis, pole),)
    return lexicon


@functools.lru_cache(maxsize=8)
def _axis_sizes(vocabulary: Vocabulary) -> dict[Axis, int]:
    sizes: dict[Axis, int] = {}
    for polarities in _lexicon(vocabulary).values():
        for axis, pole in polarities:
            sizes[axis] = max(sizes.get(axis, 0), pole + 1)
    return sizes


def is_modifier(toks: list[str], pos: int, lexicon: Lexicon) -> bool:
    """"more robust", "less stable": a comparative in front of an adjective is not itself an attribute."""
    if toks[pos] not in ("more", "less", "much", "very") or pos + 1 >= len(toks):
        return False
    following = toks[pos + 1]
    return following in lexicon or following.endswith(("ive", "ful", "able", "ible", "ous", "al", "ent", "ant", "ic", "ed"))
