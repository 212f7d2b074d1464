"""Search tab: one box (results as you type and on Enter), a family filter, hits that open their card.

The results are HTML shown in a gr.Markdown, which typesets their formulas with KaTeX like the card view
(a gr.HTML would show raw LaTeX): questions and snippets keep whole `$...$` formulas, every other `$` is
an entity (render.DOLLAR_HTML), and all note and user text is escaped before it is put in the markup.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from kb.errors import KbError
from kb.ui.render import DOLLAR_HTML, LATEX_DELIMITERS, card_link_html, escape_text, math_html, query_terms, snippet_html

if TYPE_CHECKING:
    from kb.knowledge import KnowledgeBase
    from kb.ui.nav import Nav

ALL_FAMILIES = "All families"
RESULTS_K = 8
TYPING_PAUSE_S = 0.25  # results-as-you-type wait this long, so a burst of keystrokes makes one search


def family_filter_choices(kb: KnowledgeBase) -> list[str]:
    return [ALL_FAMILIES, *[name for name, _ in kb.families()]]


def highlight_terms(kb: KnowledgeBase, query: str) -> list[str]:
    """The query's words plus their typo repairs ("clp" -> "clip"), as search itself reads them."""
    terms = query_terms(query)
    corrected = getattr(getattr(kb, "lexical", None), "corrected", None)
    if corrected is not None:
        terms += [t for t in query_terms(corrected(query)) if t not in terms]
    return terms


def search_results_html(kb: KnowledgeBase, query: str, family: str | None = None, k: int = RESULTS_K) -> str:
    """The results list as HTML (every piece of note or user text escaped)."""
    query = (query or "").strip()
    if not query:
        return '<p class="kb-muted">Type a question or a few words: results appear as you type.</p>'
    chosen = None if not family or family == ALL_FAMILIES else family
    # Browsing never waits for the model: until it is ready, keyword search answers alone.
    mode = "hybrid" if kb.model_ready else "lexical"
    try:
        hits = kb.search(query, k=k, family=chosen, mode=mode)
    except KbError as exc:
        return f'<p class="kb-error">{escape_text(str(exc)).replace("$", DOLLAR_HTML)}</p>'
    note = "" if mode == "hybrid" else '<p class="kb-muted">The semantic model is still loading: showing keyword matches for now.</p>'
    if not hits:
        return note + f'<p class="kb-muted">No card matches “{escape_text(query).replace("$", DOLLAR_HTML)}”.</p>'
    terms = highlight_terms(kb, query)
    rows = []
    for hit in hits:
        card = hit.card
        rows.append(
            '<li class="kb-hit">'
            f'<div class="kb-hit-question">{card_link_html(card.id, card.question, "kb-hit-link", label_html=math_html(card.question))}</div>'
            f'<div class="kb-hit-meta"><span class="kb-family-badge">{escape_text(card.family)}</span>'
            f' <span class="kb-score">score {hit.score:.2f}</span></div>'
            f'<div class="kb-hit-snippet">{snippet_html(card.answer_md, terms)}</div>'
            "</li>"
        )
    return note + f'<ol class="kb-hits" aria-label="Search results">{"".join(rows)}</ol>'


def build(kb: KnowledgeBase, nav: Nav, **_services: Any) -> None:
    import gradio as gr

    with gr.Row():
        query = gr.Textbox(
            label="Search",
            placeholder="e.g. why does PPO clip the ratio",
            scale=4,
            elem_id="kb-search-box",
            autofocus=True,
        )
        family = gr.Dropdown(choices=family_filter_choices(kb), value=ALL_FAMILIES, label="Family", scale=1, elem_id="kb-search-family")
    results = gr.Markdown(search_results_html(kb, ""), elem_id="kb-search-results", latex_delimiters=LATEX_DELIMITERS, sanitize_html=True)

    def as_you_type(q: str, f: str | None) -> str:
        time.sleep(TYPING_PAUSE_S)  # with trigger_mode="always_last", keystrokes meanwhile collapse into one call
        return search_results_html(kb, q, f)

    def now(q: str, f: str | None) -> str:
        return search_results_html(kb, q, f)

    query.input(as_you_type, inputs=[query, family], outputs=results, trigger_mode="always_last", show_progress="hidden", api_visibility="undocumented")
    query.submit(now, inputs=[query, family], outputs=results, show_progress="hidden", api_name="search")
    family.change(now, inputs=[query, family], outputs=results, show_progress="hidden", api_visibility="undocumented")
