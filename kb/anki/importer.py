"""An Anki package -> markdown notes in the corpus: one note per deck, media beside it, edits respected.

Layout: every deck with cards becomes one note, in folders that mirror the deck tree below the
import folder (by default `<corpus>/<deck>/`, named after the package's one top-level deck):

    Physics              -> Physics/Physics.md
    Physics::Mechanics   -> Physics/Mechanics.md
    Physics::Mechanics::Forces -> Physics/Mechanics/Forces.md

A package with several top-level decks goes to `<corpus>/<package name>/`, each deck under its full
path. The note's `#` title is the deck's own name, so it is the family of the deck's cards (a name two
decks share becomes "Parent / Name"). Each Anki card is a `### Q:` card: its card template's question
side (fields and the template's own text, kb.anki.templates) is the question, its answer side less
what the question already shows is the answer. So a note type with several templates gives several
cards ("Basic (and reversed card)": front -> back and back -> front), each for a card Anki generated
(the note's cards' `ord`s); a cloze note gives one card per cloze number. Notes from kb's own export
(`kb anki export`) map back to their Question and Answer fields.

The corpus is the source of truth: `.kb-anki/state.json` in the import folder keeps the sha256 of
every file an import wrote. A re-import rewrites a file only when it is still exactly what the last
import wrote; an edited file (or one the import never wrote) is left alone, with a warning naming it.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sized
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kb.anki.export import FIELDS as KB_FIELDS, MODEL_ID as KB_MODEL_ID
from kb.anki.html import HIDE_OPEN, LIST_MARKER_RE, cloze_numbers, escape_text, html_to_markdown, unhide
from kb.anki.package import AnkiCollection, AnkiPackage, AnkiPackageError, Note, Notetype, RevlogRow
from kb.anki.templates import cloze_fields, field_is_empty, referenced_fields, render_side
from kb.fileio import write_text_atomic
from kb.notes.corpus import clean_question, parse_note
from kb.notes.markdown import to_text
from kb.notes.note_parse import PLACEHOLDERS

STATE_DIR = ".kb-anki"
STATE_FILE = "state.json"
STATE_VERSION = 1
ImportState = dict[str, Any]  # state.json: {"version", "files": {path: {"sha256"}}, "package", "imported_at"}
UNSAFE_NAME_RE = re.compile(r"[\x00-\x1f/\\:*?\"<>|]")
MEDIA_UNSAFE_RE = re.compile(r"[\x00-\x1f/\\]")


@dataclass
class ImportedCard:
    """One card as the import wrote it, with the Anki reviews that belong to it."""

    note: str  # the note's path relative to the corpus ("" when the import folder is outside it)
    question: str  # as kb reads it (clean_question of the heading)
    line: int  # 1-based line of its `### Q:` heading
    family: str
    reviews: list[RevlogRow] = field(default_factory=list)  # answered (ease 1-4), oldest first
    anki_cards: list[int] = field(default_factory=list)  # the Anki card ids it was made from (one, or two merged)


@dataclass
class AnkiImport:
    """What `import_anki` did: files written, kept and unchanged, the cards, and every warning."""

    package: Path
    format: str  # the collection file read: collection.anki21b (current), .anki21 or .anki2 (legacy)
    folder: Path
    corpus: Path
    decks: int = 0
    written: list[Path] = field(default_factory=list)  # notes and media created or rewritten
    unchanged: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # edited since the last import (or not ours): left alone
    cards: list[ImportedCard] = field(default_factory=list)
    skipped_notes: int = 0  # Anki cards (and notes with no note type) left out; `warnings` says why
    warnings: list[str] = field(default_factory=list)
    sched_version: int = 2

    @property
    def notes(self) -> list[Path]:
        return [p for p in self.written + self.unchanged + self.kept if p.suffix == ".md"]

    @property
    def reviews(self) -> int:
        return sum(len(card.reviews) for card in self.cards)


@dataclass
class _Card:
    question: str  # one line of markdown
    answer: str
    anki_cards: list[int]  # the Anki cards it stands for: one, or two templates asking the same question
    media: list[str] = field(default_factory=list)  # media files its question and answer show


@dataclass
class _Deck:
    name: str  # "Parent::Child"
    path: Path  # the note file, relative to the import folder
    title: str = ""
    cards: list[_Card] = field(default_factory=list)
    media: list[str] = field(default_factory=list)


def import_anki(package: str | Path, corpus: str | Path, into: str | Path | None = None) -> AnkiImport:
    """Write the decks of an Anki package (.apkg, .colpkg) as markdown notes; see the module docstring."""
    corpus = Path(corpus).expanduser()
    with AnkiPackage(package) as pkg:
        col = pkg.collection
        result = AnkiImport(Path(package), col.format, Path(), corpus, sched_version=col.sched_version)
        decks = _decks(col, result)
        if not decks:
            raise AnkiPackageError(f"{package} holds no cards with text to import")
        result.folder = Path(into).expanduser() if into else corpus / _default_folder(decks, Path(package))
        _place(decks, result.folder)
        state = _read_state(result.folder, result)
        for deck in decks.values():
            _write_deck(deck, pkg, col, result, state)
        _write_state(result.folder, state, Path(package))
    result.decks = len(decks)
    return result


# ---- building the cards ---------------------------------------------------------------------------


def _is_kb_export(notetype: Notetype) -> bool:
    """kb's own export (`kb anki export`): its Family, Source and Card id fields are kb's, not answer text."""
    return notetype.id == KB_MODEL_ID or tuple(notetype.fields[: len(KB_FIELDS)]) == KB_FIELDS


def _question_line(markdown: str) -> tuple[str, bool]:
    """One heading line from a side's markdown, and whether it left out block content (code, tables).

    A table row or code line holding a hidden cloze is kept in the line: a table row as its cells
    ("Header: cell; Header: cell"), a code line in backticks.
    """
    parts, blocky, in_fence, header = [], False, False, None
    for line in markdown.split("\n"):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~~")):
            blocky, in_fence = True, not in_fence
            continue
        if in_fence:
            blocky = True
            if HIDE_OPEN in stripped:
                parts.append(f"`` {stripped} ``" if "`" in stripped else f"`{stripped}`")
            continue
        if stripped.startswith("|"):
            blocky = True
            cells = [cell.strip().replace("<br>", " ") for cell in re.split(r"(?<!\\)\|", stripped.strip("|"))]
            if all(re.fullmatch(r":?-+:?", cell) for cell in cells if cell):
                continue  # the header's separator row
            labels = [""] * len(cells) if header is None else header + [""] * len(cells)
            header = cells if header is None else header
            if HIDE_OPEN in stripped:
                parts.append("; ".join(f"{label}: {cell}" if label else cell for label, cell in zip(labels, cells, strict=False) if cell))
            continue
        header = None
        marker = LIST_MARKER_RE.match(stripped)
        text = stripped[marker.end():] if marker else stripped
        if text:
            parts.append(text.lstrip("\\") if text.startswith(("\\#", "\\>")) else text)
    question = unhide(" ".join(parts))
    question = re.sub(r"(\s)(#+)\s*$", r"\1\\\2", question)  # a closing `#` sequence would be dropped
    return question, blocky


def _reads_as_answer(markdown: str) -> bool:
    """Whether kb's note parser takes this as an answer (not empty, nor a placeholder such as `TODO`)."""
    if "![" not in markdown and "<" not in markdown and len(markdown.strip()) > max(map(len, PLACEHOLDERS)):
        return True  # words longer than any placeholder, and no image or HTML that could be all of it
    return to_text(markdown).strip().strip(".").strip().lower() not in PLACEHOLDERS


@dataclass
class _Skip:
    """Why Anki cards were left out: counts per cause, and one example of each."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, cause: str, example: str, n: int = 1) -> None:
        self.counts[cause] = self.counts.get(cause, 0) + n
        self.examples.setdefault(cause, example)


SKIP_CAUSES = {
    "occlusion": "image occlusion card(s) skipped: kb cards need a text question",
    "question": "Anki card(s) skipped: the question side shows no text or image",
    "answer": "Anki card(s) skipped: the answer side shows no text or image beyond the question (or only a placeholder such as TODO)",
    "template": "Anki card(s) skipped: their card template is no longer in the note type",
    "cloze": "Anki card(s) skipped: their cloze number is no longer in the note's text (Anki's empty cards)",
    "notetype": "Anki card(s) skipped: their note or note type is not in the package",
}


def _answer_markdown(html: str, media: list[str]) -> str:
    """The answer's markdown; an answer that is only images gets their file names as alt text, so kb keeps it."""
    found: list[str] = []
    answer = html_to_markdown(html, found)
    if found and not _reads_as_answer(answer):
        answer = html_to_markdown(html, None, images_alt_from_name=True)
    media.extend(found)
    return answer


def _question_markdown(html: str, media: list[str]) -> tuple[str, bool, str]:
    """(heading line, whether the side had blocks, its markdown) for a question side's HTML."""
    markdown = html_to_markdown(html, media, keep_hidden=True)
    question, blocky = _question_line(markdown)
    if not clean_question("Q: " + question):  # an image-only front: name the image
        question, _ = _question_line(html_to_markdown(html, None, images_alt_from_name=True, keep_hidden=True))
    return question, blocky, unhide(markdown)


def _card(note: Note, notetype: Notetype, template: tuple[str, str], values: dict[str, str], anki_card: int | None,
          cloze: int | None, number: int, skip: _Skip) -> _Card | None:
    """The kb card for one Anki card: its template's question side is the question, its answer side the answer."""
    qfmt, afmt = template
    front = render_side(qfmt, values, question=True, cloze=cloze)
    if not front.shown and not referenced_fields(qfmt) & set(notetype.fields):
        qfmt, afmt = _fallback_template(notetype)  # a template that names none of the note's fields (renamed ones)
        front = render_side(qfmt, values, question=True)
    clozes = [name for name in front.shown if name in cloze_fields(qfmt)]
    back = render_side(afmt, values, question=False, cloze=cloze, leave_out=set(front.shown) - set(clozes))
    label = f"note {note.id} ({notetype.name!r}), {'cloze' if cloze is not None else 'card'} {number}"
    media: list[str] = []
    question, blocky, front_md = _question_markdown(front.html, media) if front.shown else ("", False, "")
    if not front.shown or not clean_question("Q: " + question):
        skip.add("question", label)
        return None
    hints = "".join(f"<div>{values[name]}</div>" for name in front.hints if name not in back.shown)
    answer = _answer_markdown(back.html + hints, media)
    if blocky and not clozes:
        answer = front_md + "\n\n" + answer  # the question's code or table, which its heading line leaves out
    if not (clozes or front.hints or back.shown) or not _reads_as_answer(answer):
        skip.add("answer", f"{label}, {clean_question('Q: ' + question)[:60]!r}")
        return None
    return _Card(question, answer.strip("\n"), [anki_card] if anki_card is not None else [], media)


def _fallback_template(notetype: Notetype) -> tuple[str, str]:
    """The first field as the question, the others as the answer."""
    first, *rest = notetype.fields or [""]
    return "{{" + first + "}}", "".join("<div>{{" + name + "}}</div>" for name in rest)


def _cards_of(note: Note, notetype: Notetype, card_ids: dict[int, int], skip: _Skip) -> list[_Card]:
    """One kb card per Anki card of the note: per card template (the cards' ords), or per cloze number."""
    values = {name: (note.fields[i] if i < len(note.fields) else "") for i, name in enumerate(notetype.fields)}
    cards: list[_Card | None] = []
    if _is_kb_export(notetype):
        cards.append(_card(note, notetype, ("{{Question}}", "{{Answer}}"), values, card_ids.get(0), None, 1, skip))
    elif notetype.cloze:
        template = notetype.templates[0] if notetype.templates else ("", "")
        if not cloze_fields(template[0]):  # a cloze note type whose template lost its cloze: Anki's own default
            first = (notetype.fields or [""])[0]
            template = ("{{cloze:" + first + "}}", template[1] or "{{cloze:" + first + "}}")
        numbers = sorted({n for name in cloze_fields(template[0]) for n in cloze_numbers(values.get(name, ""))})
        cards += [_card(note, notetype, template, values, card_ids.get(n - 1), n, n, skip) for n in numbers]
        for ord_ in sorted(set(card_ids) - {n - 1 for n in numbers}):
            skip.add("cloze", f"note {note.id} ({notetype.name!r}), cloze {ord_ + 1}")
    else:
        templates = notetype.templates or [_fallback_template(notetype)]
        for ord_, card_id in sorted(card_ids.items()):
            if ord_ >= len(templates):
                skip.add("template", f"note {note.id} ({notetype.name!r}), card {ord_ + 1}")
                continue
            cards.append(_card(note, notetype, templates[ord_], values, card_id, None, ord_ + 1, skip))
    merged: list[_Card] = []
    for card in filter(None, cards):  # two templates that ask the very same question (say, two layouts): one card
        same = next((c for c in merged if c.question == card.question), None)
        if same is None:
            merged.append(card)
            continue
        if card.answer != same.answer:
            same.answer += "\n\n" + card.answer
        same.anki_cards += card.anki_cards
        same.media += card.media
    return merged


def _hidden_fields(col: AnkiCollection, used: dict[int, set[int]]) -> list[str]:
    """Warnings for note types with filled fields that no card template shows (Anki never shows them either)."""
    warnings = []
    for ntid, note_ids in used.items():
        notetype = col.notetypes[ntid]
        templates = notetype.templates[:1] if notetype.cloze else notetype.templates
        shown = set().union(*(referenced_fields(q) | referenced_fields(a) for q, a in templates))
        if _is_kb_export(notetype) or not shown & set(notetype.fields):
            continue  # kb's own export, or templates naming no field at all (every field is imported then)
        for i, name in enumerate(notetype.fields):
            if name in shown:
                continue
            filled = sum(1 for nid in note_ids if i < len(col.notes[nid].fields) and not field_is_empty(col.notes[nid].fields[i]))
            if filled:
                warnings.append(f"note type {notetype.name!r}: field {name!r} is on none of its card templates, so Anki "
                                f"never shows it; left out of {filled} note(s)")
    return warnings


def _decks(col: AnkiCollection, result: AnkiImport) -> dict[int, _Deck]:
    """The decks that hold cards, each with its cards in note order; a kb card goes to its Anki card's deck."""
    by_note: dict[int, dict[int, int]] = {}
    deck_of_card: dict[int, int] = {}
    for row in col.cards:
        by_note.setdefault(row.note, {})[row.ord] = row.id
        deck_of_card[row.id] = row.deck
    decks: dict[int, _Deck] = {}
    skip = _Skip()
    used: dict[int, set[int]] = {}
    for note_id, card_ids in by_note.items():
        note = col.notes.get(note_id)
        notetype = col.notetypes.get(note.notetype) if note else None
        if note is None or notetype is None:
            skip.add("notetype", f"note {note_id}", len(card_ids))
            continue
        if any("occlusion" in name.lower() for name in notetype.fields):
            skip.add("occlusion", f"note {note_id} ({notetype.name!r})", len(card_ids))
            continue
        used.setdefault(notetype.id, set()).add(note_id)
        for card in _cards_of(note, notetype, card_ids, skip):
            deck_id = deck_of_card[card.anki_cards[0] if card.anki_cards else min(card_ids.values())]
            deck = decks.setdefault(deck_id, _Deck(col.decks.get(deck_id, f"Deck {deck_id}"), Path()))
            deck.cards.append(card)
            deck.media.extend(card.media)
    for cause, count in skip.counts.items():
        result.warnings.append(f"{count} {SKIP_CAUSES[cause]} (e.g. {skip.examples[cause]})")
    result.warnings.extend(_hidden_fields(col, used))
    result.skipped_notes = sum(skip.counts.values())
    return {deck_id: deck for deck_id, deck in decks.items() if deck.cards}


def _file_part(name: str) -> str:
    """A deck name as a file or folder name: no separators or control characters, not hidden."""
    return UNSAFE_NAME_RE.sub("_", name).strip().lstrip(".").strip()[:120] or "deck"


def _default_folder(decks: dict[int, _Deck], package: Path) -> str:
    roots = {deck.name.split("::")[0] for deck in decks.values()}
    return _file_part(roots.pop()) if len(roots) == 1 else _file_part(package.stem)


def _place(decks: dict[int, _Deck], folder: Path) -> None:
    """Each deck's note path and title (its own name; "Parent / Name" when two decks share it)."""
    roots = {deck.name.split("::")[0] for deck in decks.values()}
    leaves: dict[str, int] = {}
    for deck in decks.values():
        leaves[deck.name.split("::")[-1]] = leaves.get(deck.name.split("::")[-1], 0) + 1
    taken: set[str] = set()
    for deck in sorted(decks.values(), key=lambda d: d.name):
        parts = [_file_part(p) for p in deck.name.split("::")]
        if len(roots) == 1 and len(parts) > 1:
            parts = parts[1:]  # the import folder is named after the one top-level deck
        path = Path(*parts[:-1], parts[-1] + ".md") if len(parts) > 1 else Path(parts[0] + ".md")
        n = 2
        while path.as_posix().lower() in taken:
            path = path.with_name(f"{parts[-1]} ({n}).md")
            n += 1
        taken.add(path.as_posix().lower())
        deck.path = path
        names = deck.name.split("::")
        deck.title = names[-1] if leaves[names[-1]] == 1 or len(names) == 1 else " / ".join(names[-2:])


# ---- writing -------------------------------------------------------------------------------------------


def _note_text(deck: _Deck) -> tuple[str, list[int]]:
    """The note's markdown and the 1-based line of each card's heading."""
    title = re.sub(r"^([#>+-])", r"\\\1", escape_text(" ".join(deck.title.split())))
    title = re.sub(r"^(\d+)([.)])", r"\1\\\2", title)  # `1. Basics` is a title, not a numbered question
    # The comment goes above the title: under it, kb would read it as the text of a title that asks ("# Why?").
    lines = [f"<!-- Imported from the Anki deck {deck.name.replace('--', '- -')!r} by `kb anki import`. "
             "A re-import rewrites this file only while it is unedited. -->", "", f"# {title}", ""]
    heading_lines = []
    for card in deck.cards:
        heading_lines.append(len(lines) + 1)
        lines += [f"### Q: {card.question}", "", *card.answer.split("\n"), ""]
    return "\n".join(lines), heading_lines


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _put(path: Path, data: bytes, folder: Path, state: ImportState, result: AnkiImport) -> bool:
    """Write `data` unless the file there was edited since the last import (or never written by one)."""
    key = path.relative_to(folder).as_posix()
    if path in result.written or path in result.unchanged or path in result.kept:
        return True  # a media file two decks in one folder share
    recorded = state["files"].get(key, {}).get("sha256")
    if path.exists():
        current = _sha256(path.read_bytes())
        if current == _sha256(data):
            state["files"][key] = {"sha256": current}
            result.unchanged.append(path)
            return True
        if recorded != current:
            why = "edited since the last import" if recorded else "not written by an import"
            result.kept.append(path)
            result.warnings.append(f"{path}: {why}; left alone (move it aside and import again to take the deck's version)")
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.kb-anki.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    state["files"][key] = {"sha256": _sha256(data)}
    result.written.append(path)
    return True


def _relative_to_corpus(path: Path, corpus: Path) -> str:
    try:
        return path.resolve().relative_to(corpus.resolve()).as_posix()
    except ValueError:
        return ""


def _write_deck(deck: _Deck, pkg: AnkiPackage, col: AnkiCollection, result: AnkiImport, state: ImportState) -> None:
    note_path = result.folder / deck.path
    text, heading_lines = _note_text(deck)
    note = _relative_to_corpus(note_path, result.corpus)
    parsed = parse_note(text, note or deck.path.name)
    read_back = {card.line_start for card in parsed.cards}
    if read_back != set(heading_lines):
        lost = set(heading_lines) - read_back
        why = "; ".join(f"line {p.line}: {p.message}" for p in parsed.problems if p.line in lost)[:300]
        result.warnings.append(f"{note_path}: kb reads {len(parsed.cards)} card(s) where the deck has {len(deck.cards)}: {why or 'check the note'}")
    elif {card.family for card in parsed.cards} != {" ".join(deck.title.split())}:
        result.warnings.append(f"{note_path}: kb reads the family as {parsed.cards[0].family!r}, not the deck's name {deck.title!r}; check the title")
    answered: dict[int, list[RevlogRow]] = {}
    for row in col.revlog:
        if 1 <= row.ease <= 4:
            answered.setdefault(row.card, []).append(row)
    for card, line in zip(deck.cards, heading_lines, strict=True):
        reviews = sorted((r for cid in card.anki_cards for r in answered.get(cid, [])), key=lambda r: r.at_ms)
        result.cards.append(ImportedCard(note, clean_question("Q: " + card.question), line, deck.title, reviews, list(card.anki_cards)))
    _put(note_path, text.encode("utf-8"), result.folder, state, result)
    unsafe: list[str] = []
    missing: list[str] = []
    for name in dict.fromkeys(deck.media):
        if MEDIA_UNSAFE_RE.search(name) or name.startswith(".") or name.lower().endswith(".md"):
            unsafe.append(name)
            continue
        data = pkg.media_bytes(name)
        if data is None:
            missing.append(name)
            continue
        _put(note_path.parent / name, data, result.folder, state, result)
    if unsafe:
        result.warnings.append(f"{note_path}: {_count(unsafe, 'media file')} not copied: a name with a folder in it, hidden or "
                               f"ending in .md (e.g. {unsafe[0]!r}); the links are kept")
    if missing:
        result.warnings.append(f"{note_path}: {_count(missing, 'media file')} the cards show are not in the package "
                               f"(e.g. {missing[0]!r}); the links are kept")


def _count(items: Sized, noun: str) -> str:
    return f"1 {noun}" if len(items) == 1 else f"{len(items)} {noun}s"


def _read_state(folder: Path, result: AnkiImport) -> ImportState:
    path = folder / STATE_DIR / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(state, dict) and isinstance(state.get("files"), dict):
            return state
        raise ValueError("no files table")
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        result.warnings.append(f"{path} is unreadable ({exc}); files already there are treated as edited")
    return {"version": STATE_VERSION, "files": {}}


def _write_state(folder: Path, state: ImportState, package: Path) -> None:
    state.update(version=STATE_VERSION, package=package.name, imported_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    write_text_atomic(folder / STATE_DIR / STATE_FILE, json.dumps(state, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
