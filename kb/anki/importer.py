"""An Anki package -> markdown notes in the corpus: one note per deck, media beside it, edits respected.

Layout: every deck with cards becomes one note, in folders that mirror the deck tree below the
import folder (by default `<corpus>/<deck>/`, named after the package's one top-level deck):

    Physics              -> Physics/Physics.md
    Physics::Mechanics   -> Physics/Mechanics.md
    Physics::Mechanics::Forces -> Physics/Mechanics/Forces.md

A package with several top-level decks goes to `<corpus>/<package name>/`, each deck under its full
path. The note's `#` title is the deck's own name, so it is the family of the deck's cards (a name two
decks share becomes "Parent / Name"). Each Anki note is a `### Q:` card: the front fields are the
question, the back fields the answer; a cloze note is one card per cloze number.

The corpus is the source of truth: `.kb-anki/state.json` in the import folder keeps the sha256 of
every file an import wrote. A re-import rewrites a file only when it is still exactly what the last
import wrote; an edited file (or one the import never wrote) is left alone, with a warning naming it.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from kb.anki.html import LIST_MARKER_RE, cloze_numbers, cloze_sides, escape_text, html_to_markdown
from kb.anki.package import AnkiCollection, AnkiPackage, AnkiPackageError, Note, Notetype, RevlogRow
from kb.fileio import write_text_atomic
from kb.notes.parse import clean_question, parse_note

STATE_DIR = ".kb-anki"
STATE_FILE = "state.json"
STATE_VERSION = 1
FIELD_REF_RE = re.compile(r"\{\{([^{}]+)\}\}")
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
    skipped_notes: int = 0
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
    anki_cards: list[int]


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


def _field_refs(template: str) -> list[tuple[str, str]]:
    """(field name, filters) of every field a card template shows; conditionals and type-in boxes are not shown."""
    refs = []
    for raw in FIELD_REF_RE.findall(template or ""):
        raw = raw.strip()
        if not raw or raw[0] in "#^/!":
            continue
        *filters, name = [part.strip() for part in raw.split(":")]
        refs.append((name, ":".join(filters).lower()))
    return refs


def _sides(notetype: Notetype) -> tuple[list[int], list[int], list[int]]:
    """Indexes of the question fields, the answer fields and (cloze notes) the cloze fields."""
    names = notetype.fields
    qfmt, afmt = notetype.templates[0] if notetype.templates else ("", "")
    q_refs, a_refs = _field_refs(qfmt), _field_refs(afmt)
    cloze = [names.index(n) for n, f in q_refs if n in names and "cloze" in f.split(":")]
    question = [names.index(n) for n, f in q_refs if n in names and "type" not in f.split(":") and names.index(n) not in cloze]
    answer = [names.index(n) for n, _ in a_refs if n in names and names.index(n) not in question + cloze]
    if notetype.cloze:
        cloze = cloze or [0]
        answer = answer or [i for i in range(1, len(names)) if i not in question]
        return [], list(dict.fromkeys(answer)), cloze[:1]
    if not question:
        question, answer = [0], list(range(1, len(names)))
    return list(dict.fromkeys(question)), list(dict.fromkeys(answer or [i for i in range(len(names)) if i not in question])), []


def _field(note: Note, index: int) -> str:
    return note.fields[index] if index < len(note.fields) else ""


def _question_line(markdown: str) -> tuple[str, bool]:
    """One heading line from a side's markdown, and whether it left out block content (code, tables)."""
    parts, blocky, in_fence = [], False, False
    for line in markdown.split("\n"):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~~")):
            blocky, in_fence = True, not in_fence
            continue
        if in_fence or stripped.startswith("|"):
            blocky = True
            continue
        marker = LIST_MARKER_RE.match(stripped)
        text = stripped[marker.end():] if marker else stripped
        if text:
            parts.append(text.lstrip("\\") if text.startswith(("\\#", "\\>")) else text)
    question = " ".join(parts)
    question = re.sub(r"(\s)(#+)\s*$", r"\1\\\2", question)  # a closing `#` sequence would be dropped
    return question, blocky


def _cards_of(note: Note, notetype: Notetype, card_ids: dict[int, int], media: list[str]) -> list[_Card]:
    question_fields, answer_fields, cloze_fields = _sides(notetype)
    back = [html_to_markdown(_field(note, i), media) for i in answer_fields]
    back = [part for part in back if part.strip()]
    if cloze_fields:
        text = _field(note, cloze_fields[0])
        cards = []
        for number in cloze_numbers(text):
            hidden, shown = cloze_sides(text, number)
            question, _ = _question_line(html_to_markdown(hidden, media))
            answer = "\n\n".join([html_to_markdown(shown)] + back)
            cards.append(_Card(question, answer, [card_ids[number - 1]] if number - 1 in card_ids else []))
        return cards
    front_md = [html_to_markdown(_field(note, i), media) for i in question_fields]
    front_md = [part for part in front_md if part.strip()]
    question, blocky = _question_line("\n".join(front_md))
    if not clean_question("Q: " + question):  # an image-only front: name the image
        question, _ = _question_line("\n".join(html_to_markdown(_field(note, i), None, images_alt_from_name=True) for i in question_fields))
    answer = "\n\n".join((front_md if blocky else []) + back)
    return [_Card(question, answer, [card_ids[0]] if 0 in card_ids else [])]


def _decks(col: AnkiCollection, result: AnkiImport) -> dict[int, _Deck]:
    """The decks that hold cards, each with its cards in note order."""
    by_note: dict[int, dict[int, int]] = {}
    deck_of_note: dict[int, int] = {}
    for card in col.cards:
        by_note.setdefault(card.note, {})[card.ord] = card.id
        deck_of_note.setdefault(card.note, card.deck)  # a note's cards may sit in several decks: its first card's
    decks: dict[int, _Deck] = {}
    skipped = 0
    for note_id, card_ids in by_note.items():
        note = col.notes.get(note_id)
        notetype = col.notetypes.get(note.notetype) if note else None
        if note is None or notetype is None or any("occlusion" in name.lower() for name in notetype.fields):
            skipped += 1  # image occlusion notes have no text question
            continue
        deck_id = deck_of_note[note_id]
        deck = decks.setdefault(deck_id, _Deck(col.decks.get(deck_id, f"Deck {deck_id}"), Path()))
        for card in _cards_of(note, notetype, card_ids, deck.media):
            if not clean_question("Q: " + card.question) or not card.answer.strip():
                skipped += 1
                continue
            deck.cards.append(card)
    if skipped:
        result.warnings.append(f"{skipped} Anki note(s) or cloze(s) with no question or no answer text were skipped (image occlusion notes too)")
    result.skipped_notes = skipped
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
    lines = [f"# {title}", "", f"<!-- Imported from the Anki deck {deck.name.replace('--', '- -')!r} by `kb anki import`. "
             "A re-import rewrites this file only while it is unedited. -->", ""]
    heading_lines = []
    for card in deck.cards:
        heading_lines.append(len(lines) + 1)
        lines += [f"### Q: {card.question}", "", *card.answer.split("\n"), ""]
    return "\n".join(lines), heading_lines


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _put(path: Path, data: bytes, folder: Path, state: dict, result: AnkiImport) -> bool:
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


def _write_deck(deck: _Deck, pkg: AnkiPackage, col: AnkiCollection, result: AnkiImport, state: dict) -> None:
    note_path = result.folder / deck.path
    text, heading_lines = _note_text(deck)
    note = _relative_to_corpus(note_path, result.corpus)
    parsed = parse_note(text, note or deck.path.name)
    read_back = {card.line_start for card in parsed.cards}
    if read_back != set(heading_lines):
        result.warnings.append(f"{note_path}: kb reads {len(parsed.cards)} card(s) where the deck has {len(deck.cards)}; check the note")
    elif {card.family for card in parsed.cards} != {" ".join(deck.title.split())}:
        result.warnings.append(f"{note_path}: kb reads the family as {parsed.cards[0].family!r}, not the deck's name {deck.title!r}; check the title")
    answered = {}
    for row in col.revlog:
        if 1 <= row.ease <= 4:
            answered.setdefault(row.card, []).append(row)
    for card, line in zip(deck.cards, heading_lines):
        reviews = sorted((r for cid in card.anki_cards for r in answered.get(cid, [])), key=lambda r: r.at_ms)
        result.cards.append(ImportedCard(note, clean_question("Q: " + card.question), line, deck.title, reviews))
    _put(note_path, text.encode("utf-8"), result.folder, state, result)
    for name in dict.fromkeys(deck.media):
        if MEDIA_UNSAFE_RE.search(name) or name.startswith(".") or name.lower().endswith(".md"):
            result.warnings.append(f"{note_path}: media file {name!r} has a name kb does not copy; its link is kept")
            continue
        data = pkg.media_bytes(name)
        if data is None:
            result.warnings.append(f"{note_path}: media file {name!r} is not in the package; its link is kept")
            continue
        _put(note_path.parent / name, data, result.folder, state, result)


def _read_state(folder: Path, result: AnkiImport) -> dict:
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


def _write_state(folder: Path, state: dict, package: Path) -> None:
    state.update(version=STATE_VERSION, package=package.name, imported_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    write_text_atomic(folder / STATE_DIR / STATE_FILE, json.dumps(state, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
