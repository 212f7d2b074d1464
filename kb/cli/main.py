"""The `kb` command. Each subcommand parses, calls one public function, and formats the result.

Errors from the library (KbError) become one-line messages and exit code 1; nothing prints a traceback.
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import click

from kb.cli.common import KbGroup, common_options, open_kb, read_queries, stderr
from kb.config import Config, envvar, flag_help

EXAMPLES = {
    "build": "kb build --corpus corpus --index index",
    "search": 'kb search "why does PPO clip" -k 3',
}


def _encoder_line(encoder: object) -> str:
    """Which implementation answers queries, and from which export: what a user checks first when search is slow."""
    served: Any = getattr(encoder, "fast", encoder)  # kb.embed's encoders (a BuildEncoder serves queries with .fast) are not surface API
    meta = getattr(served, "meta", None)
    if meta is None:
        return f"query encoder: {served.backend} (torch)"
    graph = "fused graph" if meta.get("fused") else "plain graph"
    return f"query encoder: {served.backend}, {graph}, export {served.folder}"



# Commands that live in modules of their own, by name: a module is imported only when one of its
# commands runs (or --help lists them), so `kb search` does not load the interview or Anki code.
COMMAND_MODULES = {
    "anki": "kb.cli.anki",
    "ask": "kb.cli.ask",
    "calibrate": "kb.cli.stats",
    "concepts": "kb.cli.links",
    "fsrs": "kb.cli.stats",
    "grade": "kb.cli.interview",
    "interview": "kb.cli.interview",
    "related": "kb.cli.links",
    "serve": "kb.cli.serve",
    "stats": "kb.cli.stats",
}


class CommandsOnDemand(KbGroup):
    """The `kb` group: the commands defined here, plus those of COMMAND_MODULES, loaded when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMAND_MODULES:
            importlib.import_module(COMMAND_MODULES[name]).register(self)  # adds every command of that module
        return super().get_command(ctx, name)


@click.group(cls=CommandsOnDemand, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kb")
def main() -> None:
    """kb: search, browse and drill your markdown interview notes, offline."""


@main.command()
@common_options
@click.option("--rebuild", is_flag=True, help="Re-embed every card even if the index is fresh.")
@click.option("--explain", "explain", metavar="NOTE", default=None,
              help="Build nothing: show, for one note, every line that could be a question and what became of it.")
@click.option("--json", "as_json", is_flag=True, help="With --explain: print JSON.")
@click.option("--with-history", is_flag=True,
              help="Also bring the review state the notes carry (Obsidian Spaced Repetition, Logseq) into --profile's progress.")
@click.option("--profile", envvar=envvar("KB_PROFILE"), default="default", help=flag_help("KB_PROFILE"))
@click.option("--data", "data_dir", envvar=envvar("KB_DATA"), default=None, type=click.Path(file_okay=False, path_type=Path), help=flag_help("KB_DATA"))
def build(corpus: Path | None, index_dir: Path | None, model: str | None, rebuild: bool, explain: str | None, as_json: bool, with_history: bool,
          profile: str, data_dir: Path | None) -> None:
    """Build or update the index from the notes (only changed cards are re-embedded).

    Example: kb build --corpus corpus --index index; kb build --explain losses.md
    """
    if explain is not None:
        _explain(corpus, explain, as_json)
        return
    from tqdm import tqdm

    bar = tqdm(total=0, unit="text", desc="embedding", file=sys.stderr, disable=None)

    def progress(n: int) -> None:
        if bar.total == 0:
            bar.total = None
        bar.update(n)

    kb = open_kb(corpus, index_dir, model, progress=progress, force=rebuild, data_dir=data_dir)
    bar.close()
    # Ready the query encoder now (its one-time ONNX export), so the first search is fast.
    for note in getattr(kb.encoder, "notes", []):
        stderr(f"note: {note}")
    r = kb.report
    if r.write_error:  # building is this command's whole job: do not report success
        from kb.errors import IndexWriteError

        raise IndexWriteError(r.write_error)
    families = len(kb.families())
    placeholders = len(kb.placeholder_problems())
    click.echo(
        f"{r.action} index at {kb.config.index}: {r.cards} cards in {families} families; "
        f"re-embedded {r.embedded}, reused {r.reused}; {len(kb.problems)} warning(s)"
        + (f", {placeholders} placeholder answer(s) not indexed" if placeholders else "")
        + f"; {r.seconds:.1f}s"
    )
    click.echo(_encoder_line(kb.encoder))
    click.echo(kb.vocabulary.describe())
    if not kb.model_is_shipped():
        kept = [row["name"] for row in kb.model_thresholds() if row["needs_labels"]]
        recalibrated = kb.retriever.thresholds.recalibrated
        stderr(f"warning: the model is {kb.config.model}, not the shipped all-MiniLM-L6-v2: {len(kept)} thresholds fitted on labels "
               f"keep its values ({', '.join(kept)})"
               + ("" if recalibrated else "; run `kb calibrate model` to recalibrate the label-free ones (search confidence, coverage, follow-ups)"))
    if r.action == "loaded" and kb.problems:
        for problem in kb.problems:
            stderr(f"warning: {problem}")
    for problem in kb.broken_links():  # [[links]] to nowhere
        stderr(f"warning: {problem}")
    if with_history:
        report = kb.import_note_history(profile)
        click.echo(
            f"history: {report.reviews} review(s) from the notes' review state replayed into profile {report.profile!r}"
            + (f"; {report.already} already there" if report.already else "")
        )
        for card_id in report.unreadable:
            stderr(f"warning: the review state of card {card_id} could not be read; not replayed")


def _explain(corpus: Path | None, note: str, as_json: bool) -> None:
    """Why a note gave the cards it gave (see kb.notes.explain)."""
    from kb import explain_note, format_explanation
    from kb.errors import CorpusError

    config = Config.from_env(corpus=corpus)
    root = config.corpus
    path = Path(note).expanduser()
    if path.is_file():
        try:
            note = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:  # a note outside the corpus is explained on its own
            root, note = path.parent, path.name
    elif not (root / note).is_file():
        raise CorpusError(f"no note {note!r} in {root} (give its path, or its path inside the corpus)")
    result = explain_note(root, note, config.max_note_bytes)
    click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=1) if as_json else format_explanation(result))


@main.command()
@common_options
@click.argument("query", required=False)
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(1, 1000), help="Number of hits.")
@click.option("--family", default=None, help="Only cards of this family.")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "lexical"]), default="hybrid", show_default=True)
@click.option("--queries", "queries_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Run every query in FILE (text or JSONL); one JSON line each.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def search(corpus: Path | None, index_dir: Path | None, model: str | None, query: str | None, k: int, family: str | None, mode: str,
           queries_file: Path | None, as_json: bool) -> None:
    """Search the cards (dense + BM25, fused).

    Example: kb search "why does PPO clip" -k 3
    """
    from kb.errors import QueryError

    if query is None and not queries_file:
        raise QueryError("give a QUERY or --queries FILE")
    if query is not None and not queries_file:
        from kb import clean_query

        clean_query(query)  # an empty query fails at once, before the index and model load
    kb = open_kb(corpus, index_dir, model)
    if queries_file:
        for q in read_queries(queries_file):
            try:
                rows = [h.to_dict() for h in kb.search(q, k=k, family=family, mode=mode)]
                out: dict[str, object] = {"query": q, "hits": rows}
            except QueryError as exc:
                out = {"query": q, "hits": [], "error": str(exc)}
            click.echo(json.dumps(out, ensure_ascii=False))
        return
    assert query is not None  # without --queries a QUERY was given (checked above)
    hits = kb.search(query, k=k, family=family, mode=mode)
    if as_json:
        click.echo(json.dumps({"query": query, "hits": [h.to_dict() for h in hits]}, ensure_ascii=False))
        return
    for rank, hit in enumerate(hits, 1):
        click.echo(f"{rank:>2}. {hit.score:.3f}  {click.style(hit.card.question, bold=True)}")
        click.echo(f"      {hit.card.family} · {hit.card.id} · found by {' + '.join(hit.signals) or 'fusion'}")


@main.command()
@common_options
@click.option("--family", default=None, help="Only cards of this family.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def cards(corpus: Path | None, index_dir: Path | None, model: str | None, family: str | None, as_json: bool) -> None:
    """List the cards (id, question, family).

    Example: kb cards --family "RL Policy Losses" --json
    """
    kb = open_kb(corpus, index_dir, model)
    chosen = kb.cards(family)  # an unknown family fails with the known ones listed
    rows = [{"id": c.id, "question": c.question, "family": c.family, "note": c.note, "line": c.line_start} for c in chosen]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for row in rows:
        click.echo(f"{row['id']:<60} {row['family']:<28} {row['question']}")


@main.command()
@common_options
@click.argument("card_id")
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON.")
def show(corpus: Path | None, index_dir: Path | None, model: str | None, card_id: str, as_json: bool) -> None:
    """Show one card: question, family, source and answer.

    Example: kb show how-does-ppo-work-why-the-clip
    """
    import difflib

    from kb.cli.terminal import render_card
    from kb.errors import CardNotFound

    kb = open_kb(corpus, index_dir, model)
    if not kb.has_card(card_id):
        close = difflib.get_close_matches(card_id, [c.id for c in kb.cards()], n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `kb cards` lists the ids"
        raise CardNotFound(f"no card with id {card_id[:200]!r}{hint}")
    card = kb.card(card_id)
    if as_json:
        click.echo(json.dumps(card.to_dict(), ensure_ascii=False, indent=1))
        return
    click.echo(render_card(card))


if __name__ == "__main__":
    main()
