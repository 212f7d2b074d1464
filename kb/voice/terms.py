"""The words a transcript should get right: a card's question and bold terms, then the corpus glossary.

Whisper decodes toward text it was prompted with, so passing these as `hotwords` turns "elbow",
"info NC" and "humor loss" into ELBO, InfoNCE and Huber loss. Written as a sentence, not a list: a
list of acronyms as the prompt makes tiny.en hear lists of acronyms (benchmarks/bench_voice.py).
"""
from __future__ import annotations

import re

from kb.notes.cards import Card
from kb.notes.concepts import Glossary, is_bold_label

BOLD_RE = re.compile(r"\*\*([^*\n$]{2,40}?)\*\*")
# Whisper keeps at most 223 prompt tokens; ~4 characters a token, and room for the question.
MAX_PROMPT_CHARS = 600


def _bold_terms(answer_md: str) -> list[str]:
    terms = []
    for raw in BOLD_RE.findall(answer_md or ""):
        term = raw.strip(" :.-—–")
        if term and not is_bold_label(term) and len(term.split()) <= 4:
            terms.append(term)
    return terms


def vocabulary_terms(card: Card | None = None, glossary: Glossary | None = None, whole_glossary: bool = True) -> list[str]:
    """The terms to bias toward, most specific first, no duplicates (case-insensitive): the card's
    glossary concepts (those in its question first) and its bold terms, then (`whole_glossary`) every
    other glossary concept, most mentioned first."""
    found: list[str] = []
    if card is not None:
        if glossary is not None:
            mentions = sorted(glossary.by_card.get(card.id, []), key=lambda m: (not m.in_question, m.position, -m.count))
            found += [glossary.concepts[m.concept].name for m in mentions if m.concept in glossary.concepts]
        found += _bold_terms(card.answer_md)
    if glossary is not None and (whole_glossary or card is None):
        found += [c.name for c in sorted(glossary.concepts.values(), key=lambda c: (-len(c.mentions), c.name.lower()))]
    seen: set[str] = set()
    terms = []
    for term in found:
        if term.lower() not in seen:
            seen.add(term.lower())
            terms.append(term)
    return terms


def decoder_prompt(terms: list[str], question: str | None = None, max_chars: int = MAX_PROMPT_CHARS) -> str:
    """The question (when there is one) and the terms as a sentence ("..., InfoNCE and Huber."), cut to fit
    Whisper's prompt. A sentence, not a bare list: a list prompt makes Whisper transcribe in lists."""
    head = (question or "").strip()
    kept: list[str] = []
    for term in terms:
        if len(head) + sum(len(t) + 2 for t in kept + [term]) + 5 > max_chars:
            break
        kept.append(term)
    if not kept:
        return head
    listed = kept[0] if len(kept) == 1 else ", ".join(kept[:-1]) + " and " + kept[-1]
    return f"{head} {listed}.".strip()
