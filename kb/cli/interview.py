"""`kb grade` and `kb interview`: thin commands over kb.grade and kb.interview.InterviewSession."""
from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kb.cli.common import F, common_options, open_kb
from kb.config import envvar, flag_help
from kb.errors import KbError, QueryError, VoiceUnavailable

if TYPE_CHECKING:
    from kb import InterviewSession, Turn


def progress_options(func: F) -> F:
    """--data and --profile, each with its KB_* variable."""
    func = click.option("--profile", envvar=envvar("KB_PROFILE"), default="default", help=flag_help("KB_PROFILE"))(func)
    func = click.option("--data", "data_dir", envvar=envvar("KB_DATA"), default=None, type=click.Path(file_okay=False, path_type=Path),
                        help=flag_help("KB_DATA"))(func)
    return func


def _read_grading_queries(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QueryError(f"{path}:{number}: not a JSON line ({exc.msg})") from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("question"), str) or not isinstance(obj.get("answer"), str):
            raise QueryError(f'{path}:{number}: expected {{"question": "...", "answer": "..."}}')
        rows.append(obj)
    return rows


def _plain_terminal(markdown: str) -> str:
    """Markdown for a terminal: bold kept as bold, formulas as unicode text (kb.cli.terminal)."""
    from kb.cli.terminal import formulas_as_text, safe

    text = re.sub(r"\*\*(.+?)\*\*", lambda m: click.style(m.group(1), bold=True), formulas_as_text(safe(markdown)))
    return re.sub(r"(?m)^## ", "", text)


def _check_audio_options(question: str | None, answer: str | None, queries_file: Path | None) -> None:
    """--audio answers one card: it needs --question and replaces --answer; fails at once without the voice extra."""
    from kb import voice_hint

    if answer is not None or queries_file:
        raise QueryError("give --audio or --answer/--queries, not both")
    if question is None:
        raise QueryError("--audio needs --question: the card the recording answers")
    hint = voice_hint()
    if hint is not None:
        raise VoiceUnavailable(hint)


@click.command()
@common_options
@click.option("--question", "-q", default=None, help="Card id, or question text (the closest card is used).")
@click.option("--answer", "-a", default=None, help="Your answer, in free text.")
@click.option("--queries", "queries_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='JSONL file of {"question", "answer"}; one JSON line out per line in.')
@click.option("--audio", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help='A recorded answer (wav, mp3, ogg, ...), transcribed offline and graded; --json adds "transcript". Needs the voice extra.')
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--profile", envvar=envvar("KB_PROFILE"), default=None,
              help="Grade with this profile's labelled answers to the card as references too. " + flag_help("KB_PROFILE"))
@click.option("--data", "data_dir", envvar=envvar("KB_DATA"), default=None, type=click.Path(file_okay=False, path_type=Path), help=flag_help("KB_DATA"))
@click.option("--mark", type=click.Choice(["right", "wrong"]), default=None,
              help="Store the answer as right or wrong for --profile (as the web buttons do): no review is added and FSRS does not move.")
def grade(corpus: Path | None, index_dir: Path | None, model: str | None, question: str | None, answer: str | None, queries_file: Path | None,
          as_json: bool, audio: Path | None, profile: str | None, data_dir: Path | None, mark: str | None) -> None:
    """Grade an answer against a card: score 0-100, key points covered and missed.

    Example: kb grade -q how-does-ppo-work-why-the-clip -a "the clip keeps updates small" --json
    """
    if mark is not None and (profile is None or queries_file):
        raise QueryError("--mark needs --profile, and one --question and --answer")
    if audio is not None:
        _check_audio_options(question, answer, queries_file)
    elif not queries_file and (question is None or answer is None):
        raise QueryError("give --question and --answer, or --queries FILE")
    rows: list[dict[str, Any]] = _read_grading_queries(queries_file) if queries_file else [{"question": question, "answer": answer}]
    kb = open_kb(corpus, index_dir, model, data_dir=data_dir)
    transcript = None
    if audio is not None:  # the recording is the answer, biased toward the card's vocabulary
        assert question is not None  # _check_audio_options made sure
        transcript = kb.transcribe(audio, kb.resolve(question).id)
        rows = [{"question": question, "answer": transcript.text}]
    for row in rows:
        try:
            card = kb.resolve(row["question"])
            if mark is not None:
                assert profile is not None  # --mark needs --profile (checked above)
                result = kb.progress(profile).mark(card.id, row["answer"], mark)
            else:
                result = kb.grade(card.id, row["answer"], profile=profile)
            out: dict[str, Any] = {**result.to_dict(), "card_id": card.id, **({"marked": mark} if mark else {})}
        except KbError as exc:
            if not queries_file:
                raise
            out = {"score": None, "covered": [], "missed": [], "contradictions": [], "fits_card": None, "error": str(exc)}
        if transcript is not None:
            out["transcript"] = transcript.text
            if not as_json:
                click.echo(f"heard: {transcript.text}")
        if queries_file or as_json:
            click.echo(json.dumps(out, ensure_ascii=False))
        else:
            from kb import grade_feedback

            click.echo(f"{click.style(card.question, bold=True)}\nscore {out['score']}/100")
            for block in grade_feedback(result):
                click.echo(_plain_terminal(block))

@click.command()
@common_options
@progress_options
@click.option("--family", "families", multiple=True, help="Only this family (repeatable); default: all.")
@click.option("--length", "-n", default=5, show_default=True, type=click.IntRange(1, 100), help="Number of questions.")
@click.option("--mode", type=click.Choice(["due", "weakest", "random"]), default="due", show_default=True, help="Which cards first.")
@click.option("--seed", type=int, default=None, help="Random seed (ties and random mode).")
@click.option("--no-follow-ups", is_flag=True, help="Do not ask follow-ups from cross-linked cards.")
@click.option("--audio", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A recording that answers the first question (transcribed offline; needs the voice extra); the rest goes on in the terminal.")
def interview(corpus: Path | None, index_dir: Path | None, model: str | None, data_dir: Path | None, profile: str, families: tuple[str, ...], length: int,
              mode: str, seed: int | None, no_follow_ups: bool, audio: Path | None) -> None:
    """A mock interview in the terminal: answer in free text; `hint`, `skip`, `repeat`, `end`.

    After each grade, press Enter to accept the suggested FSRS rating or type again/hard/good/easy.
    Correct the grade first if it got you wrong: `right` or `wrong` (the whole answer), `said N` or
    `didnt N` (key point N), `ok N` (contradiction N is not one); kb grades your later answers with them.
    Progress is saved per profile in the data folder.

    Example: kb interview --length 5 --mode due --profile ana
    """
    from kb import RATING_NAMES

    if audio is not None:
        from kb import voice_hint

        if voice_hint() is not None:
            raise VoiceUnavailable(voice_hint())
    kb = open_kb(corpus, index_dir, model, data_dir=data_dir)
    store = kb.progress_store()
    session = kb.interview(profile=profile, families=list(families) or None, length=length, mode=mode, seed=seed, follow_ups=not no_follow_ups)

    def show(turns: Iterable[Turn]) -> None:
        for turn in turns:
            click.echo(_plain_terminal(turn.text))
            click.echo()

    def read(prompt: str) -> str | None:
        click.echo(prompt, nl=False)
        line = sys.stdin.readline()
        if not line:
            click.echo()
            return None
        return line.rstrip("\n")

    try:
        show(session.start())
        spoken: list[str] = []  # --audio: the recording's transcript answers the first question
        if audio is not None and session.current is not None:
            transcript = kb.transcribe(audio, session.current.card_id)
            click.echo(f"> {transcript.text}  [heard in {audio.name}]")
            spoken.append(transcript.text)
        while not session.finished:
            line = spoken.pop() if spoken else read("> ")
            if line is None:
                show(session.end())
                break
            turns = session.handle(line)
            graded = next((i for i, t in enumerate(turns) if t.kind == "grade"), None)
            if graded is None:
                show(turns)
                continue
            show(turns[: graded + 1])
            _show_correctable(session)
            while True:
                choice = (read("rating [Enter = suggested, or again/hard/good/easy; right/wrong, said N, didnt N, ok N to correct]: ") or "").strip().lower()
                correction = _correction(session, choice)
                if correction is None:
                    break
                show([correction])
                _show_correctable(session)
            if choice in RATING_NAMES:
                show([session.set_rating(choice)])
            # the summary is rebuilt so it shows the rating actually chosen
            show([session.summary() if t.kind == "summary" else t for t in turns[graded + 1 :]])
    finally:
        store.close()


def _show_correctable(session: InterviewSession) -> None:
    """The last grade's key points and contradictions, numbered, for `said N`, `didnt N`, `ok N`."""
    grade = session.last_graded.grade if session.last_graded else None
    if grade is None:
        return
    covered = {c.point for c in grade.covered}
    for n, point in enumerate(grade.key_points, 1):
        click.echo(f"  point {n} [{'said' if point.text in covered else 'missed'}]: {_plain_terminal(point.text)[:100]}")
    for n, clash in enumerate(grade.contradictions, 1):
        click.echo(f"  contradiction {n}: “{clash.answer_span[:80]}”")


def _correction(session: InterviewSession, choice: str) -> Turn | None:
    """A correction typed after a grade (right, wrong, said N, didnt N, ok N) -> the re-graded turn; None for anything else."""
    grade = session.last_graded.grade if session.last_graded else None
    if grade is None or not choice:
        return None
    if choice in ("right", "wrong"):
        return session.mark(choice)
    match = re.fullmatch(r"(said|didnt|didn't|ok)\s+(\d+)", choice)
    if not match:
        return None
    n = int(match.group(2)) - 1
    if match.group(1) == "ok":
        if not 0 <= n < len(grade.contradictions):
            return None
        return session.mark(dismissed=[grade.contradictions[n].card_sentence])
    if not 0 <= n < len(grade.key_points):
        return None
    return session.mark(points={grade.key_points[n].text: match.group(1) == "said"})


def register(main: click.Group) -> None:
    for command in (grade, interview):
        main.add_command(command)
