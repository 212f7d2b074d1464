"""Corpus -> cards: every note under a folder parsed, with corpus-unique ids, problems and note hashes.

Also the public entry point of note parsing: the names other modules import from `kb.notes.corpus`
(parse_note, read_note, clean_question, Problem, ...) are re-exported from the modules that define them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kb.notes.cards import Card, slugify
from kb.notes.logseq import graph_root
from kb.notes.note_parse import CARD_KINDS, PARSER_VERSION, NoteParse, parse_note
from kb.notes.notefiles import note_paths, read_note
from kb.notes.problems import Problem
from kb.notes.questions import clean_question

__all__ = [
    "CARD_KINDS",
    "PARSER_VERSION",
    "CorpusParse",
    "NoteParse",
    "Problem",
    "assign_unique_ids",
    "clean_question",
    "load_corpus",
    "note_paths",
    "note_syntax",
    "parse_note",
    "parse_note_file",
    "read_note",
]


@dataclass
class CorpusParse:
    """Every note's cards (corpus-unique ids) and problems, and each note's hash."""

    cards: list[Card]
    problems: list[Problem]
    note_hashes: dict[str, str]  # note path -> sha256 of its bytes


def load_corpus(corpus: Path, max_bytes: int = 20 * 1024 * 1024) -> CorpusParse:
    """Parse every note; problems are collected per file and never stop the rest from loading."""
    cards: list[Card] = []
    problems: list[Problem] = []
    hashes: dict[str, str] = {}
    for path in note_paths(corpus):
        note = path.relative_to(corpus).as_posix()
        parsed, hashes[note] = parse_note_file(corpus, note, max_bytes)
        cards.extend(parsed.cards)
        problems.extend(parsed.problems)
    assign_unique_ids(cards)
    return CorpusParse(cards, problems, hashes)


def note_syntax(corpus: Path, note: str) -> str:
    """"logseq" for a page inside a Logseq graph under the corpus, else "markdown"."""
    return "logseq" if graph_root(corpus / note, corpus) is not None else "markdown"


def parse_note_file(corpus: Path, note: str, max_bytes: int) -> tuple[NoteParse, str]:
    """One note file read and parsed in its syntax: its cards and problems (reading ones first), and its sha256."""
    text, read_problems, digest = read_note(corpus / note, note, max_bytes)
    result = NoteParse(problems=read_problems)
    if text is None:
        return result, digest
    try:
        parsed = parse_note(text, note, note_syntax(corpus, note))
    except Exception as exc:  # a parser bug on one note must not lose the others
        result.problems.append(Problem(note, None, f"could not be parsed ({type(exc).__name__}: {exc}); skipped"))
        return result, digest
    parsed.problems[:0] = read_problems
    return parsed, digest


def assign_unique_ids(cards: list[Card], previous: list[Card] | None = None) -> None:
    """Ids are question slugs; a repeated slug gets the note's name, then a number, in corpus order.

    With `previous` (the cards of the index being updated), a card that already had an id keeps it,
    so adding a note that repeats a question never renames an existing card (progress hangs on ids).
    """
    earlier: dict[tuple[str, str], list[str]] = {}
    for card in previous or []:
        earlier.setdefault((card.note, card.question), []).append(card.id)
    taken: set[str] = set()
    kept: dict[int, str] = {}
    for i, card in enumerate(cards):
        ids = earlier.get((card.note, card.question))
        if ids and ids[0] not in taken:
            kept[i] = ids.pop(0)
            taken.add(kept[i])
    for i, card in enumerate(cards):
        if i in kept:
            card.id = kept[i]
            continue
        base = slugify(card.question)
        candidate = base
        if candidate in taken:
            candidate = f"{slugify(Path(card.note).stem, 40)}--{base}"
        n = 2
        while candidate in taken:
            candidate = f"{base}-{n}"
            n += 1
        card.id = candidate
        taken.add(candidate)
