"""Obsidian Spaced Repetition cards: `Question::Answer`, `Term:::Definition`, multi-line cards split by
a `?` (or `??`) line, and clozes (`==highlight==`, `{{c1::...}}`), decks set by `#flashcards/...` tags.

The syntax is read only in a note that carries a flashcards tag (in its text or its `tags:` front
matter), as the plugin does; elsewhere `key:: value` is a Dataview field and `==x==` a highlight.
A `::` inside code, math, a URL or a Dataview bracket field (`[key:: value]`) is never a card.

A reversed card (`:::`, `??`) is two cards, one per direction, as an Anki note with a reversed
template is: each direction is asked, graded and scheduled on its own.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from kb.notes.clozes import ANKI_CLOZE_RE, cloze_cards, find_deletions, unclosed
from kb.notes.problems import Problem
from kb.notes.review_state import SR_COMMENT_RE, ReviewState, sr_states

TAG_RE = re.compile(r"(?<![^\s(\[,])#flashcards(/[\w\-/]+)?(?![\w\-/])", re.IGNORECASE)
FRONT_MATTER_TAG_RE = re.compile(r"^tags:\s*(.*(?:\n\s+-.*)*)", re.IGNORECASE | re.MULTILINE)
INLINE_CODE_RE = re.compile(r"(`+)(?:.+?)\1")
INLINE_MATH_RE = re.compile(r"\$\$.+?\$\$|(?<![\\$])\$(?=\S)[^$\n]+?(?<=\S)\$")
URL_RE = re.compile(r"\b[a-z][a-z0-9+.\-]*://\S+|<[^<>\s]+>", re.IGNORECASE)
DATAVIEW_FIELD_RE = re.compile(r"[\[(][^\[\]()\n]*?::[^\[\]()\n]*[\])]")
LIST_MARKER_RE = re.compile(r"^\s*(?:[-*+]|\d{1,4}[.)])\s+")
SEPARATORS = {"?": False, "??": True}  # multi-line separator -> reversed
END_MARKER = "+++"  # the plugin's optional end of a multi-line card
LONG_LINE = 2000  # a `::` card longer than this is kept, and reported: probably a paragraph that holds '::'


@dataclass
class Flashcard:
    """A card in the plugin's syntax, before it becomes a Card."""

    line: int  # 0-based line of its question
    end: int  # first line after it
    kind: str  # "flashcard" or "cloze"
    question: str  # markdown
    answer: str  # markdown
    deck: str | None = None  # "a / b" from #flashcards/a/b; None: the family comes from the headings
    schedule: ReviewState | None = None  # the plugin's review state for this card
    answer_line: int = -1  # 0-based line where its answer starts (-1: the question's line)

    def __post_init__(self) -> None:
        if self.answer_line < 0:
            self.answer_line = self.line


@dataclass
class _Block:
    lines: list[int] = field(default_factory=list)  # 0-based line numbers of one run of text lines


def strip_tags(text: str) -> str:
    """Text without its flashcards tags (a heading `# Optimisers #flashcards/ml` names "Optimisers")."""
    return re.sub(r"\s{2,}", " ", TAG_RE.sub("", text)).strip()


def is_flashcard_note(text: str, front_matter: str | None, skip: set[int]) -> bool:
    """Does the note carry a flashcards tag (text outside code, or `tags:` in the front matter)?"""
    if front_matter:
        for match in FRONT_MATTER_TAG_RE.finditer(front_matter):
            if re.search(r"(?<![\w/])#?flashcards\b", match.group(1), re.IGNORECASE):
                return True
    return any(TAG_RE.search(mask(line)) for i, line in enumerate(text.split("\n")) if i not in skip)


def mask(line: str) -> str:
    """The line with code, math, URLs and Dataview bracket fields filled with `x` (same length), so
    their `::`, `==` and `#` are not syntax, while `==$a$==` still holds a highlight."""
    for pattern in (INLINE_CODE_RE, INLINE_MATH_RE, URL_RE, DATAVIEW_FIELD_RE):
        line = pattern.sub(lambda m: "x" * len(m.group(0)), line)
    return line


def deck_of(tag_path: str | None) -> str | None:
    parts = [p for p in (tag_path or "").split("/") if p]
    return " / ".join(parts) or None


def find_flashcards(lines: list[str], skip: set[int], code: set[int], note: str, problems: list[Problem]) -> list[Flashcard]:
    """Every card in the plugin's syntax. `skip`: lines that are not text (code, math and html
    blocks, front matter, headings); they end a block, as a blank line does. `code`: the lines among
    them where a tag is no tag (code, math, html, front matter); a tag in a heading sets the deck too."""
    decks = [(i, deck_of(m.group(1))) for i, line in enumerate(lines) if i not in code for m in TAG_RE.finditer(mask(line))]
    tag_lines = [i for i, _ in decks]
    cards: list[Flashcard] = []
    for block in _blocks(lines, skip):
        found = _block_cards(block, lines, note, problems)
        for card in found:
            # The deck is the nearest flashcards tag above the card or on its own lines.
            k = bisect.bisect_right(tag_lines, card.end - 1) - 1
            card.deck = decks[k][1] if k >= 0 else None
        cards.extend(found)
    return cards


def _blocks(lines: list[str], skip: set[int]) -> list[_Block]:
    """Runs of text lines. A blank line ends one, except inside a multi-line card or cloze that a
    `+++` line closes further down (the plugin's end marker, for answers with blank lines in them)."""
    is_skip = [i in skip and not SR_COMMENT_RE.fullmatch(line.strip()) for i, line in enumerate(lines)]
    closing = [False] * (len(lines) + 1)  # is a `+++` ahead, with no heading or code before it?
    for i in range(len(lines) - 1, -1, -1):
        closing[i] = (lines[i].strip() == END_MARKER and not is_skip[i]) or (not is_skip[i] and closing[i + 1])
    blocks: list[_Block] = []
    current = _Block()
    for i, line in enumerate(lines):
        if line.strip() == END_MARKER and not is_skip[i]:
            current = _close(current, blocks, lines)
            continue
        if is_skip[i]:
            current = _close(current, blocks, lines)
            continue
        if not line.strip():
            if current.lines and closing[i] and _spans_blank_lines(current, lines):
                current.lines.append(i)
            else:
                current = _close(current, blocks, lines)
            continue
        current.lines.append(i)
    _close(current, blocks, lines)
    return blocks


def _close(block: _Block, blocks: list[_Block], lines: list[str]) -> _Block:
    while block.lines and not lines[block.lines[-1]].strip():
        block.lines.pop()  # blank lines kept before a `+++` that did not come
    if block.lines:
        blocks.append(block)
    return _Block()


def _spans_blank_lines(block: _Block, lines: list[str]) -> bool:
    """A multi-line card or a cloze paragraph: what a `+++` end marker may carry past blank lines."""
    return any(lines[i].strip() in SEPARATORS or "==" in mask(lines[i]) or ANKI_CLOZE_RE.search(lines[i]) for i in block.lines)


def _schedule(comment_lines: list[str]) -> list[ReviewState]:
    return [state for line in comment_lines for m in SR_COMMENT_RE.finditer(line) for state in sr_states(m.group(1))]


def _block_cards(block: _Block, lines: list[str], note: str, problems: list[Problem]) -> list[Flashcard]:
    """The cards of one blank-line-separated block (their decks are set by the caller)."""
    cards: list[Flashcard] = []
    question_from = 0  # index in block.lines where the next multi-line question starts
    rows = block.lines
    for k, i in enumerate(rows):
        raw = lines[i]
        masked = mask(raw)
        text = raw.strip()
        if SR_COMMENT_RE.fullmatch(text):
            continue
        if text in SEPARATORS:
            question_lines = [lines[j] for j in rows[question_from:k] if not SR_COMMENT_RE.fullmatch(lines[j].strip())]
            question = strip_tags(" ".join(line.strip() for line in question_lines))
            answer_rows = [j for j in rows[k + 1 :] if not SR_COMMENT_RE.fullmatch(lines[j].strip())]
            comments = [lines[j] for j in rows[k + 1 :] if SR_COMMENT_RE.search(lines[j])]
            if not question:
                problems.append(Problem(note, i + 1, f"a '{text}' card separator with no question above it; skipped"))
                return cards
            answer = "\n".join(SR_COMMENT_RE.sub("", lines[j]).rstrip() for j in answer_rows).strip()
            first = rows[question_from] if question_from < k else i
            found = _directions(first, rows[-1] + 1, question, strip_tags(answer), SEPARATORS[text], _schedule(comments))
            for card in found:
                card.answer_line = i + 1
            return cards + found
        split = _single_line_split(masked)
        if split:
            start, width = split
            question = strip_tags(LIST_MARKER_RE.sub("", raw[:start]))
            rest = raw[start + width :]
            comments = [rest] + ([lines[rows[k + 1]]] if k + 1 < len(rows) and SR_COMMENT_RE.fullmatch(lines[rows[k + 1]].strip()) else [])
            answer = strip_tags(SR_COMMENT_RE.sub("", rest))
            if len(raw) > LONG_LINE:
                problems.append(Problem(note, i + 1, f"a '::' card line of {len(raw):,} characters; kept as a card (is it a paragraph that holds '::'?)"))
            if not question:
                problems.append(Problem(note, i + 1, "a '::' card with no question before it; skipped"))
            else:
                cards += _directions(i, i + 1, question, answer, width == 3, _schedule(comments))
            question_from = k + 1
    return cards or _cloze_block(rows, lines, note, problems)


def _single_line_split(masked: str) -> tuple[int, int] | None:
    """(offset, width) of the first `::` or `:::` that separates a card, else None."""
    masked = ANKI_CLOZE_RE.sub(lambda m: " " * len(m.group(0)), masked)  # `{{c1::x::hint}}` is a cloze
    match = re.search(r"(?<!:):{2,3}(?!:)", masked)
    return (match.start(), len(match.group(0))) if match else None


def _directions(line: int, end: int, question: str, answer: str, reversed_: bool, schedule: list[ReviewState]) -> list[Flashcard]:
    cards = [Flashcard(line, end, "flashcard", question, answer, schedule=schedule[0] if schedule else None)]
    if reversed_:
        cards.append(Flashcard(line, end, "flashcard", answer, question, schedule=schedule[1] if len(schedule) > 1 else None))
    return cards


def _cloze_block(rows: list[int], lines: list[str], note: str, problems: list[Problem]) -> list[Flashcard]:
    """One card per deletion of a paragraph with `==highlights==` or `{{c1::...}}` clozes."""
    kept = [j for j in rows if not SR_COMMENT_RE.fullmatch(lines[j].strip())]
    text = "\n".join(strip_tags(SR_COMMENT_RE.sub("", lines[j])) if TAG_RE.search(lines[j]) else SR_COMMENT_RE.sub("", lines[j]).rstrip() for j in kept).strip()
    if not text:
        return []
    masked = "\n".join(mask(line) for line in text.split("\n"))
    schedule = _schedule([lines[j] for j in rows])
    for syntax in ("anki", "highlight"):
        deletions = find_deletions(text, masked, syntax)
        if unclosed(masked, syntax):
            problems.append(Problem(note, kept[0] + 1, "a cloze with no closing " + ("'}}'" if syntax == "anki" else "'=='") + "; left as text"))
            if not deletions:
                continue
        if deletions:
            return [
                Flashcard(kept[0], rows[-1] + 1, "cloze", question, answer, schedule=schedule[n] if n < len(schedule) else None)
                for n, (question, answer) in enumerate(cloze_cards(text, deletions))
            ]
    return []
