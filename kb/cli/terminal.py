"""Cards rendered for a terminal: bold question, dim source line, answer text with formulas kept as LaTeX."""
from __future__ import annotations

import re
import shutil
import textwrap

import click

from kb import WIKI_LINK_RE, Card, ChatReply, wiki_link_text

CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x1b]")
BOLD_RE = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
TOGGLE = "\x02"  # marks where bold starts or ends; control characters are already gone from the text


def safe(text: str) -> str:
    """Drop control and escape characters so a note cannot drive the terminal."""
    return CONTROL_RE.sub("", text)


def _styled(line: str, bold: bool) -> tuple[str, bool]:
    """Turn TOGGLE marks into bold styling; returns the line and whether bold is still on at its end."""
    parts = line.split(TOGGLE)
    out = []
    for i, part in enumerate(parts):
        if i:
            bold = not bold
        out.append(click.style(part, bold=True) if bold and part else part)
    return "".join(out), bold


def render_card(card: Card, width: int | None = None) -> str:
    """The card as terminal text. Code fences and $$ blocks are shown as written, never re-wrapped."""
    width = width or min(100, shutil.get_terminal_size((100, 20)).columns)
    lines = [
        click.style(safe(card.question), bold=True),
        click.style(f"{safe(card.family)} · {safe(card.note)}:{card.line_start} · id {card.id}", dim=True),
        "",
    ]
    body = safe(WIKI_LINK_RE.sub(wiki_link_text, card.answer_md))
    block_end: str | None = None  # the closing marker of the fence or math block we are in
    for line in body.split("\n"):
        stripped = line.strip()
        if block_end is not None:
            lines.append(line)
            if stripped.startswith(block_end) or (block_end == "$$" and stripped.endswith("$$")):
                block_end = None
            continue
        fence = re.match(r"(`{3,}|~{3,})", stripped)
        if fence:
            block_end = fence.group(1)
            lines.append(line)
            continue
        if stripped.startswith("$$") and not (len(stripped) > 2 and stripped.endswith("$$")):
            block_end = "$$"
            lines.append(line)
            continue
        if not stripped:
            lines.append("")
            continue
        if stripped.startswith("#"):
            lines.append(click.style(stripped.lstrip("#").strip(), bold=True))
            continue
        marked = BOLD_RE.sub(lambda m: f"{TOGGLE}{m.group(1)}{TOGGLE}", line)
        if line.startswith("    ") or stripped.startswith(("$$", "|")) or len(marked) <= width:
            wrapped = [marked]
        else:
            indent = re.match(r"\s*(?:[-*+]\s+|\d+[.)]\s+|>\s*)?", line).group(0)
            wrapped = textwrap.wrap(marked, width=width, subsequent_indent=" " * len(indent), break_long_words=False, break_on_hyphens=False)
        bold = False
        for piece in wrapped:
            styled, bold = _styled(piece, bold)
            lines.append(styled)
    return "\n".join(lines)


def render_reply(reply: ChatReply) -> str:
    """A chat reply as terminal markdown: the card's words, where they come from, and what to ask next."""
    if reply.error:
        return f"{safe(reply.error)}."
    if reply.abstained:
        lines = [f"Your notes don't cover “{safe(reply.message[:160])}”, so I won't guess."]
        if reply.nearest:
            lines.append("Nearest: " + "; ".join(f"{safe(c.question)} ({safe(c.family)})" for c in reply.nearest))
        return "\n\n".join(lines)
    card = reply.card
    parts = [f"**{safe(card.question)}** · *{safe(card.family)}*", safe(WIKI_LINK_RE.sub(wiki_link_text, reply.excerpt))]
    if reply.cut:
        parts.append(f"(the most relevant part; `kb show {card.id}` prints the whole answer)")
    parts.append("Sources: " + " · ".join(f"{safe(c.question)} ({safe(c.family)}) [{c.id}]" for c in reply.citations))
    return "\n\n".join(parts)


def reply_payload(reply: ChatReply) -> dict:
    """The JSON `kb ask` prints: the reply as the terminal shows it, plus its data."""
    def cited(c) -> dict:
        return {"id": c.id, "question": c.question, "family": c.family, "score": round(float(c.score), 4)}

    return {
        "answer_md": render_reply(reply),
        "abstained": reply.abstained,
        "citations": [cited(c) for c in reply.citations],
        "follow_ups": list(reply.follow_ups),
        "nearest": [cited(c) for c in reply.nearest],
    }
