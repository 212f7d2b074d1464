"""Cards rendered for a terminal: bold question, dim source line, answer text with formulas kept as LaTeX."""
from __future__ import annotations

import re
import shutil
import textwrap

import click

from .cards import Card
from .markdown import WIKI_LINK_RE, wiki_link_text

CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x1b]")


def safe(text: str) -> str:
    """Drop control and escape characters so a note cannot drive the terminal."""
    return CONTROL_RE.sub("", text)


def render_card(card: Card, width: int | None = None) -> str:
    width = width or min(100, shutil.get_terminal_size((100, 20)).columns)
    lines = [
        click.style(safe(card.question), bold=True),
        click.style(f"{safe(card.family)} · {safe(card.note)}:{card.line_start} · id {card.id}", dim=True),
        "",
    ]
    body = WIKI_LINK_RE.sub(wiki_link_text, card.answer_md)
    body = re.sub(r"\*\*(.+?)\*\*", lambda m: click.style(m.group(1), bold=True), body)
    for paragraph in safe(body).split("\n"):
        if not paragraph.strip():
            lines.append("")
        elif paragraph.startswith(("$$", "    ", "```")) or len(paragraph) <= width:
            lines.append(paragraph)
        else:
            indent = re.match(r"\s*(?:[-*]\s+|\d+\.\s+)?", paragraph).group(0)
            lines.extend(textwrap.wrap(paragraph, width=width, subsequent_indent=" " * len(indent)))
    return "\n".join(lines)
