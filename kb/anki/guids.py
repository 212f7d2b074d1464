"""Stable Anki note GUIDs for kb cards, kept in `<corpus>/.kb/anki-guids.json`.

Anki recognises a note it already has by its GUID: same GUID, the note is updated; a new GUID, a
duplicate is added. A kb card id is a slug of the question, so it changes when the question is
reworded; the GUID must not. So each exported card's GUID is remembered beside the notes (the
corpus is what users keep and version; the index is a cache that may be deleted), together with
what the card looked like then: note, id, question, a hash of the answer, line. On the next export
every card finds its previous self, in this order:

1. same note and same id (the question is unchanged);
2. same note and same question, then same note and same answer (the question was reworded);
3. same note and a similar question (difflib ratio >= 0.6; both wording and answer were edited);
4. same question, then same answer, in another note (the card moved).

A card with no previous self gets `genanki.guid_for("kb", note, card id)`: deterministic, so a lost
sidecar still gives unchanged cards their old GUIDs. Entries of cards that disappeared are kept, so
a card deleted and restored gets its GUID back.
"""
from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.fileio import write_text_atomic
from kb.notes.cards import Card

GUID_FILE = Path(".kb") / "anki-guids.json"
GUID_VERSION = 1
SIMILAR_QUESTION = 0.6
MAX_FUZZY_PAIRS = 200_000  # unmatched cards x unmatched entries in one note beyond which step 3 is skipped

Entry = dict[str, Any]  # one card as last exported, read back from JSON (so any value may be there)
Take = Callable[[Card, str], None]  # give this card that GUID


@dataclass
class GuidAssignment:
    guids: dict[str, str]  # card id -> GUID
    kept: int = 0  # found by note and id
    followed: int = 0  # found after an edit or a move
    new: int = 0
    warnings: list[str] = field(default_factory=list)


def _answer_hash(card: Card) -> str:
    return hashlib.sha256(card.answer_md.strip().encode("utf-8")).hexdigest()[:16]


def _entry(card: Card) -> Entry:
    return {"note": card.note, "id": card.id, "question": card.question, "answer": _answer_hash(card), "line": card.line_start}


def _card_keys(card: Card) -> dict[str, tuple[object, ...]]:
    return {
        "note_question": (card.note, card.question),
        "note_answer": (card.note, _answer_hash(card)),
        "question": (card.question,),
        "answer": (_answer_hash(card),),
    }


def _entry_keys(entry: Entry) -> dict[str, tuple[object, ...]]:
    return {
        "note_question": (entry.get("note"), entry.get("question")),
        "note_answer": (entry.get("note"), entry.get("answer")),
        "question": (entry.get("question"),),
        "answer": (entry.get("answer"),),
    }


def match_guids(cards: Sequence[Card], entries: dict[str, Entry]) -> GuidAssignment:
    """Each card's GUID: its previous self's among `entries` (GUID -> entry), else a new one."""
    import genanki

    result = GuidAssignment({})
    free = dict(entries)
    todo = list(cards)

    def take(card: Card, guid: str, how: str) -> None:
        result.guids[card.id] = guid
        del free[guid]
        setattr(result, how, getattr(result, how) + 1)

    by_id = {(e.get("note"), e.get("id")): g for g, e in free.items()}
    for card in todo:
        guid = by_id.get((card.note, card.id))
        if guid in free:
            take(card, guid, "kept")
    for key in ("note_question", "note_answer"):
        _exact_pass([c for c in todo if c.id not in result.guids], free, key, lambda c, g: take(c, g, "followed"))
    _fuzzy_pass([c for c in todo if c.id not in result.guids], free, lambda c, g: take(c, g, "followed"))
    for key in ("question", "answer"):
        _exact_pass([c for c in todo if c.id not in result.guids], free, key, lambda c, g: take(c, g, "followed"))
    used = set(entries) | set(result.guids.values())
    for card in todo:
        if card.id in result.guids:
            continue
        guid, n = genanki.guid_for("kb", card.note, card.id), 2
        while guid in used:
            guid, n = genanki.guid_for("kb", card.note, card.id, n), n + 1
        used.add(guid)
        result.guids[card.id] = guid
        result.new += 1
    return result


def _exact_pass(cards: list[Card], free: dict[str, Entry], key: str, take: Take) -> None:
    index: dict[tuple[object, ...], list[str]] = {}
    for guid, entry in free.items():
        index.setdefault(_entry_keys(entry)[key], []).append(guid)
    for card in cards:
        for guid in index.get(_card_keys(card)[key], []):
            if guid in free:
                take(card, guid)
                break


def _fuzzy_pass(cards: list[Card], free: dict[str, Entry], take: Take) -> None:
    """Same note, similar question: the best pairs first."""
    by_note: dict[object, list[str]] = {}  # keyed by what the JSON says
    for guid, entry in free.items():
        by_note.setdefault(entry.get("note"), []).append(guid)
    pairs: list[tuple[float, int, Card, str]] = []
    for card in cards:
        guids = by_note.get(card.note, [])
        if len(guids) * len(cards) > MAX_FUZZY_PAIRS:
            continue
        for guid in guids:
            ratio = difflib.SequenceMatcher(None, card.question.lower(), str(free[guid].get("question", "")).lower()).ratio()
            if ratio >= SIMILAR_QUESTION:
                pairs.append((ratio, card.line_start, card, guid))
    done: set[str] = set()
    for _ratio, _line, card, guid in sorted(pairs, key=lambda p: (-p[0], p[1])):
        if card.id not in done and guid in free:
            take(card, guid)
            done.add(card.id)


def load_entries(corpus: Path) -> tuple[dict[str, Entry], list[str]]:
    path = Path(corpus) / GUID_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data.get("cards") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            raise ValueError("no cards table")
        return {str(g): e for g, e in entries.items() if isinstance(e, dict)}, []
    except FileNotFoundError:
        return {}, []
    except (OSError, ValueError) as exc:
        return {}, [f"{path} is unreadable ({exc}); GUIDs were derived from note and card id"]


def assign_guids(cards: Sequence[Card], corpus: Path) -> GuidAssignment:
    """GUIDs for every card of the corpus (all of them, so a partial export never loses the others')."""
    entries, warnings = load_entries(corpus)
    result = match_guids(cards, entries)
    result.warnings += warnings
    by_id = {card.id: card for card in cards}
    for card_id, guid in result.guids.items():
        entries[guid] = _entry(by_id[card_id])
    try:
        write_text_atomic(Path(corpus) / GUID_FILE,
                          json.dumps({"version": GUID_VERSION, "cards": entries}, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    except OSError as exc:
        result.warnings.append(f"could not save {Path(corpus) / GUID_FILE} ({exc}); the next export matches cards again from note and id")
    return result
