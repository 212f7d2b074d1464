"""`kb ask`: the chat in the terminal and in scripts, mirroring the web app's Chat tab."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from kb.cli.common import common_options, open_kb, read_queries


@click.command()
@common_options
@click.argument("question", required=False)
@click.option("--queries", "queries_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Ask every question in FILE (text or JSONL with \"query\"); one JSON line each, each a fresh conversation.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: answer_md, abstained, citations, follow_ups, nearest.")
def ask(corpus, index_dir, model, question, queries_file, as_json):
    """Ask your notes: the answer comes from the nearest cards, cited; or a plain "not in your notes".

    With no QUESTION, a conversation on standard input: one question per line, follow-ups such as
    "and why?" refer to the previous answer; an empty line or end of input stops.

    Example: kb ask "why does PPO clip the ratio?" --json
    """
    from kb.cli.terminal import reply_payload  # renderers load with the command, not with `kb --help`

    kb = open_kb(corpus, index_dir, model)
    if queries_file:
        for text in read_queries(queries_file):
            reply = kb.ask(text)
            payload = {"query": text, **reply_payload(reply)}
            if reply.error:
                payload["error"] = reply.error
            click.echo(json.dumps(payload, ensure_ascii=False))
        return
    if question is not None:
        _show(kb.ask(question), as_json)
        return
    topic = None
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            click.echo("? ", nl=False)
        line = sys.stdin.readline()
        if not line or not line.strip():
            break
        reply = kb.ask(line.strip(), topic=topic)
        topic = reply.topic if reply.topic else (topic if reply.error else None)
        _show(reply, as_json)
        if not as_json:
            click.echo()


def _show(reply, as_json: bool) -> None:
    from kb.cli.terminal import render_reply, reply_payload

    if as_json:
        click.echo(json.dumps(reply_payload(reply), ensure_ascii=False))
        return
    click.echo(render_reply(reply))
    if reply.follow_ups:
        click.echo(click.style("next: " + " | ".join(reply.follow_ups), dim=True))


def register(main: click.Group) -> None:
    for command in (ask,):
        main.add_command(command)
