"""Known wrong answers that a note lists under a card: negative references for the grader.

Written inside a card's answer as a line (or list item) starting with `Wrong:`, `Common mistake:`,
`Pitfall:` or `Misconception:` (bold or not), or as an Obsidian callout `> [!failure]` /
`> [!warning]` (and their aliases fail, missing, caution, attention). They stay in the answer that
the app shows, but they are not key points of it: an answer that says one of them scores low and
is told which.
"""
from __future__ import annotations

import re

MARKER_RE = re.compile(
    r"^\s*(?:[-*+]\s+)?(?:\*\*|__)?\s*(?:wrong|common mistakes?|pitfalls?|misconceptions?)\s*:\s*(?:\*\*|__)?\s*(?:\*\*|__)?\s*(.*)$", re.IGNORECASE
)
CALLOUT_RE = re.compile(r"^\s*>\s*\[!(?:failure|fail|missing|warning|caution|attention)\][+-]?\s*(.*)$", re.IGNORECASE)
QUOTE_RE = re.compile(r"^\s*>\s?(.*)$")


def split_misconceptions(answer_md: str) -> tuple[str, list[str]]:
    """(the answer without its misconception blocks, each misconception's text). A block runs from its
    marker line to the next blank line (a callout: to the end of the quote)."""
    kept: list[str] = []
    found: list[str] = []
    lines = answer_md.split("\n")
    i = 0
    while i < len(lines):
        marker, callout = MARKER_RE.match(lines[i]), CALLOUT_RE.match(lines[i])
        opening = marker or callout
        if opening is None:
            kept.append(lines[i])
            i += 1
            continue
        title = opening.group(1).strip()
        parts = [] if callout else [title]
        i += 1
        while i < len(lines) and lines[i].strip() and not MARKER_RE.match(lines[i]) and not CALLOUT_RE.match(lines[i]):
            line = lines[i]
            if callout:
                quoted = QUOTE_RE.match(line)
                if not quoted:
                    break
                line = quoted.group(1)
            parts.append(line.strip())
            i += 1
        text = " ".join(p for p in parts if p) or (title if callout else "")  # a callout's title says it when it has no body
        if text:
            found.append(text)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept), found
