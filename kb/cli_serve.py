"""`kb serve`: the web app (kb/ui). The page is served before the embedding model finishes loading."""
from __future__ import annotations

import click

from .cli import _stderr, common_options, open_kb


def register(main: click.Group) -> None:
    @main.command()
    @common_options
    @click.option("--host", envvar="KB_HOST", default="127.0.0.1", show_default=True, help="Interface to listen on [env KB_HOST].")
    @click.option("--port", envvar="KB_PORT", default=7860, show_default=True, type=click.IntRange(1, 65535), help="Port [env KB_PORT].")
    def serve(corpus, index_dir, model, host, port):
        """Serve the web app: search, browse by family, cards, chat (and the other tabs).

        The index is built first if missing; the model loads in the background.

        Example: kb serve --port 7860
        """
        from .ui.app import prefetch_gradio, serve as serve_app

        gradio_import = prefetch_gradio()
        kb = open_kb(corpus, index_dir, model, background_model=True)
        gradio_import.join()
        _stderr(f"kb: {len(kb.cards)} cards in {len(kb.families())} families; starting the web app on http://{host}:{port}")
        serve_app(kb, host=host, port=port)
