"""`kb related` (see-also links for a card, each with its reason) and `kb concepts` (the glossary)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from kb.cli.common import common_options, open_kb, read_queries


@click.command()
@common_options
@click.argument("card", required=False)
@click.option("-k", "k", default=6, show_default=True, type=click.IntRange(1, 50), help="Number of links.")
@click.option("--queries", "queries_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="One card per line (id, question or text; or JSONL with a \"query\" field); one JSON line each.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def related(corpus: Path | None, index_dir: Path | None, model: str | None, card: str | None, k: int, queries_file: Path | None,
            as_json: bool) -> None:
    """See-also links for a card (an id, a question, or text that best matches one), with reasons.

    Example: kb related how-does-ppo-work-why-the-clip --json
    """
    from kb.errors import KbError, QueryError

    if not card and not queries_file:
        raise QueryError("give a CARD (id, question or text) or --queries FILE")
    kb = open_kb(corpus, index_dir, model)

    def payload(text: str) -> dict[str, Any]:
        found = kb.resolve(text)
        return {"id": found.id, "question": found.question, "links": [link.to_dict() for link in kb.related(found.id, k)]}

    if queries_file:
        for text in read_queries(queries_file):
            try:
                out = {"query": text, **payload(text)}
            except KbError as exc:
                out = {"query": text, "id": None, "question": None, "links": [], "error": str(exc)}
            click.echo(json.dumps(out, ensure_ascii=False))
        return
    assert card  # without --queries a CARD is required (checked above)
    out = payload(card)
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    click.echo(click.style(out["question"], bold=True) + f"  ({out['id']})")
    for rank, link in enumerate(out["links"], 1):
        click.echo(f"{rank:>2}. {link['question']}")
        click.echo(f"      {link['reason']} · {link['family']} · {link['id']}")

@click.command()
@common_options
@click.argument("term", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per concept).")
def concepts(corpus: Path | None, index_dir: Path | None, model: str | None, term: str | None, as_json: bool) -> None:
    """The concept glossary found in the notes: each concept, its home card and the cards that mention it.

    Example: kb concepts KL
    """
    from kb.errors import QueryError

    kb = open_kb(corpus, index_dir, model)
    found = kb.concepts()
    chosen = list(found.concepts.values())
    if term:
        one = found.find(term)
        wanted = term.casefold()
        chosen = [one] if one else [c for c in chosen if wanted in c.name.casefold() or any(wanted in f.casefold() for f in c.forms)]
        if not chosen:
            raise QueryError(f"no concept matches {term!r}; run `kb concepts` for the whole glossary")
    if as_json:
        for concept in chosen:
            click.echo(json.dumps(concept.to_dict(), ensure_ascii=False))
        return
    for concept in chosen:
        forms = [f for f in concept.forms if f.casefold() != concept.name.casefold()]
        click.echo(click.style(concept.name, bold=True) + (f"  ({', '.join(forms)})" if forms else ""))
        home = kb.card(concept.home).question + f" [{concept.home_reason}]" if concept.home else "no card defines it"
        click.echo(f"    home: {home}")
        click.echo(f"    mentioned in {len(concept.mentions)} card(s)")


def register(main: click.Group) -> None:
    for command in (related, concepts):
        main.add_command(command)
