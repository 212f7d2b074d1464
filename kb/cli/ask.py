"""`kb ask`: the chat in the terminal and in scripts, mirroring the web app's Chat tab."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kb.cli.common import common_options, open_kb, read_queries
from kb.cli.interview import progress_options

if TYPE_CHECKING:
    from kb import ChatReply
    from kb.knowledge import KnowledgeBase

# Typed alone in a conversation: the previous reply's card does not answer the previous question.
NOT_WHAT_I_ASKED = ("not what i asked", "not what i asked.", "not what i asked!")


@click.command()
@common_options
@progress_options
@click.argument("question", required=False)
@click.option("--queries", "queries_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Ask every question in FILE (text or JSONL with \"query\"); one JSON line each, each a fresh conversation.")
@click.option("--not-what-i-asked", "rejected", metavar="CARD_ID",
              help="With QUESTION: that card does not answer it. Stored for --profile (never that card for this question again); the question is asked again.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: outcome (answer, closest, abstain), answer_md, citations, follow_ups, nearest, missing.")
def ask(corpus: Path | None, index_dir: Path | None, model: str | None, data_dir: Path | None, profile: str, question: str | None,
        queries_file: Path | None, rejected: str | None, as_json: bool) -> None:
    """Ask your notes: the answer from the nearest card, cited; the closest card when the notes may not
    cover it; or a plain "not in your notes".

    With no QUESTION, a conversation on standard input: one question per line, follow-ups such as
    "and why?" refer to the previous answer, and the line "not what I asked" marks the previous reply
    wrong (for --profile); an empty line or end of input stops.

    Examples: kb ask "why does PPO clip the ratio?" --json
              kb ask "why does PPO clip the ratio?" --not-what-i-asked ppo-vs-trpo-vs-sac-when-to-use-each --profile ana
    """
    from kb.cli.terminal import reply_payload  # renderers load with the command, not with `kb --help`

    kb = open_kb(corpus, index_dir, model, data_dir=data_dir)
    if queries_file:
        for text in read_queries(queries_file):
            reply = kb.ask(text, profile=profile)
            payload = {"query": text, **reply_payload(reply)}
            if reply.error:
                payload["error"] = reply.error
            click.echo(json.dumps(payload, ensure_ascii=False))
        return
    if question is not None:
        if rejected:
            _show(kb.progress(profile).not_what_i_asked(question, rejected), as_json)
            return
        _show(kb.ask(question, profile=profile), as_json)
        return
    if rejected:
        raise click.UsageError("--not-what-i-asked needs the QUESTION it answered wrongly")
    _conversation(kb, profile, as_json)


def _conversation(kb: KnowledgeBase, profile: str, as_json: bool) -> None:
    topic: str | None = None
    last: ChatReply | None = None
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            click.echo("? ", nl=False)
        line = sys.stdin.readline()
        if not line or not line.strip():
            break
        text = line.strip()
        if text.lower() in NOT_WHAT_I_ASKED:
            if last is None or last.card is None or last.outcome != "answer":
                click.echo("Nothing to mark: the last reply answered from no card.")
                continue
            click.echo(f"Noted: «{last.card.question}» does not answer «{last.message}». Asked again:")
            reply = kb.progress(profile).not_what_i_asked(last.message, last.card.id)
        else:
            reply = kb.ask(text, topic=topic, profile=profile)
        topic = reply.topic if reply.topic else (topic if reply.error else None)
        last = reply if not reply.error else last
        _show(reply, as_json)
        if not as_json:
            click.echo()


def _show(reply: ChatReply, as_json: bool) -> None:
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
