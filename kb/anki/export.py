"""kb cards -> an Anki package (.apkg) built with genanki: one note per card, one deck per family.

Each note has the fields Question, Answer, Family, Source (note and line) and Card id. Markdown is
rendered to HTML with kb's own parser settings; `$...$` becomes MathJax `\\(...\\)` and `$$...$$`
becomes `\\[...\\]` (a formula paragraph stays a `<p>`), which Anki typesets. Images the questions
and answers show from the corpus travel in the package as media. Decks: `<parent>::<family>`, the
parent named after the corpus folder unless given. GUIDs come from kb.anki.guids, so importing a newer
export into Anki updates the notes in place. `kb anki import` knows this note type and reads back
only Question and Answer (the family is the deck), so export then import gives the same cards.

genanki warns about tags it calls invalid; tags spread over lines are written on one line (the same
HTML), and whatever it still flags becomes one line in `AnkiExport.warnings` instead of stderr noise.
"""
from __future__ import annotations

import functools
import hashlib
import html as htmllib
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote

from kb.anki.guids import assign_guids
from kb.notes.cards import Card, slugify
from kb.notes.corpus import clean_question
from kb.notes.markdown import WIKI_LINK_RE, new_parser, wiki_link_text

if TYPE_CHECKING:  # imported where they are used: `kb --help` stays fast
    import genanki
    from fsrs.card import CardDict
    from markdown_it import MarkdownIt
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

MODEL_ID = 1_731_402_117  # fixed forever: Anki matches notes to this note type on re-import
MODEL_NAME = "kb card"
FIELDS = ("Question", "Answer", "Family", "Source", "Card id")
CSS = """.card { font-family: system-ui, sans-serif; font-size: 18px; line-height: 1.45; text-align: left; max-width: 46em; margin: auto; }
.kb-source { margin-top: 1.2em; font-size: 13px; color: #777; }
pre, code { font-size: 15px; } table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 2px 6px; }"""
ANSWER_TEMPLATE = '{{FrontSide}}<hr id="answer">{{Answer}}<div class="kb-source">{{Family}} · {{Source}}</div>'
OBSIDIAN_EMBED_RE = re.compile(r"!\[\[([^\[\]|#]+\.(?:png|jpe?g|gif|svg|webp|bmp))(?:\|[^\[\]]*)?\]\]", re.IGNORECASE)
IMG_SRC_RE = re.compile(r'(<img\b[^>]*?\bsrc=")([^"]+)(")', re.IGNORECASE)
HEADING_PREFIX_RE = re.compile(r"^\s{0,3}#{1,6}\s+")
CLOSING_HASHES_RE = re.compile(r"\s+#+\s*$")
BOLD_LINE_RE = re.compile(r"^\s*(\*\*|__)(.+)\1\s*$")
# An HTML tag written over several lines or with tabs (raw HTML in a note): genanki flags it, so it is
# written on one line with single spaces, which HTML reads the same.
SPREAD_TAG_RE = re.compile(r"<(/?[A-Za-z][A-Za-z0-9:-]*)(\s[^<>]*)>")
GENANKI_TAG_WARNING = "Field contained the following invalid HTML tags"


@dataclass
class AnkiExport:
    path: Path
    notes: int
    decks: list[str]
    media: int = 0
    guids_kept: int = 0  # the card's GUID of the last export, found by note and id
    guids_followed: int = 0  # found again after the card was reworded, edited or moved
    guids_new: int = 0
    warnings: list[str] = field(default_factory=list)


# ---- markdown -> Anki HTML ----------------------------------------------------------------------------


def _math_rule(display: bool, block: bool = False) -> Callable[[object, Sequence[Token], int, OptionsDict, EnvType], str]:
    def render(self: object, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        source = htmllib.escape(tokens[idx].content.strip(), quote=False)
        if block:  # a formula paragraph stays a paragraph, so a re-import reads it as one again
            return f"<p>\\[{source}\\]</p>\n"
        return f"\\[{source}\\]" if display else f"\\({source}\\)"

    return render


@functools.lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    """kb's parser settings (kb.notes.markdown.new_parser), with formulas rendered as MathJax delimiters."""
    md = new_parser(math_fixes=False)
    md.add_render_rule("math_inline", _math_rule(False))
    md.add_render_rule("math_inline_double", _math_rule(True))
    for name in ("math_block", "math_block_label"):
        md.add_render_rule(name, _math_rule(True, block=True))
    return md


def _plain_links(markdown: str) -> str:
    markdown = OBSIDIAN_EMBED_RE.sub(lambda m: f"![]({m.group(1).replace(' ', '%20')})", markdown)
    return WIKI_LINK_RE.sub(wiki_link_text, markdown)


def _one_line_tags(html: str) -> str:
    def tidy(match: re.Match[str]) -> str:
        attributes = " ".join(match.group(2).split())
        return f"<{match.group(1)}{' ' + attributes if attributes else ''}>"

    return SPREAD_TAG_RE.sub(lambda m: tidy(m) if re.search(r"[\t\n\r\f]|  ", m.group(2)) else m.group(0), html)


def render_html(markdown: str) -> str:
    return _one_line_tags(_markdown().render(_plain_links(markdown)).strip())


def render_inline(markdown: str) -> str:
    return _one_line_tags(_markdown().renderInline(_plain_links(markdown)).strip())


@functools.lru_cache(maxsize=256)
def _note_lines(path: Path, _mtime: float) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def question_markdown(card: Card, corpus: Path) -> str | None:
    """The question as written in the note (formulas and markup kept), when it reads back as the card's question."""
    path = corpus / card.note
    try:
        lines = _note_lines(path, path.stat().st_mtime)
        raw = lines[card.line_start - 1]
    except (OSError, IndexError):
        return None
    if card.kind == "heading":
        raw = CLOSING_HASHES_RE.sub("", HEADING_PREFIX_RE.sub("", raw))
    elif card.kind == "bold" and (bold := BOLD_LINE_RE.match(raw)):
        raw = bold.group(2)
    else:
        return None
    raw = re.sub(r"^\s*(\*\*|__)?\s*(?:Q|Question)\s*\d{0,4}\s*[:.)]\s*(?(1)\1)\s*", "", raw, flags=re.IGNORECASE).strip()
    return raw if raw and clean_question(raw) == card.question else None


class _Media:
    """Corpus images the answers show, under unique flat names (Anki's media folder has no sub-folders)."""

    def __init__(self, corpus: Path) -> None:
        self.corpus = corpus.resolve()
        self.names: dict[Path, str] = {}
        self.taken: set[str] = set()

    def rewrite(self, html: str, note: str) -> str:
        folder = (self.corpus / note).parent

        def replace(match: re.Match[str]) -> str:
            src = htmllib.unescape(match.group(2))
            if "://" in src or src.startswith(("data:", "/")):
                return match.group(0)
            path = (folder / unquote(src)).resolve()
            try:
                path.relative_to(self.corpus)
            except ValueError:
                return match.group(0)
            if not path.is_file():
                return match.group(0)
            if path not in self.names:
                name = path.name
                if name in self.taken:
                    name = f"{hashlib.sha256(str(path).encode()).hexdigest()[:8]}-{name}"
                self.names[path] = name
                self.taken.add(name)
            return match.group(1) + htmllib.escape(self.names[path]) + match.group(3)

        return IMG_SRC_RE.sub(replace, html)


# ---- the package --------------------------------------------------------------------------------------


def deck_id(name: str) -> int:
    """A stable deck id from the deck's name (the same deck in every export)."""
    return 1_000_000_000 + int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:12], 16) % 1_000_000_000


def _model() -> genanki.Model:
    import genanki

    return genanki.Model(
        MODEL_ID,
        MODEL_NAME,
        fields=[{"name": name} for name in FIELDS],
        templates=[{"name": "Card 1", "qfmt": "{{Question}}", "afmt": ANSWER_TEMPLATE}],
        css=CSS,
    )


def export_package(cards: Sequence[Card], chosen: Sequence[Card], corpus: Path, out: Path, parent_deck: str | None = None) -> AnkiExport:
    """Write `chosen` (a subset of `cards`, the whole corpus) to `out` as an .apkg; GUIDs are assigned to all `cards`."""
    import genanki

    corpus, out = Path(corpus), Path(out)
    assignment = assign_guids(cards, corpus)
    parent = (parent_deck or corpus.resolve().name or "kb").replace("::", ":")
    model, media = _model(), _Media(corpus)
    decks: dict[str, genanki.Deck] = {}
    sources: list[tuple[str, str]] = []  # (note:line, fields' HTML), to name the card behind a genanki warning
    for card in chosen:
        name = f"{parent}::{card.family}"
        if name not in decks:
            decks[name] = genanki.Deck(deck_id(name), name)
        question_md = question_markdown(card, corpus)
        question = media.rewrite(render_inline(question_md), card.note) if question_md else htmllib.escape(card.question)
        answer = media.rewrite(render_html(card.answer_md), card.note)
        source = f"{card.note}:{card.line_start}"
        sources.append((source, question + answer))
        tags = ["kb", slugify(card.family, 60) or "family"]
        decks[name].add_note(genanki.Note(model=model, fields=[question, answer, htmllib.escape(card.family), htmllib.escape(source), card.id],
                                          guid=assignment.guids[card.id], tags=tags))
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kb-anki-media-") as folder:
        files: list[str] = []
        for path, name in media.names.items():
            shutil.copyfile(path, Path(folder) / name)
            files.append(str(Path(folder) / name))
        tmp = out.with_name(f".{out.name}.tmp")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            genanki.Package(list(decks.values()), media_files=files).write_to_file(str(tmp), timestamp=datetime.now(timezone.utc).timestamp())
        tmp.replace(out)
    problems = list(assignment.warnings) + _genanki_warnings(caught, sources)
    return AnkiExport(out, len(chosen), list(decks), len(media.names), assignment.kept, assignment.followed, assignment.new, problems)


def _genanki_warnings(caught: list[warnings.WarningMessage], sources: list[tuple[str, str]]) -> list[str]:
    """genanki's warnings as kb's: one line for all its "invalid HTML tags" (a card named), one per other kind."""
    flagged: list[str] = []
    others: list[str] = []
    for warning in caught:
        message = " ".join(str(warning.message).split())
        if message.startswith(GENANKI_TAG_WARNING):
            flagged.append(message.split(": ", 1)[-1])
        elif message not in others:
            others.append(message)
    lines = [f"genanki: {message[:200]}" for message in others]
    if flagged:
        tag = flagged[0].split(" ")[0]
        where = next((source for source, html in sources if tag in html), "?")
        lines.append(f"{len(flagged)} card(s) hold tags genanki calls invalid HTML (e.g. {tag[:60]} in {where}); "
                     "exported as written, Anki may show them differently")
    return lines


class Progress(Protocol):
    """What `weakest` reads of a card's saved progress (kb.coach.progress.CardProgress)."""

    @property
    def last_score(self) -> int | None: ...

    @property
    def state(self) -> CardDict: ...


def weakest(cards: Sequence[Card], states: Mapping[str, Progress], n: int, retrievability: Callable[[CardDict], float]) -> list[Card]:
    """The `n` weakest cards as `kb interview --mode weakest` orders them: reviewed ones by lowest last
    score (then lowest recall chance), then never-reviewed ones in corpus order."""
    reviewed = [c for c in cards if c.id in states]
    reviewed.sort(key=lambda c: (states[c.id].last_score if states[c.id].last_score is not None else 0, retrievability(states[c.id].state)))
    unseen = [c for c in cards if c.id not in states]
    return (reviewed + unseen)[: max(0, int(n))]
