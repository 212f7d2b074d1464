"""The words of an answer that say a key point: a clause, not the whole sentence.

A spoken answer packs several points into one sentence ("It multiplies cross-entropy by (1-p_t)^gamma,
which shrinks the loss of easy, confidently classified examples so training concentrates on hard
ones"), so the span shown beside a covered point is cut from the sentence that covers it best: the
clause sharing most content words with the point, from its head up to
the next clause boundary after the last shared word ("shrinks the loss of easy, confidently
classified examples")."""
from __future__ import annotations

import re

from kb.coach.grade.text import content_stems, split_clauses

LEAD_SLACK = 6  # shared words starting further into a clause than this start the span themselves
# Words that open what follows a point rather than finish it ("..., so training concentrates").
TAIL_CUTS = frozenset("so because since thus hence therefore and which while whereas".split())


def saying_span(point_stems: set[str], sentence: str) -> str:
    """The part of `sentence` that says the point whose content stems are `point_stems`; the whole
    sentence when no clause shares a word with it (the embedding alone matched it)."""
    clauses = [c.strip() for c in split_clauses(sentence) if c.strip()]
    best, best_key = "", (0, 0)
    for window in clauses:
        shared = len(content_stems(window) & point_stems)
        key = (shared, -len(window.split()))
        if shared and key > best_key:
            best, best_key = window, key
    return _trimmed(best, point_stems) if best else sentence


def _trimmed(clause: str, point_stems: set[str]) -> str:
    words = clause.split()
    matched = [i for i, word in enumerate(words) if content_stems(word) & point_stems]
    if not matched:  # shared only as a phrase the synonym folding reads across words
        return clause.strip(" ,;:")
    start = 0 if matched[0] <= LEAD_SLACK else matched[0]
    end = len(words)
    for j in range(matched[-1] + 1, len(words)):
        if words[j - 1].endswith((",", ";")) or re.sub(r"\W", "", words[j].lower()) in TAIL_CUTS:
            end = j
            break
    return " ".join(words[start:end]).strip(" ,;:")
