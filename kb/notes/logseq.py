"""Logseq pages: an outline of `- ` blocks, where a block tagged `#card` is a flashcard.

The card's question is the block's own text without the tag; its answer is its child blocks, nested
to any depth, as a markdown list. `{{cloze text}}` in a card block gives one card per cloze. Block
and page properties (`tags:: ml`, `card-repeats:: 3`) are metadata: never text, and the `card-*`
ones are kept as the card's review state. A card's family is the nearest heading block above it
(`- ## Losses`), else the page's title (`title::`, else the file name, `a___b` being the namespace
"a / b").

These rules apply only to notes in a Logseq graph: a folder holding `logseq/config.edn`.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from kb.notes.clozes import cloze_cards, find_deletions, unclosed
from kb.notes.flashcards import mask
from kb.notes.markdown import inline_to_text
from kb.notes.problems import Problem
from kb.notes.review_state import ReviewState, logseq_state

BULLET_RE = re.compile(r"^([ \t]*)[-*+](?:[ \t]+(.*))?$")
PROPERTY_RE = re.compile(r"^\s*([A-Za-z0-9_][\w\-/.]*)::(?:\s+(.*))?\s*$")
CARD_TAG_RE = re.compile(r"(?<!\S)(?:#card|#\[\[card\]\]|\[\[card\]\])(?![\w\-/\]])", re.IGNORECASE)
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*)$")
FENCE_RE = re.compile(r"^\s*(`{3,}|~{3,})")
CONFIG = Path("logseq") / "config.edn"


@dataclass
class Block:
    line: int  # 0-based line of its bullet
    depth: int  # indentation width of its bullet
    indent: str = ""  # what its continuation lines start with (the bullet's indentation and two spaces)
    text: list[str] = field(default_factory=list)  # its own lines, properties left out, indentation removed
    props: dict[str, str] = field(default_factory=dict)
    children: list[Block] = field(default_factory=list)
    parent: Block | None = None
    end: int = 0  # first line after the block and its children

    @property
    def heading(self) -> str | None:
        """The last heading line of its text (`- ## Losses`, or a `### Section` line under a bullet)."""
        for line in reversed(_outside_fences(self.text)):
            match = HEADING_RE.match(line)
            if match:
                return inline_to_text(match.group(2)) or None
        return None

    @property
    def tagged(self) -> bool:
        """Tagged #card in its own text (not in a code fence, inline code or a URL)."""
        return any(CARD_TAG_RE.search(mask(line)) for line in _outside_fences(self.text))


@dataclass
class LogseqCard:
    line: int
    end: int
    kind: str  # "flashcard" or "cloze"
    question: str
    answer: str
    family: str
    answer_line: int
    schedule: ReviewState | None = None


def _outside_fences(lines: list[str]) -> list[str]:
    """The lines that are neither in a code fence nor a fence line."""
    kept, fence = [], None
    for line in lines:
        if fence is None and not FENCE_RE.match(line):
            kept.append(line)
        fence = _fence_after(line, fence)
    return kept


def _front_matter(lines: list[str]) -> tuple[dict[str, str], int]:
    """`key: value` pairs of a YAML front matter block (Logseq reads it as page properties), and its length."""
    if not lines or lines[0].strip() != "---":
        return {}, 0
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            props = {}
            for line in lines[1:end]:
                match = re.match(r"^([A-Za-z0-9_][\w\-]*):\s*(.*?)\s*$", line)
                if match:
                    props[match.group(1).lower()] = match.group(2).strip("'\"")
            return props, end + 1
    return {}, 0


def graph_root(path: Path, corpus: Path) -> Path | None:
    """The Logseq graph a note belongs to: the nearest folder, up to the corpus, that holds logseq/config.edn."""
    folder = path.parent
    corpus = corpus.resolve()
    while True:
        if (folder / CONFIG).is_file():
            return folder
        if folder.resolve() == corpus or folder.parent == folder:
            return None
        folder = folder.parent


def is_graph_internal(path: Path, root: Path) -> bool:
    """A file in the graph's own `logseq/` folder (backups, version files), not a page."""
    parts = path.relative_to(root).parts
    return len(parts) > 1 and parts[0] == "logseq"


def page_title(note: str, props: dict[str, str]) -> str:
    """The page's name: its `title::` property, else the file name (`a___b` and `a%2Fb` are namespace a/b)."""
    title = props.get("title", "").strip()
    if not title:
        title = unquote(Path(note).stem.replace("___", "/"))
    return " / ".join(part.strip() for part in title.split("/") if part.strip()) or Path(note).stem


def parse_page(text: str, note: str, problems: list[Problem]) -> list[LogseqCard]:
    """Every card of one Logseq page, in line order."""
    lines = text.split("\n")
    front, skip = _front_matter(lines)
    page_props, roots = _outline(lines, skip)
    page_props = {**front, **page_props}
    if roots and not roots[0].text and roots[0].props and not roots[0].children:
        page_props = {**roots[0].props, **page_props}  # a first block of properties only is the page's
    title = page_title(note, page_props)
    cards: list[LogseqCard] = []
    for block in _walk(roots):
        if block.tagged:
            cards.extend(_cards_of(block, title, note, problems))
    return cards


def _outline(lines: list[str], start: int = 0) -> tuple[dict[str, str], list[Block]]:
    """Page properties and the tree of blocks, from line `start` on (after any front matter)."""
    page_props: dict[str, str] = {}
    roots: list[Block] = []
    stack: list[Block] = []
    current: Block | None = None
    fence: str | None = None
    for i, raw in enumerate(lines):
        if i < start:
            continue
        bullet = BULLET_RE.match(raw) if fence is None else None
        if bullet:
            depth = len(bullet.group(1).expandtabs(2))
            block = Block(i, depth, bullet.group(1) + "  ")
            while stack and stack[-1].depth >= depth:
                stack.pop().end = i
            if stack:
                block.parent = stack[-1]
                stack[-1].children.append(block)
            else:
                roots.append(block)
            stack.append(block)
            current = block
            _add_line(block, bullet.group(2) or "", fence)
            fence = _fence_after(bullet.group(2) or "", fence)
            continue
        if current is None:
            prop = PROPERTY_RE.match(raw)
            if prop:
                page_props[prop.group(1).lower()] = prop.group(2) or ""
            continue
        _add_line(current, raw.strip() if fence is None else raw.removeprefix(current.indent), fence)
        fence = _fence_after(raw, fence)
    for block in stack:
        block.end = len(lines)
    return page_props, roots


def _fence_after(line: str, fence: str | None) -> str | None:
    opener = FENCE_RE.match(line)
    if not opener:
        return fence
    mark = opener.group(1)[0]
    return None if fence == mark else (fence or mark)


def _add_line(block: Block, line: str, fence: str | None) -> None:
    prop = PROPERTY_RE.match(line) if fence is None else None
    if prop:
        block.props[prop.group(1).lower()] = prop.group(2) or ""
    elif line.strip() or block.text:
        block.text.append(line)


def _walk(blocks: list[Block]) -> Iterator[Block]:
    for block in blocks:
        yield block
        yield from _walk(block.children)


def _family(block: Block, title: str) -> str:
    parent = block.parent
    while parent is not None:
        if parent.heading:
            return parent.heading
        parent = parent.parent
    return title


def _as_list(blocks: list[Block], indent: str = "") -> list[str]:
    """Child blocks as a nested markdown list."""
    out: list[str] = []
    for block in blocks:
        text = [CARD_TAG_RE.sub("", t).rstrip() for t in block.text] or [""]
        out.append(f"{indent}- {text[0].strip()}".rstrip())
        out += [f"{indent}  {t}" if t.strip() else "" for t in text[1:]]
        out += _as_list(block.children, indent + "    ")  # four spaces: every renderer nests it (marked needs more than two)
    return out


def _cards_of(block: Block, title: str, note: str, problems: list[Problem]) -> list[LogseqCard]:
    text = "\n".join(CARD_TAG_RE.sub("", t).rstrip() for t in block.text).strip()
    text = re.sub(r"[ \t]{2,}", " ", text)
    answer = "\n".join(_as_list(block.children))
    family = _family(block, title)
    schedule = logseq_state(block.props)
    first_child = block.children[0].line if block.children else block.line
    masked = "\n".join(mask(t) for t in text.split("\n"))
    deletions = find_deletions(text, masked, "logseq")
    if unclosed(masked, "logseq"):
        problems.append(Problem(note, block.line + 1, "a cloze with no closing '}}'; left as text"))
    if deletions:
        return [
            LogseqCard(block.line, block.end, "cloze", question, "\n\n".join(p for p in (shown, answer) if p), family, block.line, schedule)
            for question, shown in cloze_cards(text, deletions)
        ]
    if not block.children:
        problems.append(Problem(note, block.line + 1, f"a #card block with no child blocks (its answer): {text[:60]!r}; skipped"))
        return []
    return [LogseqCard(block.line, block.end, "flashcard", text, answer, family, first_child, schedule)]
