"""The Card record and the slug rules that give every card a stable, readable id."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass, field

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
    kind: str = "heading"  # heading | quickfire | qa | bold | details | callout
    links: list[WikiLink] = field(default_factory=list)

    @property
    def search_text(self) -> str:
        """What the embedder and the lexical index see."""
        return f"{self.question}\n{self.answer_text}"

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(self.search_text.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Card":
        data = dict(data)
        data["links"] = [WikiLink(**link) for link in data.get("links", [])]
        return cls(**data)


def slugify(text: str, max_chars: int = MAX_SLUG_CHARS) -> str:
    """Lower-case words joined by '-', cut at a word boundary.

    Latin letters are folded to ASCII (é -> e); letters of scripts with no ASCII form (Cyrillic,
    CJK, ...) are kept, so a Russian or Chinese note still gets readable ids. Text with no letters
    or digits at all gets a short content hash so the id is still stable.
    """
    # Greek letters are common in ML questions (TD(λ)); spell them out rather than drop them.
    text = "".join(_greek_name(ch) for ch in text)
    text = unicodedata.normalize("NFC", text).replace("'", "").replace("\u2019", "")  # what's -> whats
    folded = "".join(_fold(ch) for ch in text).lower()
    slug = re.sub(r"[^\w]+|_", "-", folded).strip("-")
    if len(slug) > max_chars:
        slug = slug[:max_chars].rsplit("-", 1)[0]
    if not slug:
        slug = "q-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return slug


def _fold(ch: str) -> str:
    """ASCII for a character that has one (é -> e, ﬁ -> fi); other letters and digits as they are."""
    if ch.isascii():
        return ch
    ascii_form = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode("ascii")
    if ascii_form:
        return ascii_form
    return ch if ch.isalnum() else " "


def _greek_name(ch: str) -> str:
    if "\u0370" <= ch <= "\u03ff":
        name = unicodedata.name(ch, "")
        if name.startswith("GREEK"):
            return f" {name.split()[-1].lower()} "
    return ch
