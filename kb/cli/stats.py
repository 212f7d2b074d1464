"""`kb stats` (review statistics, as in the Progress tab), `kb fsrs` (FSRS parameters fitted to a profile) and
`kb calibrate` (the grader's weights fitted to a profile's labels; the chat judge on a profile's marks; the
label-free thresholds recalibrated to another embedding model)."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kb.cli.common import common_options, open_kb
from kb.cli.interview import progress_options

if TYPE_CHECKING:
    from kb import ReviewStats

SHADES = " ░▒▓█"  # heatmap levels 0-4 (0 is drawn as a dot)
SPARK = "▁▂▃▄▅▆▇█"


def _bar(fraction: float, width: int = 20) -> str:
    filled = max(0, min(width, round(fraction * width)))
    return "█" * filled + "·" * (width - filled)


def heatmap_text(stats: ReviewStats) -> list[str]:
    """The calendar heatmap as 7 text rows (Monday first), one column per week, with month initials above."""
    levels = stats.heat_levels()
    weeks = (len(stats.heatmap) + 6) // 7
    months = [" "] * weeks
    previous: str | None = None
    for i in range(0, len(stats.heatmap), 7):
        month = date.fromisoformat(stats.heatmap[i][0]).strftime("%b")
        if month != previous:
            months[i // 7] = month[0]
            previous = month
    rows = ["     " + "".join(months)]
    for weekday, name in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")):
        cells = []
        for week in range(weeks):
            i = week * 7 + weekday
            cells.append(("·" if levels[i] == 0 else SHADES[levels[i]]) if i < len(levels) else " ")
        rows.append(f"{name}  " + "".join(cells))
    rows.append("     less · ░ ▒ ▓ █ more")
    return rows


def render_stats(stats: ReviewStats) -> str:
    lines = [click.style(f"Review statistics for {stats.profile}", bold=True) + f" (UTC days, as of {stats.now[:16].replace('T', ' ')})"]
    if not stats.reviews:
        lines.append("No reviews yet. Start with `kb interview`.")
    else:
        retention = f"{stats.retention:.1%}" if stats.retention is not None else "—"
        lines.append(f"{stats.reviews} reviews on {stats.days_studied} day(s) · streak {stats.streak} day(s) · retention {retention} (Hard or better)")
    lines += ["", click.style(f"Reviews per day, last {(len(stats.heatmap) + 6) // 7} weeks", bold=True), *heatmap_text(stats)]
    weeks = [(w, w.retention) for w in stats.weekly_retention if w.retention is not None]  # the weeks with reviews
    lines += ["", click.style("Retention per week (share rated Hard or better)", bold=True)]
    lines += [f"  week of {w.week}  {w.reviews:>4} reviews  {retention:>6.1%}  {_bar(retention)}" for w, retention in weeks] or ["  no reviews in these weeks"]
    counts = [n for _, n in stats.forecast]
    top = max(counts, default=0)
    spark = "".join(SPARK[min(len(SPARK) - 1, (n * (len(SPARK) - 1) + top - 1) // top)] if n else "·" for n in counts) if top else "·" * len(counts)
    lines += ["", click.style(f"Due in the next {len(counts)} days", bold=True) + f" ({stats.overdue} overdue, counted today)",
              f"  {spark}  total {sum(counts)}"]
    lines += [f"  {day}  {n}" for day, n in stats.forecast[:7] if n]
    lines += ["", click.style("Mastery per family (mean last score, unreviewed = 0)", bold=True)]
    width = max((len(f) for f, *_ in stats.mastery), default=10)
    lines += [f"  {family:<{width}}  {mastery:>5.1f}  {_bar(mastery / 100)}  {reviewed}/{cards} reviewed" for family, mastery, reviewed, cards in stats.mastery]
    lines += ["", click.style("Scheduler", bold=True), "  " + stats.scheduler.get("description", "")]
    return "\n".join(lines)


@click.command()
@common_options
@progress_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON: heatmap, weekly_retention, forecast, mastery, scheduler, corrections, totals.")
def stats(corpus: Path | None, index_dir: Path | None, model: str | None, data_dir: Path | None, profile: str, as_json: bool) -> None:
    """Review statistics: reviews per day (26-week heatmap), retention per week, due forecast, mastery.

    Retention is the share of reviews rated Hard or better; the forecast counts cards due per UTC day
    for the next 30 days from the stored FSRS states (today includes the overdue).

    Example: kb stats --profile ana --json
    """
    kb = open_kb(corpus, index_dir, model, data_dir=data_dir)
    result = kb.progress(profile).stats()
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    click.echo(render_stats(result))


@click.group()
def fsrs() -> None:
    """FSRS scheduling fitted to you: fit the parameters to a profile's own reviews, or show those in use."""


@fsrs.command()
@common_options
@progress_options
@click.option("--json", "as_json", is_flag=True, help="Print the fit as JSON (status, losses, parameters) with the parameters now in use.")
def optimize(corpus: Path | None, index_dir: Path | None, model: str | None, data_dir: Path | None, profile: str, as_json: bool) -> None:
    """Fit FSRS parameters to a profile's review history, and use them if they predict better.

    Fits with fsrs's optimizer on the earliest 80 % of the reviews and compares the log loss on the
    latest 20 % with the default and the fitted parameters; the fitted ones are stored and schedule
    the profile's next reviews only when their held-out loss is lower. Needs at least 512 reviews
    made a day or more after the card's previous review in the earliest 80 % (and 50 in the rest);
    with fewer it says so, keeps the defaults and exits with code 0.

    Example: kb fsrs optimize --profile ana
    """
    kb = open_kb(corpus, index_dir, model, data_dir=data_dir)
    progress = kb.progress(profile)
    result = progress.optimize_fsrs()
    status = progress.scheduler_status()
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "in_use": status.to_dict()}, ensure_ascii=False))
        return
    click.echo(result.message)
    click.echo(f"In use for {progress.profile}: {status.describe()}")


@fsrs.command()
@common_options
@progress_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON: source (default or fitted), parameters, the latest fit.")
def show(corpus: Path | None, index_dir: Path | None, model: str | None, data_dir: Path | None, profile: str, as_json: bool) -> None:
    """Show which FSRS parameters schedule a profile: the defaults, or those fitted on a date.

    Example: kb fsrs show --profile ana
    """
    kb = open_kb(corpus, index_dir, model, data_dir=data_dir)
    status = kb.progress(profile).scheduler_status()
    if as_json:
        click.echo(json.dumps(status.to_dict(), ensure_ascii=False))
        return
    click.echo(status.describe())
    click.echo("parameters: " + " ".join(f"{w:.4f}" for w in status.parameters))


@click.group()
def calibrate() -> None:
    """Calibrate kb to you and your model: the grader's weights, the chat on your marks, thresholds for another embedding model."""


@calibrate.command("grader")
@common_options
@progress_options
@click.option("--json", "as_json", is_flag=True, help="Print the fit as JSON (status, weights, AUC before and after, candidates).")
def calibrate_grader(corpus: Path | None, index_dir: Path | None, model: str | None, data_dir: Path | None, profile: str, as_json: bool) -> None:
    """Refit the grader's few weights to a profile's answers marked right or wrong, and use them if they order better.

    Fits on the earliest 80 % of the marked answers (at least 40) and judges on the latest 20 %
    (at least 10): the fit is adopted only if it orders right answers above wrong ones better there
    than the defaults. Every fit is stored; the latest decides. With too few labels it says so and
    exits with code 0. Mark answers with `kb grade --mark`, `kb interview` or the Interview tab.

    Example: kb calibrate grader --profile ana
    """
    kb = open_kb(corpus, index_dir, model, data_dir=data_dir)
    result = kb.progress(profile).calibrate_grader()
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    click.echo(result.message)


@calibrate.command("chat")
@common_options
@progress_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON: pairs, answered_from_marked_card, share, outcomes.")
def calibrate_chat(corpus: Path | None, index_dir: Path | None, model: str | None, data_dir: Path | None, profile: str, as_json: bool) -> None:
    """How the chat's coverage judge does on your own "not what I asked" marks.

    Each pair (question, card) the profile marked is asked again without the marks: a reply from the
    marked card is a mistake of the shipped calibration on your own data. The marks themselves keep
    working for that profile whatever this says, and never change other profiles. Mark replies with
    the Chat tab's "Not what I asked" or `kb ask --not-what-i-asked`.

    Example: kb calibrate chat --profile ana
    """
    kb = open_kb(corpus, index_dir, model, data_dir=data_dir)
    check = kb.progress(profile).check_chat()
    if as_json:
        click.echo(json.dumps(check.to_dict(), ensure_ascii=False))
        return
    if not check.pairs:
        click.echo(f"No replies marked \"not what I asked\" for profile {profile!r} yet.")
        return
    outcomes = ", ".join(f"{name} {count}" for name, count in check.outcomes.items())
    click.echo(f"{check.pairs} replies marked \"not what I asked\". Without the marks, the chat would answer "
               f"{check.answered_from_marked_card} of them ({check.to_dict()['share']:.0%}) from the card you marked; outcomes: {outcomes}.")


@calibrate.command("model")
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print the recalibration as JSON (values, moments, thresholds kept).")
def calibrate_model(corpus: Path | None, index_dir: Path | None, model: str | None, as_json: bool) -> None:
    """Recalibrate the label-free thresholds (search confidence, coverage, follow-ups) to --model / KB_MODEL.

    Each of your cards' questions is asked with its card left out, under the shipped model
    (all-MiniLM-L6-v2) and under yours; every such threshold keeps its place in that distribution.
    The result is stored beside the index and used for that model from then on. Thresholds fitted
    on labelled data (grading, links, the Anki matcher, the chat's judge) keep the shipped values:
    they are listed. Under the shipped model there is nothing to recalibrate.

    Example: KB_MODEL=/models/bge-small kb calibrate model
    """
    kb = open_kb(corpus, index_dir, model)
    if kb.model_is_shipped():
        if as_json:
            click.echo(json.dumps({"status": "shipped model", "thresholds": kb.model_thresholds()}, ensure_ascii=False))
        else:
            click.echo("The configured model is the shipped one (all-MiniLM-L6-v2): every threshold is its own; nothing to recalibrate.")
        return
    result = kb.calibrate_model().to_dict()
    if as_json:
        click.echo(json.dumps({"status": "recalibrated", **result}, ensure_ascii=False))
        return
    click.echo(f"Recalibrated for {result['model']} on {result['cards']} of your card questions (left out one at a time):")
    for name, value in result["values"].items():
        click.echo(f"  {name:32} {result['shipped'][name]:+.4f} -> {value:+.4f}")
    click.echo("Kept at the shipped model's values (they need labels): " + ", ".join(result["kept_with_shipped_values"]))


def register(main: click.Group) -> None:
    for command in (stats, fsrs, calibrate):
        main.add_command(command)
