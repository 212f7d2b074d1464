"""`kb build --explain NOTE`: every line of one note that could be a question, and what became of it.

The candidates are every heading, every line ending in "?", every bold line, every `::` line and every
`#card` block (code included, so a reader sees why a line in a code fence is no card). Each became a
card (with its family), or gets the reason it did not.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kb.notes.cards import Card
from kb.notes.corpus import note_syntax, parse_note_file
from kb.notes.flashcards import mask
from kb.notes.logseq import CARD_TAG_RE
from kb.notes.markdown import inline_to_text, parser
from kb.notes.note_parse import HeadingRole, NoteParse, non_text_lines
from kb.notes.problems import Problem

HEADING_LINE_RE = re.compile(r"^\s{0,3}#{1,6}\s+\S")
BOLD_LINE_RE = re.compile(r"^\s*(?:[-*+]\s+)?(\*\*|__)(?=\S).+?\1\s*\S{0,3}\s*$")
SHOWN = 100  # characters of a candidate line shown


@dataclass
class Candidate:
    line: int  # 1-based
    text: str  # the line as written, cut to SHOWN characters
    shapes: list[str]  # heading, ends in '?', bold line, '::' line, #card block
    cards: list[dict[str, str]] = field(default_factory=list)  # {"id", "question", "family"} of the cards it became
    reason: str | None = None  # why it is no card


@dataclass
class Explanation:
    note: str
    syntax: str  # "markdown" or "logseq"
    flashcard_note: bool
    cards: int
    candidates: list[Candidate]
    problems: list[Problem]

    def to_dict(self) -> dict[str, Any]:  # JSON-ready
        data = asdict(self)
        data["problems"] = [{"line": p.line, "message": p.message, "kind": p.kind} for p in self.problems]
        return data


def explain_note(corpus: Path, note: str, max_bytes: int = 20 * 1024 * 1024) -> Explanation:
    """Parse one note of the corpus and account for every candidate line."""
    parsed, _ = parse_note_file(corpus, note, max_bytes)
    syntax = note_syntax(corpus, note)
    try:
        text = (corpus / note).read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    except OSError:
        text = ""
    if len(text.encode("utf-8")) > max_bytes:
        text = ""
    lines = text.split("\n")
    candidates = _candidates(lines, syntax)
    _account(candidates, lines, parsed, syntax)
    return Explanation(note, syntax, parsed.flashcard_note, len(parsed.cards), candidates, parsed.problems)


def _candidates(lines: list[str], syntax: str) -> list[Candidate]:
    found = []
    for i, raw in enumerate(lines):
        shapes = []
        stripped = raw.strip()
        if syntax == "logseq":
            if CARD_TAG_RE.search(raw):
                shapes.append("#card block")
        else:
            if HEADING_LINE_RE.match(raw):
                shapes.append("heading")
            if BOLD_LINE_RE.match(raw):
                shapes.append("bold line")
            if "::" in raw:
                shapes.append("'::' line")
        if stripped.endswith("?") or re.search(r"\?\s*(?:\*\*|__)?\s*\S{0,3}$", stripped):
            shapes.append("ends in '?'")
        if shapes:
            found.append(Candidate(i + 1, stripped[:SHOWN], shapes))
    return found


def _account(candidates: list[Candidate], lines: list[str], parsed: NoteParse, syntax: str) -> None:
    by_line: dict[int, list[Card]] = {}
    for card in parsed.cards:
        by_line.setdefault(card.line_start, []).append(card)
    spans = [(c.line_start, c.line_end, c) for c in parsed.cards]
    problems = {p.line: p for p in parsed.problems if p.line}
    headings = {h.line: h for h in parsed.headings}
    tokens = parser().parse("\n".join(lines)) if syntax == "markdown" else []
    code = non_text_lines(tokens, lines, ("fence", "code_block"))
    math = non_text_lines(tokens, lines, ("math_block", "math_block_label"))
    html = non_text_lines(tokens, lines, ("html_block",))
    front = non_text_lines(tokens, lines, ("front_matter",))
    for cand in candidates:
        cards = by_line.get(cand.line, [])
        if cards:
            cand.cards = [{"id": c.id, "question": c.question, "family": c.family} for c in cards]
            continue
        cand.reason = _reason(cand, lines, parsed, problems, headings, spans, code, math, html, front, syntax)


def _reason(cand: Candidate, lines: list[str], parsed: NoteParse, problems: dict[int, Problem], headings: dict[int, HeadingRole],
            spans: list[tuple[int, int, Card]], code: set[int], math: set[int], html: set[int], front: set[int], syntax: str) -> str:
    i = cand.line - 1
    if i in code:
        return "inside a code fence"
    if i in math:
        return "inside a math block"
    if i in front:
        return "front matter (metadata)"
    problem = problems.get(cand.line)
    if problem is not None and problem.kind == "placeholder":
        return "a placeholder answer (" + problem.message.split(";")[0] + ")"
    if problem is not None:
        return problem.message
    heading = headings.get(cand.line)
    if heading is not None:
        inside = sum(1 for c in parsed.cards if heading.line < c.line_start <= heading.end)
        if heading.role == "section":
            return f"a section holding {inside} question{'s' if inside != 1 else ''}"
        if inside:
            return f"a heading that asks, with no text of its own before its {inside} question{'s' if inside != 1 else ''}"
        return "a heading that asks, with no text under it (a title)"
    if "'::' line" in cand.shapes:
        if not parsed.flashcard_note:
            return "no flashcards tag in this note ('key:: value' is read as a Dataview field)"
        if "::" not in mask(lines[i]):
            return "the '::' is inside code, math, a URL or a Dataview field"
    holder = next((card for start, end, card in spans if start < cand.line <= end), None)
    if holder is not None:
        return f"inside the answer of {holder.question!r} (line {holder.line_start})"
    if syntax == "logseq":
        return "a #card tag in a property or code, or a block that is not a card"
    if i in html:
        return "inside an HTML block"
    if "bold line" in cand.shapes:
        return "a bold line that does not ask, in a note not written as bold questions"
    if lines[i].lstrip().startswith(">"):
        return "inside a quote (only [!question] callouts ask)"
    return "a line of running text (not a heading, a bold line, a Q: line or a flashcard)"


def format_explanation(ex: Explanation) -> str:
    """The terminal form: one line per candidate."""
    head = f"{ex.note}: {ex.cards} card(s), {ex.syntax} syntax" + (", flashcards tag: Obsidian Spaced Repetition cards read" if ex.flashcard_note else "")
    out = [head]
    for cand in ex.candidates:
        if cand.cards:
            what = "; ".join(f"card {inline_to_text(c['question'])!r} in {c['family']!r}" for c in cand.cards)
        else:
            what = f"no card: {cand.reason}"
        out.append(f"  {cand.line:>5}  {cand.text[:60]:<60}  -> {what}")
    unexplained = [p for p in ex.problems if not any(c.line == p.line for c in ex.candidates)]
    out += [f"  warning: {p}" for p in unexplained]
    return "\n".join(out)
