"""The Card record and the slug rules that give every card a stable, readable id."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from kb.notes.review_state import ReviewState

MAX_SLUG_CHARS = 80


@dataclass
class WikiLink:
    """An Obsidian-style link as written in a note: [[note#heading|alias]]."""

    note: str  # "" for a link inside the same note
    heading: str  # "" for a link to a whole note
    alias: str
    line: int  # 1-based source line

    @property
    def raw(self) -> str:
        target = self.note + (f"#{self.heading}" if self.heading else "")
        return f"[[{target}{'|' + self.alias if self.alias else ''}]]"


@dataclass
class Card:
    id: str
    note: str  # path of the note relative to the corpus folder
    family: str
    question: str
    answer_md: str
    answer_text: str
    line_start: int  # 1-based, inclusive: the question line
    line_end: int  # 1-based, inclusive: last line of the answer
    kind: str = "heading"  # heading | quickfire (also Q:/A: lines) | bold | details (also question callouts) | flashcard | cloze
    links: list[WikiLink] = field(default_factory=list)
    schedule: ReviewState | None = None  # review state written by a flashcard plugin (kb.notes.review_state); never card text
    misconceptions: list[str] = field(default_factory=list)  # known wrong answers the note lists (kb.notes.misconceptions)

    @property
    def search_text(self) -> str:
        """What the embedder and the lexical index see."""
        return f"{self.question}\n{self.answer_text}"

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(self.search_text.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:  # JSON-ready
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Card:
        data = dict(data)
        data["links"] = [WikiLink(**link) for link in data.get("links", [])]
        return cls(**data)


def slugify(text: str, max_chars: int = MAX_SLUG_CHARS) -> str:
    """Lower-case ASCII words joined by '-', cut at a word boundary.

    Non-ASCII letters are folded (é -> e); text with no ASCII letters at all
    gets a short content hash so the id is still stable.
    """
    # Greek letters are common in ML questions (TD(λ)); spell them out rather than drop them.
    text = "".join(_greek_name(ch) for ch in text)
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    folded = folded.lower().replace("'", "").replace("\u2019", "")
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")
    if len(slug) > max_chars:
        slug = slug[:max_chars].rsplit("-", 1)[0]
    if not slug:
        slug = "q-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return slug


def _greek_name(ch: str) -> str:
    if "\u0370" <= ch <= "\u03ff":
        name = unicodedata.name(ch, "")
        if name.startswith("GREEK"):
            return f" {name.split()[-1].lower()} "
    return ch
