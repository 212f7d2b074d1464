"""What every `kb` subcommand shares: the option decorators, opening the knowledge base, and error handling."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from kb.config import Config, envvar, flag_help
from kb.errors import KbError

if TYPE_CHECKING:
    from kb.knowledge import KnowledgeBase

F = TypeVar("F", bound=Callable[..., Any])


def _remember_cache(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    # Kept on the context, not passed to every command: only open_kb needs it.
    ctx.meta["kb_cache"] = value
    return value


def _remember_vocab(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    ctx.meta["kb_vocab"] = value
    return value


def common_options(func: F) -> F:
    """--corpus/--index/--model/--cache/--vocab on every subcommand, each with its KB_* variable."""
    func = click.option(
        "--vocab", envvar=envvar("KB_VOCAB"), default=None, expose_value=False, callback=_remember_vocab, metavar="PACKS",
        help=flag_help("KB_VOCAB"),
    )(func)
    func = click.option(
        "--cache", envvar=envvar("KB_CACHE"), default=None, expose_value=False, callback=_remember_cache,
        type=click.Path(file_okay=False, path_type=Path),
        help=flag_help("KB_CACHE"),
    )(func)
    func = click.option("--model", envvar=envvar("KB_MODEL"), default=None, help=flag_help("KB_MODEL"))(func)
    func = click.option("--index", "index_dir", envvar=envvar("KB_INDEX"), default=None, type=click.Path(file_okay=False, path_type=Path),
                        help=flag_help("KB_INDEX"))(func)
    func = click.option("--corpus", envvar=envvar("KB_CORPUS"), default=None, type=click.Path(file_okay=False, path_type=Path),
                        help=flag_help("KB_CORPUS"))(func)
    return func


def stderr(message: str) -> None:
    click.echo(message, err=True)


def open_kb(corpus: Path | None, index_dir: Path | None, model: str | None, progress: Callable[[int], object] | None = None,
            force: bool = False, background_model: bool = False, data_dir: Path | None = None) -> KnowledgeBase:
    from kb.knowledge import KnowledgeBase

    context = click.get_current_context(silent=True)
    cache = context.meta.get("kb_cache") if context is not None else None
    vocab = context.meta.get("kb_vocab") if context is not None else None
    config = Config.from_env(corpus=corpus, index=index_dir, model=model, data=data_dir, cache=cache, vocab=vocab)
    return KnowledgeBase.load(config=config, log=stderr, progress=progress, force=force, background_model=background_model)


class KbGroup(click.Group):
    """Turns library errors into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KbError as exc:
            stderr(f"kb: error: {exc}")
            sys.exit(1)
        except KeyboardInterrupt:
            stderr("kb: interrupted")
            sys.exit(130)



def read_queries(path: Path) -> list[str]:
    """One query per line: plain text, or JSONL with a "query" field."""
    queries = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                obj = json.loads(line)
                queries.append(str(obj.get("query", "")))
                continue
            except json.JSONDecodeError:
                pass
        queries.append(line)
    return queries
