"""One card as UI parts: header, typeset answer, source, see-also links, previous/next in its family."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kb.errors import KbError
from kb.ui.images import rewrite_images
from kb.ui.render import card_link_html, escape_text, keep_indentation, note_markdown, protect_currency

if TYPE_CHECKING:
    from kb import Card, Link, Problem
    from kb.knowledge import KnowledgeBase

SEE_ALSO_K = 6
SHOWN_WARNINGS = 8  # per card; the Browse tab's list of notes with problems has them all


@dataclass
class CardParts:
    found: bool
    card_id: str = ""
    family: str | None = None
    header_md: str = ""
    answer_md: str = ""
    see_also_html: str = ""
    prev_id: str | None = None
    next_id: str | None = None
    position: str = ""  # "3 / 7 in Regression"
    links: list[Link] = field(default_factory=list)


def not_found_parts(card_id: str) -> CardParts:
    shown = (card_id or "").strip()[:120]
    message = (
        f"### No card with id “{escape_text(shown)}”\n\nThe link may be out of date or the note was edited. "
        "Pick a family on the left, or use the Search tab."
        if shown
        else "### Pick a family on the left, then a question."
    )
    return CardParts(found=False, card_id="", header_md=message)


def family_neighbours(kb: KnowledgeBase, card: Card) -> tuple[str | None, str | None, int, int]:
    siblings = kb.family_cards(card.family)
    ids = [c.id for c in siblings]
    i = ids.index(card.id)
    prev_id = ids[i - 1] if i > 0 else None
    next_id = ids[i + 1] if i + 1 < len(ids) else None
    return prev_id, next_id, i + 1, len(ids)


def see_also_html(links: Sequence[Link]) -> str:
    if not links:
        return '<div class="kb-see-also"><p class="kb-muted">No related cards.</p></div>'
    items = []
    for link in links:
        reason = escape_text(getattr(link, "reason", "") or "")
        items.append(
            f'<li>{card_link_html(link.id, link.question, "kb-see-also-link")}'
            f' <span class="kb-family-badge">{escape_text(link.family)}</span>'
            + (f' <span class="kb-reason">{reason}</span>' if reason else "")
            + "</li>"
        )
    return '<div class="kb-see-also"><h4>See also</h4><ul>' + "".join(items) + "</ul></div>"


def answer_markdown(kb: KnowledgeBase, card: Card) -> str:
    """The answer with its [[wiki-links]] as links to the cards they reach (kb.links), prices safe, and its
    images offline: remote ones as links naming their host, local ones beside the note inline (kb/ui/images.py)."""
    root = kb.config.corpus
    note_dir = (root / card.note).parent
    try:
        linked = kb.answer_with_links(card.id, href=lambda card_id: f"?card={card_id}")
    except KbError:
        return note_markdown(card.answer_md, note_dir=note_dir, root=root)
    return keep_indentation(protect_currency(rewrite_images(linked, note_dir=note_dir, root=root)))


def note_warnings_md(problems: Sequence[Problem], note: str, limit: int | None = SHOWN_WARNINGS) -> str:
    """A note's warnings as a short markdown list (escaped), with the command that explains them."""
    if not problems:
        return ""
    lines = [f"⚠️ **{len(problems)} warning{'s' if len(problems) != 1 else ''} in {escape_text(note)}** "
             f"(`kb build --explain \"{escape_text(note)}\"` shows what became of each question):"]
    for problem in problems[:limit]:
        where = f"line {problem.line}: " if problem.line else ""
        lines.append(f"- {where}{escape_text(problem.message)}")
    if limit is not None and len(problems) > limit:
        lines.append(f"- … and {len(problems) - limit} more")
    return "\n".join(lines)


def problems_by_note(kb: KnowledgeBase) -> dict[str, list[Problem]]:
    """Every note with warnings, and its warnings, in corpus order."""
    found: dict[str, list[Problem]] = {}
    for problem in kb.problems:
        found.setdefault(problem.file, []).append(problem)
    return found


def card_parts(kb: KnowledgeBase, card_id: str) -> CardParts:
    """Everything the card view shows for `card_id`; an unknown id gives a clear message, never an error."""
    if not kb.has_card(card_id):
        return not_found_parts(card_id)
    card = kb.card(card_id)
    prev_id, next_id, position, total = family_neighbours(kb, card)
    try:
        links = kb.related(card.id, k=SEE_ALSO_K)
    except KbError:
        links = []
    header = (
        f"## {note_markdown(card.question)}\n\n"
        f'<span class="kb-family-badge">{escape_text(card.family)}</span> '
        f'<span class="kb-source">{escape_text(card.note)}, line {card.line_start}</span>'
    )
    warnings = note_warnings_md([p for p in kb.problems if p.file == card.note], card.note)
    if warnings:
        header += "\n\n" + warnings
    return CardParts(
        found=True,
        card_id=card.id,
        family=card.family,
        header_md=header,
        answer_md=answer_markdown(kb, card),
        see_also_html=see_also_html(links),
        prev_id=prev_id,
        next_id=next_id,
        position=f"{position} / {total} in {card.family}",
        links=links,
    )
