"""The Gradio 6 web app: `build_app(kb, **services) -> gr.Blocks` composes the tabs.

Contract for tab modules (other helpers add a file, nothing else):

* A tab lives in `kb/ui/<name>_tab.py` and exposes `build(kb, nav, **services)`. build_app calls it
  inside a `gr.Tab(label, id=<name>)` context, so it only creates its own components and events.
  Register it in `TABS` below (after Search, Browse and Chat, in the order shown).
  `**services` is whatever the caller passed to build_app (e.g. `progress_store=...`); accept and
  ignore what you do not use.
* `nav` (kb/ui/nav.py) opens cards: return `nav.request(card_id)` into `nav.open_card_box`, or
  return `nav.show_card(card_id)` into `nav.open_card_outputs`; from custom HTML call
  `window.kbOpenCard(id)` or render `<a href="?card=ID">` (intercepted, opens in place).
  `nav.select_tab(tab_id)` switches tabs (`outputs=nav.tabs`); `nav.demo` is the Blocks (for
  `demo.load`); `nav.kb` is the KnowledgeBase.
* `build_app(kb, extra_tabs=[(tab_id, label, build_fn), ...])` adds tabs without a module file
  (`build_fn(kb, nav, **services)`), after the others: for plug-ins and tests.
* Gradio 6 takes css/head/js in launch(), not in Blocks(): launch with `launch(demo, ...)` below
  (or pass `**launch_options()` yourself). Extra CSS for a tab can go in `kb/ui/<name>.css`; every
  `kb/ui/*.css` file is included.
* Handlers are plain functions of plain values (unit-testable without a browser); the UI never
  reaches into kb internals, only the public API (kb.search, kb.card, kb.related, ...).
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from kb.config import setting
from kb.ui.nav import NAV_JS, OPEN_CARD_ELEM_ID, TAB_BROWSE, TAB_CHAT, TAB_SEARCH, Nav

if TYPE_CHECKING:
    import threading

    import gradio as gr
    from gradio.routes import App

    from kb.knowledge import KnowledgeBase

UI_DIR = Path(__file__).resolve().parent
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 7860
# Gradio runs one request per event at a time by default, so 20 users' searches would wait in one line.
# Search, chat and grading release the GIL in ONNX Runtime / numpy / FAISS; see docs/benchmarks.md (load).
QUEUE_CONCURRENCY = 4

# (module name under kb.ui, tab id, label), in the order the tabs appear after Chat.
TABS = [
    ("interview_tab", "interview", "Interview"),
    ("progress_tab", "progress", "Progress"),
    ("topic_map_tab", "topic_map", "Topic map"),
    ("concepts_tab", "concepts", "Concepts"),
]


class LaunchOptions(TypedDict):
    """What launch_options() gives demo.launch()."""

    css: str
    head: str


def build_app(kb: KnowledgeBase, **services: Any) -> gr.Blocks:
    """The whole app as a gr.Blocks (not launched)."""
    import gradio as gr

    from kb.ui import browse_tab, chat_tab, search_tab

    extra_tabs = list(services.pop("extra_tabs", None) or [])
    demo: gr.Blocks  # gradio leaves Blocks.__enter__ unannotated
    with gr.Blocks(title="kb — ML interview notes", analytics_enabled=False) as demo:
        nav = Nav(kb=kb, demo=demo)
        gr.Markdown("## kb · your ML interview notes, offline", elem_id="kb-title")
        nav.open_card_box = gr.Textbox(visible="hidden", elem_id=OPEN_CARD_ELEM_ID, label="open card", show_label=False)
        # "wrap": on a narrow screen (a phone) the tabs take two lines instead of hiding some in a menu.
        with gr.Tabs(selected=TAB_SEARCH, overflow_behavior="wrap") as tabs:
            nav.tabs = tabs
            with gr.Tab("Search", id=TAB_SEARCH):
                search_tab.build(kb, nav, **services)
            with gr.Tab("Browse", id=TAB_BROWSE):
                browse_tab.build(kb, nav, **services)
            with gr.Tab("Chat", id=TAB_CHAT):
                chat_tab.build(kb, nav, **services)
            for module_name, tab_id, label in TABS:
                with gr.Tab(label, id=tab_id):
                    importlib.import_module(f"kb.ui.{module_name}").build(kb, nav, **services)
            for tab_id, label, build_tab in extra_tabs:
                with gr.Tab(label, id=tab_id):
                    build_tab(kb, nav, **services)
        nav.wire()
        browse_tab.wire_deep_link(kb, nav)
    demo.kb_nav = nav  # type: ignore[attr-defined]  # our own attribute on gradio's Blocks: for tests and for tabs that need it after build
    return demo


def launch_options() -> LaunchOptions:
    """css and head for demo.launch() (Gradio 6 moved them out of Blocks())."""
    from kb.ui.images import image_policy_head  # with remote images off, the browser refuses them too

    css = "\n".join(p.read_text(encoding="utf-8") for p in sorted(UI_DIR.glob("*.css")))
    return {"css": css, "head": image_policy_head() + NAV_JS}


def queue_concurrency() -> int:
    """Requests of one event (e.g. search) that may run at once: KB_CONCURRENCY, else QUEUE_CONCURRENCY."""
    from kb.errors import ConfigError

    raw = setting("KB_CONCURRENCY") or str(QUEUE_CONCURRENCY)
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"KB_CONCURRENCY must be a whole number >= 1, got {raw!r}")
    return int(raw)


def launch(demo: gr.Blocks, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, **kwargs: Any) -> tuple[App, str, str]:
    """Serve the app (blocks unless prevent_thread_lock=True is passed)."""
    demo.queue(default_concurrency_limit=queue_concurrency())
    return demo.launch(server_name=host, server_port=port, footer_links=[], quiet=kwargs.pop("quiet", True), **launch_options(), **kwargs)


def prefetch_gradio() -> threading.Thread:
    """Import gradio in a thread (~3 s) while the caller loads the index: both are mostly I/O and C code."""
    import threading

    thread = threading.Thread(target=lambda: importlib.import_module("gradio"), name="kb-import-gradio", daemon=True)
    thread.start()
    return thread


def serve(kb: KnowledgeBase, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, **kwargs: Any) -> tuple[App, str, str]:
    """Build the app over an opened KnowledgeBase and serve it (blocks unless prevent_thread_lock=True)."""
    from kb.errors import KbError

    demo = build_app(kb)
    try:
        return launch(demo, host=host, port=port, **kwargs)
    except OSError as exc:  # port taken, bad host
        raise KbError(f"cannot serve on {host}:{port}: {exc}") from None
