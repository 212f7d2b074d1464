"""`kb serve`: the web app (kb/ui). The page is served before the embedding model finishes loading."""
from __future__ import annotations

from pathlib import Path

import click

from kb.cli.common import common_options, open_kb, stderr
from kb.config import envvar, flag_help


@click.command()
@common_options
@click.option("--host", envvar=envvar("KB_HOST"), default="127.0.0.1", help=flag_help("KB_HOST"))
@click.option("--port", envvar=envvar("KB_PORT"), default=7860, type=click.IntRange(1, 65535), help=flag_help("KB_PORT"))
@click.option("--auth", envvar=envvar("KB_AUTH"), default=None, metavar="USER:PASS", help=flag_help("KB_AUTH"))
@click.option("--data", "data_dir", envvar=envvar("KB_DATA"), default=None, type=click.Path(file_okay=False, path_type=Path), help=flag_help("KB_DATA"))
@click.option("--auth-file", envvar=envvar("KB_AUTH_FILE"), default=None, type=click.Path(dir_okay=False, path_type=Path), help=flag_help("KB_AUTH_FILE"))
@click.option("--remote-images", envvar=envvar("KB_REMOTE_IMAGES"), is_flag=True, default=False, help=flag_help("KB_REMOTE_IMAGES"))
def serve(corpus: Path | None, index_dir: Path | None, model: str | None, host: str, port: int, data_dir: Path | None, auth: str | None,
          auth_file: Path | None, remote_images: bool) -> None:
    """Serve the web app: search, browse by family, cards, chat (and the other tabs).

    The index is built first if missing; the model loads in the background.

    Example: kb serve --port 7860
    """
    from kb.cli.access import credentials, exposure_warning
    from kb.ui.app import prefetch_gradio, serve as serve_app
    from kb.ui.images import allow_remote_images

    logins = credentials(auth, auth_file)  # a bad --auth fails before anything loads
    warning = exposure_warning(host, has_login=logins is not None)
    if warning:
        stderr(warning)
    allow_remote_images(remote_images)  # off: images from the internet in notes are shown as links naming the host
    gradio_import = prefetch_gradio()
    kb = open_kb(corpus, index_dir, model, background_model=True, data_dir=data_dir)
    gradio_import.join()
    stderr(f"kb: {len(kb.cards())} cards in {len(kb.families())} families; starting the web app on http://{host}:{port}")
    serve_app(kb, host=host, port=port, **({"auth": logins} if logins else {}))



def register(main: click.Group) -> None:
    for command in (serve,):
        main.add_command(command)
