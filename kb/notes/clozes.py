"""Cloze deletions in note text: `==highlight==` (Obsidian Spaced Repetition), `{{c1::text::hint}}`
(Anki style) and `{{cloze text}}` (Logseq), each turned into one card per deletion.

A card hides one deletion as `[...]` (or `[hint]`) and shows the others as plain text; its answer is
the whole text with the hidden deletion in bold. Anki-style numbers group deletions: every `c1` is
hidden on the same card.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

HIGHLIGHT_RE = re.compile(r"==(?=\S)(.+?)(?<=\S)==")
ANKI_CLOZE_RE = re.compile(r"\{\{c(\d{1,3})::(.*?)(?:::(.*?))?\}\}", re.DOTALL)
LOGSEQ_CLOZE_RE = re.compile(r"\{\{cloze\s+(.*?)\}\}", re.DOTALL)
UNCLOSED_ANKI_RE = re.compile(r"\{\{c\d{1,3}::|\{\{cloze\s")


@dataclass
class Deletion:
    start: int  # offsets in the text, the markup included
    end: int
    text: str  # what is hidden
    group: int  # deletions of one group are hidden together
    hint: str = ""


def find_deletions(text: str, masked: str, syntax: str) -> list[Deletion]:
    """Deletions in `text`; `masked` is the same text with code, math and URLs blanked out, so a
    `==` or `{{` inside them is never a cloze. `syntax`: "highlight", "anki" or "logseq"."""
    found: list[Deletion] = []
    if syntax == "highlight":
        for n, m in enumerate(HIGHLIGHT_RE.finditer(masked), start=1):
            found.append(Deletion(m.start(), m.end(), text[m.start(1) : m.end(1)], n))
    elif syntax == "anki":
        for m in ANKI_CLOZE_RE.finditer(masked):
            found.append(Deletion(m.start(), m.end(), text[m.start(2) : m.end(2)], int(m.group(1)), (m.group(3) or "").strip()))
    else:
        for n, m in enumerate(LOGSEQ_CLOZE_RE.finditer(masked), start=1):
            found.append(Deletion(m.start(), m.end(), text[m.start(1) : m.end(1)].strip(), n))
    return found


def unclosed(masked: str, syntax: str) -> bool:
    """Is there an opening cloze mark with no closing one (a `==` left over, a `{{c1::` with no `}}`)?"""
    if syntax == "highlight":
        return "==" in HIGHLIGHT_RE.sub("", masked)
    pattern = ANKI_CLOZE_RE if syntax == "anki" else LOGSEQ_CLOZE_RE
    return bool(UNCLOSED_ANKI_RE.search(pattern.sub("", masked)))


def cloze_cards(text: str, deletions: list[Deletion]) -> list[tuple[str, str]]:
    """(question, answer) per deletion group, in the order the groups first appear."""
    cards = []
    for group in dict.fromkeys(d.group for d in deletions):
        question, answer, pos = [], [], 0
        for d in deletions:
            question.append(text[pos : d.start])
            answer.append(text[pos : d.start])
            if d.group == group:
                question.append(f"[{d.hint or '...'}]")
                answer.append(f"**{d.text}**")
            else:
                question.append(d.text)
                answer.append(d.text)
            pos = d.end
        question.append(text[pos:])
        answer.append(text[pos:])
        cards.append(("".join(question), "".join(answer)))
    return cards
