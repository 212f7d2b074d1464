"""Chat tab: grounded offline Q&A over the cards (logic in kb/chat.py; this module only formats)."""
from __future__ import annotations


def build(kb, nav, **_services):
    import gradio as gr

    gr.Markdown("The chat is being built.")
