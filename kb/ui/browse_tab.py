"""Browse tab: families with counts, a family's questions, and the card view (with previous/next)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kb.ui.card_view import CardParts, card_parts, note_warnings_md, problems_by_note
from kb.ui.render import LATEX_DELIMITERS

if TYPE_CHECKING:
    import gradio as gr

    from kb.knowledge import KnowledgeBase
    from kb.ui.nav import Nav

SHOW_CARD_ON_PHONE_JS = """() => { const card = document.getElementById('kb-card-header');
  if (card && window.innerWidth <= 640) window.scrollTo({ top: Math.max(0, card.getBoundingClientRect().top + window.scrollY - 8) });
  return []; }"""


def family_choices(kb: KnowledgeBase) -> list[tuple[str, str]]:
    """(label with card count, family name) for every family, in corpus order."""
    return [(f"{name} ({count})", name) for name, count in kb.families()]


def question_choices(kb: KnowledgeBase, family: str | None) -> list[tuple[str, str]]:
    """(question, card id) for the cards of a family; none for an unknown family."""
    if not family:
        return []
    return [(card.question, card.id) for card in kb.family_cards(family)]


def step(kb: KnowledgeBase, card_id: str, direction: int) -> str:
    """The id of the previous (-1) or next (+1) card in the same family; the same id at either end."""
    parts = card_parts(kb, card_id)
    if not parts.found:
        return card_id
    target = parts.next_id if direction > 0 else parts.prev_id
    return target or card_id


def notes_with_problems_md(kb: KnowledgeBase) -> str:
    """Every note with warnings, each with all of them; empty when every note read cleanly."""
    return "\n\n".join(note_warnings_md(problems, note, limit=None) for note, problems in problems_by_note(kb).items())


def default_card_id(kb: KnowledgeBase) -> str:
    cards = kb.cards()
    return cards[0].id if cards else ""


def build(kb: KnowledgeBase, nav: Nav, **_services: Any) -> None:
    import gradio as gr

    first = card_parts(kb, default_card_id(kb))
    families = gr.Radio(choices=family_choices(kb), value=first.family, label="Families", elem_id="kb-families")
    troubled = problems_by_note(kb)
    if troubled:
        with gr.Accordion(f"Notes with problems ({len(troubled)})", open=False, elem_id="kb-note-problems"):
            gr.Markdown(notes_with_problems_md(kb), elem_id="kb-note-problems-list")
    # On a phone the row stacks and kb.css puts the card first (a deep link lands on it), then the lists.
    with gr.Row(equal_height=False, elem_classes=["kb-browse-row"]):
        with gr.Column(scale=1, min_width=260, elem_classes=["kb-browse-nav"]):
            questions = gr.Radio(choices=question_choices(kb, first.family), value=first.card_id or None, label="Questions", elem_id="kb-questions")
        with gr.Column(scale=3, elem_classes=["kb-card"]):
            header = gr.Markdown(first.header_md, elem_id="kb-card-header", latex_delimiters=LATEX_DELIMITERS)
            answer = gr.Markdown(first.answer_md, elem_id="kb-card-answer", latex_delimiters=LATEX_DELIMITERS)
            see_also = gr.HTML(first.see_also_html, elem_id="kb-see-also", js_on_load=None)
            with gr.Row():
                prev_btn = gr.Button("← Previous", size="sm", elem_id="kb-prev", interactive=first.prev_id is not None)
                position = gr.Markdown(first.position, elem_id="kb-position")
                next_btn = gr.Button("Next →", size="sm", elem_id="kb-next", interactive=first.next_id is not None)
            current = gr.Textbox(first.card_id, visible="hidden", elem_id="kb-current-card", label="current card")

    outputs = [families, questions, header, answer, see_also, prev_btn, position, next_btn, current]

    def render(card_id: str) -> tuple[Any, ...]:  # gradio updates for `outputs`
        parts: CardParts = card_parts(kb, card_id)
        if not parts.found:
            return (gr.skip(), gr.skip(), parts.header_md, "", "", gr.Button(interactive=False), "", gr.Button(interactive=False), "")
        return (
            gr.Radio(value=parts.family),
            gr.Radio(choices=question_choices(kb, parts.family), value=parts.card_id),
            parts.header_md,
            parts.answer_md,
            parts.see_also_html,
            gr.Button(interactive=parts.prev_id is not None),
            parts.position,
            gr.Button(interactive=parts.next_id is not None),
            parts.card_id,
        )

    nav.register_card_view(outputs, render)
    # Keep the address bar on the card shown, so it can be bookmarked or shared as a deep link.
    current.change(
        None,
        inputs=current,
        js="(id) => { if (id) { try { history.replaceState(null, '', '?card=' + encodeURIComponent(id)); } catch (e) {} } return []; }",
        api_visibility="undocumented",
    )

    def pick_family(family: str) -> gr.Radio:
        choices = question_choices(kb, family)
        return gr.Radio(choices=choices, value=None)

    families.input(pick_family, inputs=families, outputs=questions, show_progress="hidden", queue=False)
    questions.input(render, inputs=questions, outputs=outputs, show_progress="hidden", queue=False)
    # On a phone the card sits above the list: bring it back into view when a question is picked.
    questions.input(None, js=SHOW_CARD_ON_PHONE_JS, api_visibility="undocumented")
    prev_btn.click(lambda cid: render(step(kb, cid, -1)), inputs=current, outputs=outputs, show_progress="hidden", queue=False)
    next_btn.click(lambda cid: render(step(kb, cid, +1)), inputs=current, outputs=outputs, show_progress="hidden", queue=False)


def deep_link_card(query_params: Mapping[str, str] | None) -> str | None:
    """The card id asked for by `?card=<id>` (only ever looked up in kb, never used as a path)."""
    value = (query_params or {}).get("card")
    if value is None:
        return None
    return str(value).strip()[:300]


def wire_deep_link(kb: KnowledgeBase, nav: Nav) -> None:
    """`/?card=<id>` opens the app on that card (unknown id: a clear message in the card view)."""
    import gradio as gr

    def on_load(request: gr.Request) -> tuple[Any, ...]:  # gradio resolves these annotations: keep them runtime names
        card_id = deep_link_card(dict(request.query_params) if request is not None else {})
        if card_id is None:
            return tuple(gr.skip() for _ in nav.open_card_outputs)
        return nav.show_card(card_id)

    # This module uses postponed annotations; give gradio the real class so it injects the request.
    on_load.__annotations__["request"] = gr.Request
    nav.demo.load(on_load, outputs=nav.open_card_outputs, show_progress="hidden", queue=False)
