"""Notes -> cards. One card per question; the rules are about markdown shapes, not about one note.

A question is any of:
  * a heading starting with "Q:" / "Question:", or numbered ("12) ...", "12. ..."),
    or ending in "?" and followed by its own text;
  * a paragraph starting with a bold "Q:" (quick-fire: `**Q: ...?** answer`);
  * a `<details><summary>question</summary> answer </details>` block;
  * a bold-only line (`**What is X? ⭐️**`) in a note written in that style.
Its family is the nearest heading above it that is not itself a question. Everything
inside an answer (headings in a <details> block, deeper headings, code fences) stays in it.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .cards import Card, WikiLink, slugify
from .markdown import WIKI_LINK_RE, inline_to_text, parser, to_text

Q_PREFIX_RE = re.compile(r"^\s*(?:Q|Question)\s*[:.]\s*", re.IGNORECASE)
NUMBERED_RE = re.compile(r"^\s*\d{1,4}\s*[.)]\s+(?=\S)")
QUICKFIRE_RE = re.compile(r"^\s*(\*\*|__)\s*(?:Q|Question)\s*[:.]\s*(.+?)\s*\1(.*)$", re.IGNORECASE)
BOLD_ONLY_RE = re.compile(r"^\s*(\*\*|__)(?=\S)(.+?)\1\s*(\S{0,3})\s*$")
SUMMARY_RE = re.compile(r"<summary[^>]*>(.*?)</summary>", re.IGNORECASE | re.DOTALL)
TOC_HEADING_RE = re.compile(r"^(table of contents|contents|toc|index)$", re.IGNORECASE)
TRAILING_JUNK_RE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,}|<br\s*/?>|&nbsp;|</?p>)\s*$", re.IGNORECASE)
PLACEHOLDERS = {"", "!", "?", "-", "...", "…", "answer here", "answer", "todo", "tbd", "tba", "coming soon", "wip"}


@dataclass
class Problem:
    """Something wrong in a note, with where it is. Nothing is dropped silently."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass
class NoteParse:
    cards: list[Card] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    placeholders: int = 0


@dataclass
class CorpusParse:
    cards: list[Card]
    problems: list[Problem]
    note_hashes: dict[str, str]  # note path -> sha256 of its bytes


@dataclass
class _Heading:
    line: int  # 0-based
    level: int
    text: str
    in_details: bool
    has_body: bool = False


@dataclass
class _Question:
    line: int  # 0-based line of the question
    body_start: int  # first 0-based line of the answer
    kind: str
    text: str
    level: int = 0  # heading level for heading questions
    end_limit: int | None = None  # hard end (exclusive) for details blocks
    first_answer_line: str | None = None  # quick-fire: the answer text after the bold question


def clean_question(raw: str) -> str:
    """Question text without 'Q:', numbering, markup, difficulty emoji or stray spacing."""
    text = inline_to_text(raw)
    text = Q_PREFIX_RE.sub("", text)
    text = NUMBERED_RE.sub("", text)
    # Difficulty markers and decorations: emoji, variation selectors, zero-width joiners.
    kept = [ch for ch in text if unicodedata.category(ch) not in ("So", "Sk", "Cf", "Mn") or ch in "^`"]
    text = "".join(kept)
    text = text.replace("\u00a0", " ").replace("\u200a", " ")
    text = re.sub(r"\s+", " ", text).strip()
    # A stray letter glued after the emoji (`metric? ‍⭐️I`) is noise, not part of the question.
    text = re.sub(r"\?\s*[A-Za-z]$", "?", text)
    return text


def _is_placeholder(answer_text: str) -> bool:
    return answer_text.strip().strip(".").strip().lower() in PLACEHOLDERS


def _details_events(tokens, lines: list[str]):
    """(line, +1/-1, summary text, summary line) for every <details> open/close in html."""
    events = []
    for token in tokens:
        if token.type not in ("html_block", "html_inline") or token.map is None:
            continue
        start = token.map[0]
        block = "\n".join(lines[token.map[0] : token.map[1]])
        for match in re.finditer(r"<details\b[^>]*>|</details\s*>", block, re.IGNORECASE):
            line = start + block.count("\n", 0, match.start())
            if match.group(0).startswith("</"):
                events.append((line, -1, None, None))
            else:
                summary = SUMMARY_RE.search(block, match.end())
                text, sline = None, None
                if summary and not re.search(r"<details\b", block[match.end() : summary.start()], re.IGNORECASE):
                    text = summary.group(1)
                    sline = start + block.count("\n", 0, summary.end())
                events.append((line, +1, text, sline))
    return events


def parse_note(text: str, note: str = "note.md") -> NoteParse:
    """Split one note into cards. Pure: text in, cards and problems out."""
    result = NoteParse()
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    tokens = parser().parse(text)

    # --- details regions: (open line, close line, summary, summary line)
    details: list[tuple[int, int, str | None, int | None]] = []
    stack: list[tuple[int, str | None, int | None]] = []
    for line, delta, summary, sline in sorted(_details_events(tokens, lines), key=lambda e: e[0]):
        if delta > 0:
            stack.append((line, summary, sline))
        elif stack:
            open_line, summary, sline = stack.pop()
            if not stack:  # only top-level blocks are questions; nested ones are answer text
                details.append((open_line, line, summary, sline))
    for open_line, summary, sline in stack:
        result.problems.append(Problem(note, open_line + 1, "<details> block is never closed; it runs to the end of the note"))
        if not any(d[0] < open_line for d in details if d[1] >= len(lines)):
            details.append((open_line, len(lines), summary, sline))

    def in_details(line: int) -> bool:
        return any(start <= line <= end for start, end, _, _ in details)

    # --- headings and candidate paragraphs (top level only)
    headings: list[_Heading] = []
    bold_candidates: list[tuple[int, int, str]] = []
    quickfire: list[_Question] = []
    for i, token in enumerate(tokens):
        if token.map is None:
            continue
        start, end = token.map
        if token.type == "heading_open":
            headings.append(_Heading(start, int(token.tag[1]), tokens[i + 1].content, in_details(start)))
        elif token.type == "paragraph_open" and token.level == 0 and not in_details(start):
            for offset, raw in enumerate(lines[start:end]):
                qf = QUICKFIRE_RE.match(raw)
                if qf:
                    quickfire.append(_Question(start + offset, start + offset + 1, "quickfire", qf.group(2), first_answer_line=qf.group(3).strip()))
            bold = BOLD_ONLY_RE.match(tokens[i + 1].content) if end - start == 1 else None
            if bold and not QUICKFIRE_RE.match(lines[start]):
                bold_candidates.append((start, end, bold.group(2)))

    outside = [h for h in headings if not h.in_details]
    for idx, heading in enumerate(outside):
        next_line = outside[idx + 1].line if idx + 1 < len(outside) else len(lines)
        heading.has_body = any(l.strip() for l in lines[heading.line + 1 : next_line])

    def heading_is_question(h: _Heading) -> bool:
        raw = h.text.strip()
        if Q_PREFIX_RE.match(raw) or NUMBERED_RE.match(raw):
            return True
        plain = clean_question(raw)
        return plain.endswith("?") and h.has_body

    questions: list[_Question] = [
        _Question(h.line, h.line + 1, "heading", h.text, level=h.level) for h in outside if heading_is_question(h)
    ]

    def heading_answer_end(q: _Question) -> int:
        for h in outside:
            if h.line > q.line and h.level <= q.level:
                return h.line
        return len(lines)

    # Bold lines inside a heading question's answer are emphasis, not questions.
    heading_spans = [(q.line, heading_answer_end(q)) for q in questions]
    bold_candidates = [c for c in bold_candidates if not any(s < c[0] < e for s, e in heading_spans)]
    bold_style = len(bold_candidates) >= 3 and sum(clean_question(c[2]).endswith("?") for c in bold_candidates) * 2 >= len(bold_candidates)
    for start, end, raw in bold_candidates:
        if bold_style or clean_question(raw).endswith("?"):
            questions.append(_Question(start, end, "bold", raw))

    questions.extend(quickfire)
    for open_line, close_line, summary, sline in details:
        if summary is not None and inline_to_text(summary).strip():
            questions.append(_Question(open_line, (sline or open_line) + 1, "details", summary, end_limit=close_line))

    questions.sort(key=lambda q: q.line)
    title = next((h.text for h in outside if h.level == 1), Path(note).stem)

    def family_of(q: _Question) -> str | None:
        limit = q.level if q.kind == "heading" else 99
        for h in reversed(outside):
            if h.line < q.line and h.level < limit and not heading_is_question(h):
                return inline_to_text(h.text)
        return inline_to_text(title)

    def family_level(q: _Question) -> int:
        for h in reversed(outside):
            if h.line < q.line and not heading_is_question(h):
                return h.level
        return 0

    starts = [q.line for q in questions]
    seen_ids: dict[str, int] = {}
    for n, q in enumerate(questions):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        if q.end_limit is not None:
            end = min(end, q.end_limit)
        if q.kind == "heading":
            end = min(end, heading_answer_end(q))
        elif q.end_limit is None:
            level = family_level(q)
            for h in outside:
                if h.line > q.line and (level == 0 or h.level <= level):
                    end = min(end, h.line)
                    break
        family = family_of(q)
        if TOC_HEADING_RE.match((family or "").strip()):
            continue
        body = lines[q.body_start : end]
        if q.first_answer_line is not None:
            body = [q.first_answer_line] + body
        while body and (not body[-1].strip() or TRAILING_JUNK_RE.match(body[-1])):
            body.pop()
        lead = 0
        while lead < len(body) and not body[lead].strip():
            lead += 1
        answer_md = "\n".join(body[lead:])
        answer_text = to_text(answer_md)
        question = clean_question(q.text)
        line_start = q.line + 1
        line_end = max(line_start, q.body_start + lead + len(body[lead:]) - (1 if q.first_answer_line is not None else 0))
        if not question:
            result.problems.append(Problem(note, line_start, "question marker with no question text; skipped"))
            continue
        if _is_placeholder(answer_text):
            result.placeholders += 1
            result.problems.append(Problem(note, line_start, f"placeholder answer for {question!r}; not indexed"))
            continue
        card_id = slugify(question)
        if card_id in seen_ids:
            result.problems.append(
                Problem(note, line_start, f"duplicated question {question!r} (first at line {seen_ids[card_id]}); kept as a separate card")
            )
        seen_ids.setdefault(card_id, line_start)
        links = []
        for offset, raw in enumerate(answer_md.split("\n")):
            for m in WIKI_LINK_RE.finditer(raw):
                links.append(WikiLink((m.group(1) or "").strip(), (m.group(2) or "").strip(), (m.group(3) or "").strip(), q.body_start + lead + offset + 1))
        result.problems.extend(_math_problems(answer_md, note, q.body_start + lead + 1))
        result.cards.append(
            Card(
                id=card_id,
                note=note,
                family=family or Path(note).stem,
                question=question,
                answer_md=answer_md,
                answer_text=answer_text,
                line_start=line_start,
                line_end=line_end,
                kind=q.kind,
                links=links,
            )
        )
    if not result.cards and not result.placeholders:
        result.problems.append(
            Problem(note, None, "no questions found (looked for '### Q:' or '?' headings, '**Q: ...**' lines, bold question lines and <details><summary> blocks)")
        )
    return result


def _math_problems(answer_md: str, note: str, first_line: int) -> list[Problem]:
    """A `$` the math parser did not pair up is probably a broken formula (prices like $5 are fine)."""
    problems = []
    for token in parser().parse(answer_md):
        if token.type != "inline" or "$" not in token.content:
            continue
        for child in token.children or []:
            if child.type == "text" and re.search(r"(?<!\\)\$(?!\d)", child.content):
                line = first_line + (token.map[0] if token.map else 0)
                problems.append(Problem(note, line, "unbalanced $ in a formula; it is shown as plain text"))
                break
    return problems


def read_note(path: Path, note: str, max_bytes: int) -> tuple[str | None, list[Problem], str]:
    """Read a note's bytes safely. Returns (text or None when unusable, problems, sha256)."""
    problems: list[Problem] = []
    try:
        size = path.stat().st_size
        if size > max_bytes:
            digest = hashlib.sha256(f"{size}:{path.stat().st_mtime_ns}".encode()).hexdigest()
            mb = size / 1_048_576
            problems.append(Problem(note, None, f"file is {mb:.1f} MB, over the {max_bytes / 1_048_576:.0f} MB limit (KB_MAX_NOTE_BYTES); skipped"))
            return None, problems, digest
        data = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(note, None, f"cannot be read: {exc.strerror or exc}"))
        return None, problems, ""
    digest = hashlib.sha256(data).hexdigest()
    if not data.strip():
        problems.append(Problem(note, None, "empty file; nothing to index"))
        return None, problems, digest
    if b"\x00" in data[:8192]:
        problems.append(Problem(note, None, "binary file (NUL bytes), not a markdown note; skipped"))
        return None, problems, digest
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problems.append(Problem(note, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); undecodable bytes shown as \ufffd"))
        text = data.decode("utf-8", errors="replace")
    return text, problems, digest


def note_paths(corpus: Path) -> list[Path]:
    """Every *.md under the corpus, recursively, sorted; hidden folders (.obsidian, .trash) skipped."""
    root = corpus.resolve()
    found = []
    for path in sorted(corpus.rglob("*.md")):
        rel = path.relative_to(corpus)
        if any(part.startswith(".") for part in rel.parts):
            continue
        try:
            path.resolve().relative_to(root)
        except ValueError:
            continue  # a symlink pointing outside the corpus is not followed
        if path.is_file():
            found.append(path)
    return found


def load_corpus(corpus: Path, max_bytes: int = 20 * 1024 * 1024) -> CorpusParse:
    """Parse every note; problems are collected per file and never stop the rest from loading."""
    cards: list[Card] = []
    problems: list[Problem] = []
    hashes: dict[str, str] = {}
    for path in note_paths(corpus):
        note = path.relative_to(corpus).as_posix()
        text, read_problems, digest = read_note(path, note, max_bytes)
        problems.extend(read_problems)
        hashes[note] = digest
        if text is None:
            continue
        try:
            parsed = parse_note(text, note)
        except Exception as exc:  # a parser bug on one note must not lose the others
            problems.append(Problem(note, None, f"could not be parsed ({type(exc).__name__}: {exc}); skipped"))
            continue
        cards.extend(parsed.cards)
        problems.extend(parsed.problems)
    assign_unique_ids(cards)
    return CorpusParse(cards, problems, hashes)


def assign_unique_ids(cards: list[Card]) -> None:
    """Ids are question slugs; a repeated slug gets the note's name, then a number, in corpus order."""
    taken: set[str] = set()
    for card in cards:
        base = card.id
        candidate = base
        if candidate in taken:
            candidate = f"{slugify(Path(card.note).stem, 40)}--{base}"
        n = 2
        while candidate in taken:
            candidate = f"{base}-{n}"
            n += 1
        card.id = candidate
        taken.add(candidate)
