"""The Problem record: something wrong in a note, reported with where it is."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Problem:
    """Something wrong in a note, with where it is. Nothing is dropped silently."""

    file: str
    line: int | None
    message: str
    kind: str = "problem"  # "placeholder": a question left unanswered ("Answer here"), reported and not indexed

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"
