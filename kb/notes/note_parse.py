"""One note's text -> its cards: each question's family, answer span and Card record, plus the note's problems."""
from __future__ import annotations

import bisect
import gc
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it.token import Token

from kb.notes.cards import Card, WikiLink, slugify
from kb.notes.flashcards import find_flashcards, is_flashcard_note, strip_tags
from kb.notes.logseq import parse_page
from kb.notes.markdown import WIKI_LINK_RE, inline_to_text, parser, text_and_stray_dollars
from kb.notes.misconceptions import split_misconceptions
from kb.notes.problems import Problem
from kb.notes.questions import A_MARKER_RE, QUOTE_MARK_RE, TRAILING_JUNK_RE, Heading, HeadingRoles, Question, clean_question, find_questions

# Card.kind keeps four values: a Q:/A: pair is a quick-fire card, a question callout a collapsible one.
CARD_KINDS = {"qa": "quickfire", "callout": "details"}

# Bump when the rules change what a note parses to: an index written by another parser version
# re-reads every note (vectors are reused for cards whose text did not change).
# 3: problems carry a kind ("placeholder" for unanswered questions); 4: flashcards, Logseq, asking headings with
# prose; 5: misconceptions; 6: question headings right after a table of contents are cards
PARSER_VERSION = 6
GC_PAUSE_CHARS = 256 * 1024
NOT_TEXT_TOKENS = ("fence", "code_block", "math_block", "math_block_label", "html_block", "front_matter")

TOC_HEADING_RE = re.compile(r"^(table of contents|contents|toc|index)$", re.IGNORECASE)
PLACEHOLDERS = {"", "!", "?", "-", "...", "…", "answer here", "answer", "todo", "tbd", "tba", "coming soon", "wip"}


@dataclass
class HeadingRole:
    """What a heading became, for `kb build --explain`."""

    line: int  # 1-based
    end: int  # 1-based, inclusive: the last line of its section
    text: str
    role: str  # "card" | "section" | "card and section" | "asks, no text of its own"


@dataclass
class NoteParse:
    """One note's cards and problems, and how many placeholder answers were left out."""

    cards: list[Card] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    placeholders: int = 0
    headings: list[HeadingRole] = field(default_factory=list)
    flashcard_note: bool = False  # carries a flashcards tag: the Obsidian Spaced Repetition syntax is read


def _is_placeholder(answer_text: str) -> bool:
    return answer_text.strip().strip(".").strip().lower() in PLACEHOLDERS


def _front_matter_title(tokens: Sequence[Token]) -> str | None:
    """`title:` from YAML front matter, for a note with no H1."""
    if tokens and tokens[0].type == "front_matter":
        match = re.search(r"^title:\s*(.+?)\s*$", tokens[0].content, re.M)
        if match:
            return match.group(1).strip("'\"") or None
    return None


def parse_note(text: str, note: str = "note.md", syntax: str = "markdown") -> NoteParse:
    """Split one note into cards. Pure: text in, cards and problems out.

    `syntax` is "markdown" (every shape in the README, and Obsidian flashcards in a tagged note) or
    "logseq" (a page of a Logseq graph: `#card` blocks)."""
    if len(text) < GC_PAUSE_CHARS:
        return _parse_note(text, note, syntax)
    # A big note is a million short-lived tokens at once: with the cyclic collector running, its
    # passes over them make parsing superlinear (5 MB: 1.5x the time per MB of 0.5 MB). None of
    # them form cycles, so pausing it for the parse loses nothing.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse_note(text, note, syntax)
    finally:
        if enabled:
            gc.enable()


def _parse_note(text: str, note: str, syntax: str) -> NoteParse:
    result = NoteParse()
    text = text.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")
    lines = text.split("\n")
    if syntax == "logseq":
        return _logseq_note(text, lines, note, result)
    tokens = parser().parse(text)
    found = find_questions(tokens, text, lines, note, result.problems)
    questions, headings, roles = found.questions, found.headings, found.roles
    questions, result.flashcard_note = _with_flashcards(questions, tokens, text, lines, note, result.problems)
    result.headings = [HeadingRole(h.line + 1, roles.section_end[i], h.text, _role(roles, i)) for i, h in enumerate(headings)]

    plain = [h for i, h in enumerate(headings) if roles.is_family[i] and not roles.asks[i]]  # sections that do not ask
    asking = [h for i, h in enumerate(headings) if roles.is_family[i] and roles.asks[i]]  # cards or titles that hold sub-questions
    title = next((h.text for h in plain if h.level == 1), None) or _front_matter_title(tokens) or Path(note).stem
    families = _Families(plain, asking, title, Path(note).stem)
    heading_lines = [h.line for h in headings]
    seen: dict[str, int] = {}
    for n, q in enumerate(questions):
        end = questions[n + 1].line if n + 1 < len(questions) else len(lines)
        end = _answer_end(q, end, families, headings, heading_lines)
        family = q.family or families.of(q)
        if result.flashcard_note:
            family = strip_tags(family) or Path(note).stem
        if TOC_HEADING_RE.match(family.strip()):
            if q.kind != "heading":
                continue  # a question-like line in a table of contents links to a card; it is not one
            family = inline_to_text(title) or Path(note).stem  # question headings right after a table of contents belong to the note
        card = _card(q, lines, end, note, family, result)
        if card is None:
            continue
        key = card.question.casefold()  # the whole question: cloze siblings share long prefixes, not questions
        if key in seen:
            result.problems.append(
                Problem(note, card.line_start, f"duplicated question {card.question!r} (first at line {seen[key]}); kept as a separate card")
            )
        seen.setdefault(key, card.line_start)
        result.cards.append(card)
    if not result.cards and not result.placeholders:
        result.problems.append(
            Problem(note, None,
                    "no questions found (looked for '### Q:' or '?' headings, '**Q: ...**' lines, bold question lines and <details><summary> blocks)")
        )
    return result


def _role(roles: HeadingRoles, i: int) -> str:
    if roles.is_question[i]:
        return "card and section" if roles.is_family[i] else "card"
    return "asks, no text of its own" if roles.asks[i] else "section"


def _logseq_note(text: str, lines: list[str], note: str, result: NoteParse) -> NoteParse:
    """A Logseq page's cards. A page with no `#card` block is ordinary (most pages are): no problem."""
    for lc in parse_page(text, note, result.problems):
        q = Question(lc.line, lc.answer_line, lc.kind, lc.question, end_limit=lc.end, answer_md=lc.answer, family=lc.family, schedule=lc.schedule)
        card = _card(q, lines, lc.end, note, lc.family, result)
        if card is not None:
            result.cards.append(card)
    return result


def non_text_lines(tokens: Sequence[Token], lines: list[str], types: tuple[str, ...] = NOT_TEXT_TOKENS) -> set[int]:
    """Lines of the blocks of these token types (by default code, math and html blocks, front matter)."""
    skip: set[int] = set()
    for token in tokens:
        if token.map and token.type in types:
            skip.update(range(token.map[0], min(token.map[1], len(lines))))
    return skip


def _with_flashcards(questions: list[Question], tokens: Sequence[Token], text: str, lines: list[str], note: str,
                     problems: list[Problem]) -> tuple[list[Question], bool]:
    """In a note tagged for the Obsidian Spaced Repetition plugin, its cards too; they own their lines."""
    code = non_text_lines(tokens, lines)
    front = tokens[0].content if tokens and tokens[0].type == "front_matter" else None
    if not is_flashcard_note(text, front, code):
        return questions, False
    flashcards = find_flashcards(lines, code | non_text_lines(tokens, lines, ("heading_open",)), code, note, problems)
    owned = {line for fc in flashcards for line in range(fc.line, fc.end)}
    kept = [q for q in questions if q.line not in owned]
    kept += [
        Question(fc.line, fc.answer_line, fc.kind, fc.question, end_limit=fc.end, answer_md=fc.answer, family=fc.deck, schedule=fc.schedule)
        for fc in flashcards
    ]
    return sorted(kept, key=lambda q: q.line), True


def _answer_end(q: Question, end: int, families: _Families, headings: list[Heading], heading_lines: list[int]) -> int:
    """Where a question's answer ends (exclusive), given `end`, the next question's line."""
    if q.end_limit is not None:
        return min(end, q.end_limit)
    # A bold or quick-fire answer runs to the next heading at its family's level or above.
    level = families.level_at(q.line)
    j = bisect.bisect_right(heading_lines, q.line)
    while j < len(headings) and not (level == 0 or headings[j].level <= level):
        j += 1
    if j < len(headings):
        end = min(end, headings[j].line)
    return end


class _Families:
    """The family of a question.

    A heading question's is the nearest heading above it at a higher level that is a family, even one
    that asks (`## Why do GANs fail?` over `### Q:` children). Any other question's is the nearest
    heading above it that does not ask, at any level.
    """

    def __init__(self, plain: list[Heading], asking: list[Heading], title: str, fallback: str):
        self.plain = plain
        self.plain_lines = [h.line for h in plain]
        self.all = sorted(plain + asking, key=lambda h: h.line)
        self.all_lines = [h.line for h in self.all]
        self.title = title
        self.fallback = fallback  # the note's file name, for a title that is all markup

    @staticmethod
    def _enclosing(headings: list[Heading], lines: list[int], line: int, below_level: int) -> Heading | None:
        i = bisect.bisect_left(lines, line) - 1
        while i >= 0 and headings[i].level >= below_level:
            i -= 1
        return headings[i] if i >= 0 else None

    def enclosing(self, line: int) -> Heading | None:
        return self._enclosing(self.plain, self.plain_lines, line, 99)

    def of(self, q: Question) -> str:
        if q.kind == "heading":
            h = self._enclosing(self.all, self.all_lines, q.line, q.level)
        else:
            h = self.enclosing(q.line)
        return inline_to_text(h.text if h else self.title) or self.fallback

    def level_at(self, line: int) -> int:
        h = self.enclosing(line)
        return h.level if h else 0


def _card(q: Question, lines: list[str], end: int, note: str, family: str, result: NoteParse) -> Card | None:
    """The card for one question whose answer ends before line `end`; None (and a problem) when unusable."""
    body = q.answer_md.split("\n") if q.answer_md is not None else lines[q.body_start : end]
    if q.first_answer_line is not None:
        body = [q.first_answer_line] + body
    if q.kind == "callout":
        body = [QUOTE_MARK_RE.sub("", line, count=1) for line in body]
    while body and (not body[-1].strip() or TRAILING_JUNK_RE.match(body[-1])):
        body.pop()
    lead = 0
    while lead < len(body) and not body[lead].strip():
        lead += 1
    if q.kind == "qa" and lead < len(body):
        body[lead] = A_MARKER_RE.sub("", body[lead], count=1)  # the `A:` marker is not answer text
    answer_md = "\n".join(body[lead:])
    answer_text, stray_dollars = text_and_stray_dollars(answer_md)
    question = clean_question(q.text)
    line_start = q.line + 1
    # An answer on the question's own line (quick-fire) starts one line above body_start.
    same_line = 1 if q.first_answer_line is not None else 0
    line_end = max(line_start, q.body_start + len(body) - same_line)
    if q.answer_md is not None:  # a flashcard's answer is not a run of lines below it: its span is the card's
        same_line, line_end = 0, max(line_start, q.end_limit or line_start)
    if not question:
        result.problems.append(Problem(note, line_start, "question marker with no question text; skipped"))
        return None
    if _is_placeholder(answer_text):
        result.placeholders += 1
        result.problems.append(Problem(note, line_start, f"placeholder answer for {question!r}; not indexed", kind="placeholder"))
        return None
    answer_first_line = q.body_start + lead + 1 - same_line
    links = [
        WikiLink((m.group(1) or "").strip(), (m.group(2) or "").strip(), (m.group(3) or "").strip(), answer_first_line + offset)
        for offset, raw in enumerate(answer_md.split("\n"))
        for m in WIKI_LINK_RE.finditer(raw)
    ]
    # A `$` the math parser did not pair up is probably a broken formula (prices like $5 are fine).
    result.problems.extend(Problem(note, answer_first_line + offset, "unbalanced $ in a formula; it is shown as plain text") for offset in stray_dollars)
    return Card(
        id=slugify(question),
        note=note,
        family=family,
        question=question,
        answer_md=answer_md,
        answer_text=answer_text,
        line_start=line_start,
        line_end=line_end,
        kind=CARD_KINDS.get(q.kind, q.kind),
        links=links,
        schedule=q.schedule,
        misconceptions=split_misconceptions(answer_md)[1],
    )
