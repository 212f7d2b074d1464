"""Navigation shared by every tab: open a card from any Python handler or from custom HTML/JS.

Three ways to open a card (all end in the Browse tab showing that card):

1. From a Python handler, through the hidden box (simplest; works from any event)::

       btn.click(lambda: nav.request(card_id), outputs=nav.open_card_box)

   `nav.request(id)` adds a nonce so asking twice for the same card still fires `.change`.

2. From a Python handler, directly (one round trip, no chained event)::

       btn.click(lambda: nav.show_card(card_id), outputs=nav.open_card_outputs)

3. From the browser: `window.kbOpenCard("card-id")` (defined by `NAV_JS`, loaded in the page head).
   Any `<a href="/?card=ID">` or `<a data-kb-card="ID">` in the page is also intercepted and opens
   the card in place (a plain link still works without JS: it reloads the app on that card).

Tab ids (for `nav.select_tab(id)` -> a gr.Tabs update): search, browse, chat, interview, progress,
topic_map, concepts.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import gradio as gr

OPEN_CARD_ELEM_ID = "kb-open-card"
NONCE_SEP = "\u241f"  # a character no card id contains (ids are [a-z0-9-])
TAB_SEARCH, TAB_BROWSE, TAB_CHAT = "search", "browse", "chat"
_nonce = itertools.count(1)


def card_url(card_id: str) -> str:
    """The deep link of a card (a relative URL, so it works behind any root path)."""
    from urllib.parse import quote

    return f"?card={quote(card_id, safe='')}"


def parse_request(value: str | None) -> str:
    """The card id inside a value set on the hidden box (drops the nonce)."""
    return (value or "").split(NONCE_SEP, 1)[0].strip()


@dataclass
class Nav:
    """Created by build_app before the tabs; the Browse tab registers the card view on it."""

    kb: Any
    demo: Any  # the gr.Blocks being built (for demo.load handlers)
    tabs: Any = None  # gr.Tabs
    open_card_box: Any = None  # hidden gr.Textbox: set it to nav.request(card_id)
    open_card_outputs: list[Any] = field(default_factory=list)  # what show_card() updates, tabs first
    interview_profile: Any = None  # the Interview tab's profile box; the Progress tab follows it
    interview_chat: Any = None  # the Interview tab's gr.Chatbot: the Progress tab refreshes when it changes
    _render_card: Callable[[str], tuple[Any, ...]] | None = None

    @staticmethod
    def request(card_id: str) -> str:
        """A value for `open_card_box` that opens `card_id` (unique each call)."""
        return f"{card_id}{NONCE_SEP}{next(_nonce)}"

    def select_tab(self, tab_id: str) -> gr.Tabs:
        import gradio as gr

        return gr.Tabs(selected=tab_id)

    def register_card_view(self, outputs: list[Any], render: Callable[[str], tuple[Any, ...]]) -> None:
        """Called once by the Browse tab: `render(card_id)` returns updates for `outputs`."""
        self.open_card_outputs = [self.tabs, *outputs]
        self._render_card = render

    def show_card(self, card_id: str) -> tuple[Any, ...]:
        """Updates for `open_card_outputs`: switch to Browse and show the card (or a clear message)."""
        if self._render_card is None:
            raise RuntimeError("the card view is not registered yet (build_app registers it)")
        return (self.select_tab(TAB_BROWSE), *self._render_card(card_id))

    def wire(self) -> None:
        """Connect the hidden box to the card view (build_app calls this once, after all tabs)."""
        self.open_card_box.change(
            lambda value: self.show_card(parse_request(value)),
            inputs=self.open_card_box,
            outputs=self.open_card_outputs,
            show_progress="hidden",
            queue=False,
        )


# Loaded in the page <head>. Sets the hidden box and fires its input event, so the Python
# .change handler runs; intercepts clicks on card links so they open in place.
NAV_JS = f"""
<script>
(function () {{
  let counter = 0;
  window.kbOpenCard = function (id) {{
    const box = document.querySelector('#{OPEN_CARD_ELEM_ID} textarea, #{OPEN_CARD_ELEM_ID} input');
    if (!box) {{ window.location.search = '?card=' + encodeURIComponent(id); return; }}
    counter += 1;
    box.value = String(id) + '{NONCE_SEP}js' + counter;
    box.dispatchEvent(new Event('input', {{ bubbles: true }}));
    try {{ history.replaceState(null, '', '?card=' + encodeURIComponent(id)); }} catch (e) {{}}
    window.scrollTo({{ top: 0 }});
  }};
  function cardOf(anchor) {{
    if (anchor.dataset && anchor.dataset.kbCard) return anchor.dataset.kbCard;
    const href = anchor.getAttribute('href') || '';
    if (!href.includes('card=')) return null;
    try {{
      const url = new URL(href, window.location.href);
      if (url.origin !== window.location.origin) return null;
      return url.searchParams.get('card');
    }} catch (e) {{ return null; }}
  }}
  document.addEventListener('click', function (event) {{
    const anchor = event.target.closest && event.target.closest('a');
    if (!anchor || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    const id = cardOf(anchor);
    if (!id) return;
    event.preventDefault();
    event.stopPropagation();
    window.kbOpenCard(id);
  }}, true);
}})();
</script>
"""
