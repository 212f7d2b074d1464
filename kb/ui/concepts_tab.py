"""Concepts tab: the glossary derived from the notes (kb.concepts): each concept, its home card and
every card that mentions it. Card links open in place through the app's navigation (kb/ui/nav.py)."""
from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any, TypedDict

from kb.ui.render import card_link_html

if TYPE_CHECKING:
    from kb.knowledge import KnowledgeBase
    from kb.ui.nav import Nav

MAX_FORMS_SHOWN = 4


class ConceptRow(TypedDict):
    """One concept of the table (concept_rows)."""

    name: str
    forms: list[str]  # its other forms
    home: str | None  # the card that defines it
    home_reason: str
    mentions: list[str]  # the other cards that mention it


def _card_link(kb: KnowledgeBase, card_id: str) -> str:
    card = kb.card(card_id)
    return card_link_html(card.id, card.question, title=card.family)


def concept_rows(kb: KnowledgeBase, query: str = "") -> list[ConceptRow]:
    """Plain rows for the table: name, other forms, home id, mention ids; filtered by a substring."""
    wanted = (query or "").strip().casefold()
    rows = []
    for concept in kb.concepts().concepts.values():
        others = [f for f in concept.forms if f.casefold() != concept.name.casefold()]
        row: ConceptRow = {"name": concept.name, "forms": others, "home": concept.home, "home_reason": concept.home_reason,
               "mentions": [m for m in concept.mentions if m != concept.home]}
        haystack = " ".join([concept.name, *others, *(kb.card(m).question for m in concept.mentions)]).casefold()
        if not wanted or wanted in haystack:
            rows.append(row)
    return rows


def concepts_html(kb: KnowledgeBase, query: str = "") -> str:
    rows = concept_rows(kb, query)
    if not rows:
        return f'<div class="kb-concepts"><p>No concept matches {escape(query)!s}.</p></div>'
    body = []
    for row in rows:
        forms = ", ".join(escape(f) for f in row["forms"][:MAX_FORMS_SHOWN])
        name = f'<strong>{escape(row["name"])}</strong>' + (f'<div class="kb-forms">{forms}</div>' if forms else "")
        home = (_card_link(kb, row["home"]) + f' <span class="kb-forms">({escape(row["home_reason"])})</span>'
                if row["home"] else '<span class="kb-forms">no card defines it</span>')
        mentions = "".join(f"<li>{_card_link(kb, m)}</li>" for m in row["mentions"])
        body.append(f'<tr data-concept="{escape(row["name"])}"><td>{name}</td><td>{home}</td><td><ul>{mentions}</ul></td></tr>')
    head = "<tr><th>Concept</th><th>Home card</th><th>Also mentioned in</th></tr>"
    return f'<div class="kb-concepts"><p class="kb-forms">{len(rows)} concepts found in your notes</p><table>{head}{"".join(body)}</table></div>'


def build(kb: KnowledgeBase, nav: Nav, **_services: Any) -> None:
    import gradio as gr

    query = gr.Textbox(label="Filter concepts", placeholder="e.g. KL, quantile, RLHF", elem_id="kb-concepts-filter")
    table = gr.HTML('<div class="kb-concepts">Collecting concepts…</div>', elem_id="kb-concepts", js_on_load=None)
    query.change(lambda q: concepts_html(kb, q), inputs=query, outputs=table, show_progress="hidden")
    nav.demo.load(lambda: concepts_html(kb, ""), outputs=table, show_progress="hidden")
