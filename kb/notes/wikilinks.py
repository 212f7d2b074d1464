"""Obsidian-style wiki-links: resolve [[Note#Heading|alias]] to cards, report broken ones, render them.

Matching follows Obsidian: note names match the file name without `.md` (or its path), headings
match case-insensitively with punctuation differences ignored, so `[[#Q: What is X?]]`,
`[[#what is x]]` and `[[#Q What is X]]` all reach the card whose question is "What is X?".
A heading that names a family (a section) resolves to that family's cards; a bare `[[Note]]`
resolves to the note's cards; a sub-heading inside an answer resolves to that answer's card.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from kb.notes.cards import Card, WikiLink
from kb.notes.markdown import WIKI_LINK_RE, new_parser, wiki_link_text
from kb.notes.notefiles import note_paths, read_note
from kb.notes.problems import Problem
from kb.notes.questions import clean_question

if TYPE_CHECKING:  # markdown-it is imported where it is used
    from markdown_it import MarkdownIt
    from markdown_it.rules_inline import StateInline
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

ANSWER_HEADING_RE = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")


def normalize_heading(text: str) -> str:
    """The key two headings share when Obsidian would treat them as the same link target."""
    text = clean_question(unicodedata.normalize("NFKC", text or ""))
    text = text.casefold().replace("'", "").replace("\u2019", "")
    words = re.findall(r"\w+", text)
    # Obsidian drops ':' from heading links, so "[[#Q What is X]]" means the "Q: What is X?" heading.
    if len(words) > 1 and words[0] in ("q", "question"):
        words = words[1:]
    return " ".join(words)


def normalize_note(name: str) -> str:
    name = (name or "").strip().replace("\\", "/")
    if name.lower().endswith(".md"):
        name = name[:-3]
    return name.strip("/").casefold()


@dataclass
class LinkTarget:
    """What a wiki-link points at: one card, a family (section) or a whole note."""

    kind: str  # "card" | "family" | "note"
    card_ids: list[str]  # the card, or the family's / note's cards in corpus order
    label: str  # the question, family or note name, for messages and rendering


class LinkResolver:
    """Indexes cards by note, question, family and answer sub-heading, then resolves WikiLinks."""

    def __init__(self, cards: list[Card]):
        self._notes: dict[str, str] = {}  # normalized name or path -> note path
        self._cards_of_note: dict[str, list[Card]] = {}
        self._headings: dict[tuple[str, str], LinkTarget] = {}  # (note, heading key) -> target
        for card in cards:
            self._cards_of_note.setdefault(card.note, []).append(card)
        for note, note_cards in self._cards_of_note.items():
            path = PurePosixPath(note)
            self._notes.setdefault(normalize_note(note), note)
            self._notes.setdefault(normalize_note(path.name), note)
            families: dict[str, list[str]] = {}
            for card in note_cards:
                families.setdefault(card.family, []).append(card.id)
            # Questions win over families, families over sub-headings, when two share a key.
            for card in note_cards:
                for line in card.answer_md.split("\n"):
                    m = ANSWER_HEADING_RE.match(line)
                    if m:
                        self._headings[(note, normalize_heading(m.group(1)))] = LinkTarget("card", [card.id], card.question)
            for family, ids in families.items():
                self._headings[(note, normalize_heading(family))] = LinkTarget("family", ids, family)
            for card in note_cards:
                self._headings[(note, normalize_heading(card.question))] = LinkTarget("card", [card.id], card.question)

    def note_of(self, name: str) -> str | None:
        return self._notes.get(normalize_note(name))

    def resolve(self, link: WikiLink, source_note: str) -> LinkTarget | None:
        """The target of a link written in `source_note`, or None when it points nowhere."""
        note = self.note_of(link.note) if link.note else source_note
        if note is None or note not in self._cards_of_note:
            return None
        if not link.heading:
            cards = self._cards_of_note[note]
            return LinkTarget("note", [c.id for c in cards], PurePosixPath(note).stem)
        heading = link.heading.split("#")[-1].strip()  # [[Note#Section#Sub]] means the sub-heading
        if heading.startswith("^"):  # a block reference: the card whose answer carries "^id"
            marker = re.compile(r"\s\^" + re.escape(heading[1:]) + r"\s*$", re.MULTILINE)
            found = [c for c in self._cards_of_note[note] if marker.search(c.answer_md)]
            return LinkTarget("card", [found[0].id], found[0].question) if found else None
        return self._headings.get((note, normalize_heading(heading)))

    def card_for(self, link: WikiLink, source_note: str) -> str | None:
        """One card to open for a link: the card itself, or the first card of its family / note."""
        target = self.resolve(link, source_note)
        return target.card_ids[0] if target else None

    def why_broken(self, link: WikiLink, source_note: str) -> str:
        if link.note and self.note_of(link.note) is None:
            return f"no note named {link.note!r}"
        where = self.note_of(link.note) if link.note else source_note
        return f"no question, section or heading {link.heading!r} in {where}"


def broken_links(cards: list[Card], resolver: LinkResolver | None = None) -> list[Problem]:
    """Every wiki-link in the cards' answers that resolves to nothing, with file and line."""
    resolver = resolver or LinkResolver(cards)
    problems = []
    for card in cards:
        for link in card.links:
            if resolver.resolve(link, card.note) is None:
                problems.append(Problem(card.note, link.line, f"broken wiki-link {link.raw}: {resolver.why_broken(link, card.note)}"))
    return problems


def broken_links_in_notes(corpus: str | Path, cards: list[Card], max_bytes: int = 20 * 1024 * 1024) -> list[Problem]:
    """Like broken_links, but over whole notes, so links outside any answer (a table of contents) count too.

    Links inside fenced code blocks and inline code are examples, not links, and are skipped.
    """
    resolver = LinkResolver(cards)
    problems = []
    corpus = Path(corpus)
    for path in note_paths(corpus):
        note = path.relative_to(corpus).as_posix()
        text, _read_problems, _digest = read_note(path, note, max_bytes)
        if text is None:
            continue
        fence = None
        for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
            opener = re.match(r"^\s{0,3}(`{3,}|~{3,})", line)
            if opener:
                mark = opener.group(1)[0]
                fence = None if fence == mark else (fence or mark)
                continue
            if fence:
                continue
            for m in WIKI_LINK_RE.finditer(re.sub(r"`[^`]*`", "", line)):
                link = WikiLink((m.group(1) or "").strip(), (m.group(2) or "").strip(), (m.group(3) or "").strip(), number)
                if resolver.resolve(link, note) is None:
                    problems.append(Problem(note, number, f"broken wiki-link {link.raw}: {resolver.why_broken(link, note)}"))
    return problems


# ---- markdown-it inline rule -----------------------------------------------------------------------

WIKI_INNER_RE = re.compile(r"([^\[\]|#\n]*)(?:#([^\[\]|\n]*))?(?:\|([^\[\]\n]*))?")


def _wikilink_rule(state: StateInline, silent: bool) -> bool:
    src, pos = state.src, state.pos
    if not src.startswith("[[", pos):
        return False
    end = src.find("]]", pos + 2)
    if end < 0:
        return False
    inner = src[pos + 2 : end]
    m = WIKI_INNER_RE.fullmatch(inner)
    if not m or not inner.strip():
        return False
    if not silent:
        note, heading, alias = ((g or "").strip() for g in m.groups())
        token = state.push("wikilink", "", 0)
        token.meta = {"note": note, "heading": heading, "alias": alias}
        token.content = re.sub(r"^Q:\s*", "", alias or heading or note)
    state.pos = end + 2
    return True


def wikilink_plugin(md: MarkdownIt, resolve: Callable[[WikiLink, EnvType], str | None] | None = None) -> None:
    """Parse [[...]] into `wikilink` tokens; render them as card links (`data-kb-card`) or as broken.

    `resolve(link, env)` returns a card id or None; `env` is what was passed to md.render
    (put the source note in env["note"] so [[#Heading]] resolves within it).
    """
    from html import escape

    md.inline.ruler.before("link", "wikilink", _wikilink_rule)

    def render(self: object, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType | None) -> str:
        token = tokens[idx]
        link = WikiLink(token.meta["note"], token.meta["heading"], token.meta["alias"], 0)
        card_id = resolve(link, env or {}) if resolve else None
        text = escape(token.content)
        if card_id:
            from urllib.parse import quote

            return f'<a class="kb-wikilink" href="?card={quote(card_id, safe="")}" data-kb-card="{escape(card_id)}">{text}</a>'
        return f'<span class="kb-wikilink kb-wikilink-broken" title="broken link: {escape(link.raw)}">{text}</span>'

    md.add_render_rule("wikilink", render)


def markdown_renderer(resolver: LinkResolver | None = None) -> MarkdownIt:
    """A markdown-it parser with kb's settings (kb.notes.markdown.new_parser), plus wiki-links resolved to cards.

    Render a card with `md.render(card.answer_md, {"note": card.note})`.
    """
    md = new_parser(math_fixes=False)
    resolve = (lambda link, env: resolver.card_for(link, env.get("note", ""))) if resolver else None
    wikilink_plugin(md, resolve)
    return md


# ---- the same for a markdown-to-markdown pipeline (gr.Markdown, the chat) --------------------------

PROTECTED_RE = re.compile(r"(```.*?```|~~~.*?~~~|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]*\$)", re.DOTALL)


def wikilinks_to_markdown(markdown: str, note: str, resolver: LinkResolver, href: Callable[[str], str]) -> str:
    """[[...]] as markdown links `[text](href(card_id))` to the cards they reach; broken ones as
    italic text. Code and math are left untouched. The surface decides what an address looks like."""
    def replace(match: re.Match[str]) -> str:
        link = WikiLink((match.group(1) or "").strip(), (match.group(2) or "").strip(), (match.group(3) or "").strip(), 0)
        text = wiki_link_text(match).replace("[", "\\[").replace("]", "\\]")
        card_id = resolver.card_for(link, note)
        return f"[{text}]({href(card_id)})" if card_id else f"*{text}*"

    pieces = PROTECTED_RE.split(markdown or "")
    return "".join(piece if n % 2 else WIKI_LINK_RE.sub(replace, piece) for n, piece in enumerate(pieces))
