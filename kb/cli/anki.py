"""`kb anki import` and `kb anki export`: Anki packages in (as markdown notes) and out (as an .apkg)."""
from __future__ import annotations

from pathlib import Path

import click

from kb.cli.common import common_options, open_kb, stderr
from kb.cli.interview import progress_options
from kb.config import Config
from kb.errors import ConfigError


@click.group()
def anki() -> None:
    """Anki packages: import decks as markdown notes, export cards as an .apkg (docs/anki.md).

    Example: kb anki import Physics.apkg && kb anki export physics.apkg --family Mechanics
    """


def _inside(folder: Path, corpus: Path) -> bool:
    try:
        folder.resolve().relative_to(corpus.resolve())
        return True
    except ValueError:
        return False


@anki.command("import")
@common_options
@progress_options
@click.argument("package", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--into", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the notes. [default: a sub-folder of the corpus named after the deck]")
@click.option("--with-history", is_flag=True,
              help="Also replay the deck's review log into --profile's progress, so FSRS continues where Anki left off (builds the index).")
def import_command(corpus: Path | None, index_dir: Path | None, model: str | None, data_dir: Path | None, profile: str, package: Path,
                   into: Path | None, with_history: bool) -> None:
    """Import an Anki deck (.apkg or .colpkg, legacy or current format) as markdown notes.

    Each deck and sub-deck becomes one note in folders that mirror the deck tree; its name is the
    family. Every Anki card becomes a `### Q:` card: its template's question side is the question, its
    answer side the answer, so reversed cards and note types with several templates give several
    cards, and each cloze its own. HTML becomes markdown, MathJax and [latex] become $...$, media are
    copied beside the note, and kb's own exports come back as the same cards. Re-importing rewrites
    only files left unedited since the last import; edited ones are named.

    Example: kb anki import Physics.apkg --with-history --profile ana
    """
    from kb import import_anki

    config = Config.from_env(corpus=corpus, data=data_dir)
    if with_history and into is not None and not _inside(into, config.corpus):
        raise ConfigError(f"--with-history needs the notes inside the corpus ({config.corpus}); --into {into} is outside it")
    result = import_anki(package, config.corpus, into)
    for warning in result.warnings:
        stderr(f"warning: {warning}")
    click.echo(
        f"imported {result.package.name} ({result.format}) into {result.folder}: {len(result.cards)} cards from "
        f"{result.decks} deck(s) in {len(result.notes)} note(s); wrote {len(result.written)} file(s), "
        f"{len(result.unchanged)} unchanged, {len(result.kept)} left alone; {result.reviews} Anki review(s) in the log"
    )
    if not _inside(result.folder, config.corpus):
        stderr(f"note: {result.folder} is outside the corpus {config.corpus}; point --corpus at it to use these notes")
    if not with_history:
        if _inside(result.folder, config.corpus):
            click.echo("run `kb build` to index the new notes" + (" (or import again with --with-history)" if result.reviews else ""))
        return
    kb = open_kb(corpus, index_dir, model, data_dir=data_dir)
    report = kb.import_anki_history(result, profile)
    click.echo(
        f"history: {report.reviews} review(s) of {report.cards} card(s) replayed into profile {report.profile!r}"
        + (f"; {report.already} already there or older than its latest review" if report.already else "")
    )
    for question in report.unmatched:
        stderr(f"warning: no card for the reviews of {question} (edited since the import?)")


@anki.command("export")
@common_options
@progress_options
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--family", "families", multiple=True, help="Only cards of this family (repeat for several).")
@click.option("--weak", type=click.IntRange(1, None), default=None, help="Only the N weakest cards of --profile (lowest last score first).")
@click.option("--deck", default=None, help="Name of the parent deck. [default: the corpus folder's name]")
def export_command(corpus: Path | None, index_dir: Path | None, model: str | None, data_dir: Path | None, profile: str, out: Path,
                   families: tuple[str, ...], weak: int | None, deck: str | None) -> None:
    """Export cards as an Anki package (.apkg): one note per card, one sub-deck per family.

    Formulas become MathJax, each note's Source field names its note and line, and each card keeps
    one GUID across exports (even after its question is reworded), so importing a newer export into
    Anki updates the notes instead of adding duplicates.

    Example: kb anki export weak.apkg --profile ana --weak 20
    """
    kb = open_kb(corpus, index_dir, model, data_dir=data_dir)
    result = kb.export_anki(out, families=list(families) or None, profile=profile, weak=weak, deck=deck)
    for warning in result.warnings:
        stderr(f"warning: {warning}")
    click.echo(
        f"wrote {result.path}: {result.notes} note(s) in {len(result.decks)} deck(s), {result.media} media file(s); "
        f"GUIDs: {result.guids_kept} kept, {result.guids_followed} followed an edited card, {result.guids_new} new"
    )


def register(main: click.Group) -> None:
    main.add_command(anki)
