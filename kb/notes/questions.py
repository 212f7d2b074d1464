"""Recognising questions in a note: which headings, lines, callouts and <details> blocks ask (from markdown-it tokens).

The rules are about markdown shapes, not about one note.

A question is any of:
  * a heading starting with "Q:" / "Q1." / "Question:";
  * a numbered heading ("12) ...", "12. ...") that asks (ends in "?" or starts with a question
    or task word), or any numbered heading in a list of numbered headings that mostly ask;
  * a heading ending in "?" with its own text under it;
  * a paragraph or list item starting with a bold "Q:" (quick-fire: `**Q: ...?** answer`);
  * a `**Q:** question` line, or a plain `Q: question` line answered by an `A:` line below;
  * an Obsidian callout that asks: `> [!question] What is X?` (also faq, help, quiz);
  * a `<details><summary>question</summary> answer </details>` block;
  * a bold-only line (`**What is X? ⭐️**`) in a note written in that style.
Its family is the nearest heading above it that is not itself a question. A numbered or "?"
heading that holds other questions is a section (a family). Everything inside an answer stays
in it: headings in a <details> block, in a list or blockquote, "?" sub-headings under a "Q:"
heading, and `#` lines in code fences.
"""
from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from markdown_it.token import Token

from kb.notes.markdown import inline_to_text
from kb.notes.problems import Problem
from kb.notes.review_state import ReviewState

Q_PREFIX_RE = re.compile(r"^\s*(?:Q|Question)\s*\d{0,4}\s*[:.)]\s*", re.IGNORECASE)  # Q: / Q1. / Question 3)
Q_NUMBER_RE = re.compile(r"^\s*(?:Q|Question)\s*\d{1,4}\b\s*[-\u2013\u2014:.)]?\s*", re.IGNORECASE)  # "Q1 What ..."
NUMBERED_RE = re.compile(r"^\s*\d{1,4}\s*[.)]\s+(?=\S)")
QUICKFIRE_RE = re.compile(r"^\s*(?:[-*+]\s+|\d{1,3}[.)]\s+)?(\*\*|__)\s*(?:Q|Question)\s*\d{0,4}\s*[:.)]\s*(?!\1)(.+?)\s*\1(.*)$", re.IGNORECASE)
# `**Q:** question` or `Q: question` on its own line, the answer below (after an optional `A:`).
QA_LINE_RE = re.compile(r"^\s*(?:[-*+]\s+)?(\*\*|__)?(?:Q|Question)\s*\d{0,4}\s*[:.)]\s*(?(1)\1)\s*(\S.*?)\s*$", re.IGNORECASE)
A_MARKER_RE = re.compile(r"^\s*(?:[-*+]\s+)?(\*\*|__)?(?:A|Answer)\s*\d{0,4}\s*[:.)]\s*(?(1)\1)\s*", re.IGNORECASE)
# Obsidian callouts that ask: `> [!question] What is X?` with the answer in the quoted lines below.
CALLOUT_RE = re.compile(r"^\s*>\s*\[!(question|faq|help|quiz)\][+-]?\s*(\S.*?)\s*$", re.IGNORECASE)
QUOTE_MARK_RE = re.compile(r"^\s*>\s?")
INLINE_ANSWER_RE = re.compile(r"\s+(?:\*\*|__)?(?:A|Answer):\s*(?:\*\*|__)?\s*")  # `Q: x? A: y` on one line
BOLD_ONLY_RE = re.compile(r"^\s*(\*\*|__)(?=\S)(.+?)\1\s*([^\w\s]{0,3})\s*$")  # may end in an emoji, not a word
SUMMARY_RE = re.compile(r"<summary[^>]*>(.*?)</summary>", re.IGNORECASE | re.DOTALL)
SUMMARY_WINDOW = 2000  # characters after <details> in which its <summary> must close
TRAILING_JUNK_RE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,}|<br\s*/?>|&nbsp;|</?p>)\s*$", re.IGNORECASE)
QUESTION_WORDS = set(
    "what why how when where which who whom whose is are was were do does did can could should would will "
    "shall may might must explain describe define compare contrast name list give derive discuss state prove "
    "walk".split()
)


@dataclass
class Heading:
    """A top-level heading of a note."""

    line: int  # 0-based line of the heading
    end: int  # first line after it (a setext heading takes two lines)
    level: int
    text: str


@dataclass
class Question:
    """A question found in a note: where it and its answer start, its shape and its raw text."""

    line: int  # 0-based line of the question
    body_start: int  # first 0-based line of the answer
    kind: str
    text: str
    level: int = 0  # heading level for heading questions
    end_limit: int | None = None  # hard end (exclusive) for details blocks
    first_answer_line: str | None = None  # answer text on the question's own line (quick-fire, one-line details)
    answer_md: str | None = None  # the whole answer, for shapes whose answer is not a run of lines (flashcards, clozes)
    family: str | None = None  # set by the shape itself (a flashcards deck, a Logseq page), else from the headings
    schedule: ReviewState | None = None  # review state the note carries for this card


@dataclass
class NoteQuestions:
    """What `find_questions` finds in one note."""

    questions: list[Question]  # in line order
    headings: list[Heading]  # every top-level heading outside <details> answers
    roles: HeadingRoles


@functools.lru_cache(maxsize=8192)  # headings are cleaned more than once while a note is read
def clean_question(raw: str) -> str:
    """Question text without 'Q:', numbering, markup, difficulty emoji or stray spacing."""
    text = unicodedata.normalize("NFC", inline_to_text(raw))  # so accents survive the mark filter below
    text = Q_PREFIX_RE.sub("", text)
    text = Q_NUMBER_RE.sub("", text)
    text = NUMBERED_RE.sub("", text)
    # Difficulty markers and decorations: emoji, variation selectors, zero-width joiners.
    kept = [ch for ch in text if unicodedata.category(ch) not in ("So", "Sk", "Cf", "Mn") or ch in "^`"]
    text = "".join(kept)
    text = text.replace("\u00a0", " ").replace("\u200a", " ")
    text = re.sub(r"\s+", " ", text).strip()
    # A stray letter glued after the emoji (`metric? ‍⭐️I`) is noise, not part of the question.
    text = re.sub(r"\?\s*[A-Za-z]$", "?", text)
    return text


def _line_starts(text: str) -> list[int]:
    """Offset of the first character of every line."""
    return [0] + [m.end() for m in re.finditer("\n", text)]


# (line, +1 open / -1 close, summary text, (first answer line, answer text on the summary's line))
_DetailsEvent = tuple[int, int, str | None, tuple[int | None, str | None]]


def _details_events(tokens: Sequence[Token], text: str, line_starts: list[int]) -> list[_DetailsEvent]:
    """(line, +1/-1, summary text, first answer line) for every <details> open/close in html blocks.

    The summary is looked up in the raw text after the opening tag, so a summary spread over
    several lines (even around blank lines, which end an html block) is still found.
    """
    events: list[_DetailsEvent] = []
    for token in tokens:
        if token.type != "html_block" or token.map is None:
            continue
        first = line_starts[token.map[0]]
        last = line_starts[token.map[1]] if token.map[1] < len(line_starts) else len(text)
        for match in re.finditer(r"<details\b[^>]*>|</details\s*>", text[first:last], re.IGNORECASE):
            line = bisect.bisect_right(line_starts, first + match.start()) - 1
            if match.group(0).startswith("</"):
                events.append((line, -1, None, (None, None)))
                continue
            after = first + match.end()
            window = text[after : after + SUMMARY_WINDOW]
            summary = SUMMARY_RE.search(window)
            summary_text, body_line, same_line = None, None, None
            if summary and not re.search(r"</?details\b", window[: summary.start()], re.IGNORECASE):
                summary_text = summary.group(1)
                end_pos = after + summary.end()
                end_line = bisect.bisect_right(line_starts, end_pos - 1) - 1
                body_line = end_line + 1
                # Answer text on the summary's own line (`<summary>Q?</summary> answer</details>`).
                line_end = line_starts[body_line] - 1 if body_line < len(line_starts) else len(text)
                rest = re.split(r"</details\s*>", text[end_pos:line_end], maxsplit=1, flags=re.IGNORECASE)[0]
                same_line = rest.strip() or None
            events.append((line, +1, summary_text, (body_line, same_line)))
    return events


def _heading_kind(raw: str) -> str | None:
    """'strong' for `Q:` headings, 'numbered' for `12) ...`, 'qmark' for a heading ending in '?', else None."""
    plain = inline_to_text(raw)  # `### **Q: ...**` is a Q: heading too
    if Q_PREFIX_RE.match(plain):
        return "strong"
    if NUMBERED_RE.match(plain):
        return "numbered"
    if clean_question(raw).endswith("?"):
        return "qmark"
    return None


def _asks(raw: str) -> bool:
    """Does a heading read as a question: ends in '?' or starts with a question or task word?"""
    text = clean_question(raw)
    first = re.match(r"[A-Za-z]+", text)
    return text.endswith("?") or bool(first and first.group(0).lower() in QUESTION_WORDS)


def _numbered_question_levels(headings: list[Heading], kinds: list[str | None]) -> set[int]:
    """Heading levels written as a numbered question list: 3+ numbered headings, at least half asking.

    This tells `#### 12) Gradient descent` in a numbered Q&A list from `## 1. Introduction` in
    a numbered document, where only a numbered heading that itself asks is a question.
    """
    numbered: dict[int, list[bool]] = {}
    for heading, kind in zip(headings, kinds, strict=True):
        if kind == "numbered":
            numbered.setdefault(heading.level, []).append(_asks(heading.text))
    return {level for level, asks in numbered.items() if len(asks) >= 3 and sum(asks) * 2 >= len(asks)}


def _section_ends(headings: list[Heading], total_lines: int) -> list[int]:
    """For each heading, the line where its section ends: the next heading at its level or above."""
    ends = [total_lines] * len(headings)
    open_sections: list[int] = []
    for idx, heading in enumerate(headings):
        while open_sections and headings[open_sections[-1]].level >= heading.level:
            ends[open_sections.pop()] = heading.line
        open_sections.append(idx)
    return ends


def _covered(line: int, starts: list[int], max_ends: list[int]) -> bool:
    """Is `line` strictly inside one of the spans? (starts sorted, max_ends = running max of ends)."""
    i = bisect.bisect_left(starts, line) - 1
    return i >= 0 and max_ends[i] > line


def _span_index(spans: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    spans = sorted(spans)
    max_ends, best = [], -1
    for _, end in spans:
        best = max(best, end)
        max_ends.append(best)
    return [s for s, _ in spans], max_ends


def _answered_below(lines: list[str], line: int) -> bool:
    """Is the next non-blank line an `A:` answer line?"""
    while line < len(lines) and not lines[line].strip():
        line += 1
    return line < len(lines) and bool(A_MARKER_RE.match(lines[line]))


def _is_bold_style(candidates: list[tuple[int, int, str]]) -> bool:
    """A note written as bold question lines: several of them, mostly ending in '?'."""
    asking = sum(clean_question(raw).endswith("?") for _, _, raw in candidates)
    return len(candidates) >= 3 and asking * 2 >= len(candidates)


@dataclass
class _Details:
    """A top-level <details> block: lines of its open and close tags, its summary and where its answer starts."""

    open: int
    close: int
    summary: str | None
    body_line: int | None
    same_line: str | None  # answer text after </summary> on the summary's own line


@dataclass
class _Blocks:
    """What one pass over the tokens finds outside <details> answers."""

    headings: list[Heading]
    bold_lines: list[tuple[int, int, str]]  # (line, end line, bold text) of bold-only paragraphs
    line_questions: list[Question]  # quick-fire, Q:/A: pairs and question callouts


def _details_blocks(tokens: Sequence[Token], text: str, lines: list[str], note: str, problems: list[Problem]) -> list[_Details]:
    """Top-level <details> blocks in line order; nested ones are answer text of the outer one."""
    found: list[_Details] = []
    stack: list[tuple[int, str | None, tuple[int | None, str | None]]] = []
    for line, delta, summary, body in sorted(_details_events(tokens, text, _line_starts(text)), key=lambda e: e[0]):
        if delta > 0:
            stack.append((line, summary, body))
        elif stack:
            open_line, summary, body = stack.pop()
            if not stack:
                found.append(_Details(open_line, line, summary, *body))
    if stack:
        open_line, summary, body = stack[0]
        problems.append(Problem(note, open_line + 1, "<details> block is never closed; it runs to the end of the note"))
        found.append(_Details(open_line, len(lines), summary, *body))
    return sorted(found, key=lambda d: d.open)


def _scan_blocks(tokens: Sequence[Token], lines: list[str], in_details: Callable[[int], bool]) -> _Blocks:
    """Headings and question-shaped paragraphs. Only top-level blocks give structure: a heading in a
    list, a blockquote or a <details> answer is answer text, and so is a `#` line in a code fence."""
    blocks = _Blocks([], [], [])
    for i, token in enumerate(tokens):
        if token.map is None or in_details(token.map[0]):
            continue
        start, end = token.map
        if token.type == "heading_open" and token.level == 0:
            blocks.headings.append(Heading(start, end, int(token.tag[1]), tokens[i + 1].content))
        elif token.type == "blockquote_open" and token.level == 0:
            callout = CALLOUT_RE.match(lines[start])
            if callout:
                blocks.line_questions.append(Question(start, start + 1, "callout", callout.group(2), end_limit=end))
        elif token.type == "paragraph_open":
            if token.level > 0 and tokens[i - 1].type != "list_item_open":
                continue  # deeper in a list item or in a blockquote: answer text
            for offset, raw in enumerate(lines[start:end] if token.level == 0 else lines[start : start + 1]):
                question = _line_question(raw, start + offset, lines)
                if question:
                    blocks.line_questions.append(question)
            bold = BOLD_ONLY_RE.match(tokens[i + 1].content) if end - start == 1 and token.level == 0 else None
            if bold and not QUICKFIRE_RE.match(lines[start]) and not clean_question(bold.group(2)).endswith(":"):
                blocks.bold_lines.append((start, end, bold.group(2)))  # a bold line ending in ':' is a label
    return blocks


def _line_question(raw: str, line: int, lines: list[str]) -> Question | None:
    """A quick-fire line (`**Q: ...?** answer`) or a Q:/A: line, else None."""
    quick = QUICKFIRE_RE.match(raw)
    if quick:
        return Question(line, line + 1, "quickfire", quick.group(2), first_answer_line=quick.group(3).strip())
    qa = QA_LINE_RE.match(raw)
    if not qa:
        return None
    question, answer = qa.group(2), None
    parts = INLINE_ANSWER_RE.split(question, maxsplit=1)
    if len(parts) == 2:
        question, answer = parts
    # A plain `Q:` line could be prose; it asks only when an `A:` answers it.
    if qa.group(1) or answer is not None or _answered_below(lines, line + 1):
        return Question(line, line + 1, "qa", question, first_answer_line=answer)
    return None


@dataclass
class HeadingRoles:
    """Per heading: does it ask, is it a card, is it a family, and where its own answer ends."""

    asks: list[bool]  # written as a question (Q:, numbered question, ends in '?')
    is_question: list[bool]  # a card
    is_family: list[bool]  # the family of the questions under it (a heading that asks: of deeper headings only)
    answer_end: list[int]  # first line after its own answer (a card that holds sub-questions stops at the first)
    section_end: list[int]  # first line after its section (the next heading at its level or above)


def _heading_questions(headings: list[Heading], section_ends: list[int], lines: list[str], details: list[_Details], blocks: _Blocks) -> HeadingRoles:
    """What each heading is. Also turns reveal toggles in `details` into answer text.

    A heading that asks and has prose before its first sub-question is a card, and that prose is its
    answer; if it holds sub-questions it is also the family of the deeper headings among them.
    """
    kinds = [_heading_kind(h.text) for h in headings]
    question_list_levels = _numbered_question_levels(headings, kinds)
    for idx, heading in enumerate(headings):
        if kinds[idx] == "numbered" and heading.level not in question_list_levels and not _asks(heading.text):
            kinds[idx] = None  # a numbered section title, not a question

    def subtree(idx: int) -> Iterator[int]:
        j = idx + 1
        while j < len(headings) and headings[j].line < section_ends[idx]:
            yield j
            j += 1

    # A '?' or numbered heading deeper inside a `Q:` heading's answer is part of that answer.
    for idx in range(len(headings)):
        if kinds[idx] == "strong":
            for j in subtree(idx):
                if kinds[j] in ("numbered", "qmark"):
                    kinds[j] = None

    _mark_reveal_toggles(details, headings, section_ends, kinds, blocks)

    # Questions that are not headings, which a heading's section may hold.
    strong_starts, strong_ends = _span_index([(headings[i].line, section_ends[i]) for i in range(len(headings)) if kinds[i] == "strong"])
    inner = [q.line for q in blocks.line_questions] + [d.open for d in details if d.summary is not None]
    plain_bold = [c for c in blocks.bold_lines if not _covered(c[0], strong_starts, strong_ends)]
    if _is_bold_style(plain_bold):
        inner += [c[0] for c in plain_bold]
    inner.sort()

    def first_inner(idx: int) -> int:
        """Line of the first question inside a heading's section that is not a heading."""
        i = bisect.bisect_right(inner, headings[idx].line)
        return inner[i] if i < len(inner) and inner[i] < section_ends[idx] else section_ends[idx]

    # Deepest first, so a sub-heading's role is known when its parent asks "does it hold questions?"
    holds = [False] * len(headings)
    for idx in reversed(range(len(headings))):
        holds[idx] = first_inner(idx) < section_ends[idx] or any(kinds[j] is not None or holds[j] for j in subtree(idx))

    roles = HeadingRoles([False] * len(headings), [False] * len(headings), [False] * len(headings), list(section_ends), list(section_ends))
    for idx, heading in enumerate(headings):
        roles.asks[idx] = kinds[idx] is not None
        if kinds[idx] == "strong":
            roles.is_question[idx] = True
            continue
        if kinds[idx] is None:
            roles.is_family[idx] = True  # a section or title heading
            continue
        # A heading that asks: its own text runs to its first sub-question (or sub-section that holds them).
        cut = min([first_inner(idx)] + [headings[j].line for j in subtree(idx) if kinds[j] is not None or holds[j]])
        has_prose = any(line.strip() and not TRAILING_JUNK_RE.match(line) for line in lines[heading.end : cut])
        if holds[idx]:
            roles.is_family[idx] = True  # deeper headings keep it as their family
            roles.is_question[idx] = has_prose  # and its prose before them is its answer
            roles.answer_end[idx] = cut
        else:
            roles.is_question[idx] = kinds[idx] == "numbered" or has_prose  # a bare '?' heading is a title
            roles.is_family[idx] = not roles.is_question[idx]
    return roles


def _mark_reveal_toggles(details: list[_Details], headings: list[Heading], section_ends: list[int], kinds: list[str | None], blocks: _Blocks) -> None:
    """A <details> whose summary does not ask ("Answer", "Show solution") under a question is a
    reveal toggle: it holds that question's answer and is not a question itself."""
    asking_starts, asking_ends = _span_index([(headings[i].line, section_ends[i]) for i in range(len(headings)) if kinds[i] is not None])
    line_questions = sorted([q.line for q in blocks.line_questions] + [c[0] for c in blocks.bold_lines if clean_question(c[2]).endswith("?")])
    boundaries = sorted([h.line for h in headings] + [d.close for d in details])
    for block in details:
        if block.summary is None or _asks(inline_to_text(block.summary)):
            continue
        i = bisect.bisect_left(line_questions, block.open) - 1
        j = bisect.bisect_left(boundaries, block.open) - 1
        under_line_question = i >= 0 and (j < 0 or line_questions[i] > boundaries[j])
        if _covered(block.open, asking_starts, asking_ends) or under_line_question:
            block.summary = None


def find_questions(tokens: Sequence[Token], text: str, lines: list[str], note: str, problems: list[Problem]) -> NoteQuestions:
    """Every question in a note, in line order, and its headings; an unclosed <details> is added to `problems`."""
    details = _details_blocks(tokens, text, lines, note, problems)
    details_starts = [d.open for d in details]

    def in_details(line: int) -> bool:
        i = bisect.bisect_right(details_starts, line) - 1
        return i >= 0 and line <= details[i].close

    blocks = _scan_blocks(tokens, lines, in_details)
    headings = blocks.headings
    section_ends = _section_ends(headings, len(lines))
    roles = _heading_questions(headings, section_ends, lines, details, blocks)

    asked = [i for i in range(len(headings)) if roles.is_question[i]]
    questions = [Question(headings[i].line, headings[i].end, "heading", headings[i].text, level=headings[i].level, end_limit=roles.answer_end[i])
                 for i in asked]
    # Bold lines inside a heading question's answer are emphasis, not questions.
    q_starts, q_ends = _span_index([(headings[i].line, roles.answer_end[i]) for i in asked])
    bold_lines = [c for c in blocks.bold_lines if not _covered(c[0], q_starts, q_ends)]
    bold_style = _is_bold_style(bold_lines)
    questions += [Question(start, end, "bold", raw) for start, end, raw in bold_lines if bold_style or clean_question(raw).endswith("?")]
    questions += blocks.line_questions
    questions += [
        Question(d.open, d.body_line, "details", d.summary, end_limit=d.close, first_answer_line=d.same_line)
        for d in details
        if d.summary is not None and d.body_line is not None and inline_to_text(d.summary).strip()  # body_line: set with the summary
    ]
    questions.sort(key=lambda q: q.line)
    return NoteQuestions(questions, headings, roles)
