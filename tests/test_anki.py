"""Anki packages in and out, on real files: packages written by genanki (legacy) and by the `anki`
package itself (current format, with a real review log), read back with plain sqlite3."""
from __future__ import annotations

import sqlite3
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kb import import_anki
from kb.coach.progress import ProgressStore
from tests.support import copy_shipped_corpus, kb_env, kb_subprocess, load_kb

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32  # the bytes of a media file travel unchanged
SHIPPED_NOTE = "losses-in-deep-learning.md"
FIELD_SEPARATOR = "\x1f"
EXPECTED = {  # question -> family, for the genanki deck below
    "What is energy?": "Physics",
    "Newton's second law?": "Mechanics",
    "The [...] points to steepest ascent.": "Mechanics",
    "The gradient points to [direction].": "Mechanics",
    "What does inertia mean?": "Mechanics",
    "What is friction \\mu?": "Forces",
}


def genanki_package(path: Path, media: Path, energy_answer: str = "The capacity to do work: \\(E = mc^2\\) at rest.<br>Units: joules") -> Path:
    """A legacy package with nested decks, HTML, MathJax, a cloze note, a table and an image."""
    import genanki

    basic = genanki.Model(1_900_000_001, "Basic (kb test)", fields=[{"name": "Front"}, {"name": "Back"}],
                          templates=[{"name": "Card 1", "qfmt": "{{Front}}", "afmt": "{{FrontSide}}<hr id=answer>{{Back}}"}])
    physics = genanki.Deck(2_000_000_001, "Physics")
    mechanics = genanki.Deck(2_000_000_002, "Physics::Mechanics")
    forces = genanki.Deck(2_000_000_003, "Physics::Mechanics::Forces")
    physics.add_note(genanki.Note(basic, ["What is <b>energy</b>?", energy_answer], guid="energy"))
    mechanics.add_note(genanki.Note(basic, ["Newton's second law?", 'Force is mass times acceleration: \\[F = m a\\]<div><img src="apple.png"></div>'],
                                    guid="newton"))
    mechanics.add_note(genanki.Note(genanki.CLOZE_MODEL, ["The {{c1::gradient}} points to {{c2::steepest ascent::direction}}.", "Written \\(\\nabla f\\)."],
                                    guid="cloze"))
    mechanics.add_note(genanki.Note(basic, ["What does <i>inertia</i> mean?",
                                            "<ul><li>resistance to change</li><li>Q: not a question</li></ul><h2>More?</h2>---<br>plain $5 text"],
                                            guid="inertia"))
    forces.add_note(genanki.Note(basic, ["What is friction \\(\\mu\\)?",
                                         "<table><tr><th>kind</th><th>\\(\\mu\\)</th></tr><tr><td>static</td><td>0.5</td></tr></table>"], guid="friction"))
    media.write_bytes(PNG)
    genanki.Package([physics, mechanics, forces], media_files=[str(media)]).write_to_file(str(path))
    return path


@pytest.fixture(scope="module")
def legacy_package(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("genanki")
    return genanki_package(base / "physics.apkg", base / "apple.png")


@pytest.fixture(scope="module")
def imported_kb(tmp_path_factory, legacy_package, encoder):
    """The genanki package imported into an empty corpus, and a KnowledgeBase over it."""
    corpus = tmp_path_factory.mktemp("imported") / "corpus"
    corpus.mkdir()
    result = import_anki(legacy_package, corpus)
    return result, load_kb(corpus, encoder)


def anki_collection(folder: Path, reviews: list[int] | None = None):
    """A real collection written by the `anki` package: Calculus::Vectors with a basic note and a cloze,
    the basic card answered with `reviews` (eases 1-4), those answers moved to one a day, in the past."""
    from anki.collection import Collection

    folder.mkdir(parents=True, exist_ok=True)
    col = Collection(str(folder / "collection.anki2"))
    deck = col.decks.id("Calculus::Vectors")
    basic = col.new_note(col.models.by_name("Basic"))
    basic["Front"] = "What is a <b>gradient</b>?"
    basic["Back"] = "The vector of partial derivatives \\(\\nabla f = (\\partial_1 f, \\dots)\\)<br><img src=\"arrow.png\">"
    col.add_note(basic, deck)
    cloze = col.new_note(col.models.by_name("Cloze"))
    cloze["Text"] = "A {{c1::unit vector}} has length {{c2::one}}."
    col.add_note(cloze, deck)
    (folder / "arrow.png").write_bytes(PNG)
    col.media.add_file(str(folder / "arrow.png"))
    for ease in reviews or []:
        card = col.get_card(basic.card_ids()[0])
        card.start_timer()
        col.sched.answerCard(card, ease)
    start = datetime.now(timezone.utc) - timedelta(days=len(reviews or []) + 1)
    for n, (revlog_id,) in enumerate(col.db.all("SELECT id FROM revlog ORDER BY id")):
        col.db.execute("UPDATE revlog SET id = ? WHERE id = ?", int((start + timedelta(days=n)).timestamp() * 1000), revlog_id)
    return col


def current_package(folder: Path, kind: str, reviews: list[int] | None = None) -> Path:
    """A current-format (collection.anki21b, zstd) .apkg or .colpkg exported by the `anki` package."""
    from anki.collection import DeckIdLimit, ExportAnkiPackageOptions

    col = anki_collection(folder / "collection", reviews)
    out = folder / f"calculus.{kind}"
    if kind == "colpkg":
        col.export_collection_package(str(out), include_media=True, legacy=False)
    else:
        options = ExportAnkiPackageOptions(with_scheduling=True, with_deck_configs=False, with_media=True, legacy=False)
        col.export_anki_package(out_path=str(out), options=options, limit=DeckIdLimit(col.decks.id("Calculus::Vectors")))
        col.close()
    return out


def read_apkg(path: Path, tmp: Path) -> list[dict]:
    """Notes of an .apkg read independently: unzip, open collection.anki2 with sqlite3."""
    with zipfile.ZipFile(path) as package:
        (tmp / "collection.anki2").write_bytes(package.read("collection.anki2"))
    db = sqlite3.connect(tmp / "collection.anki2")
    try:
        rows = db.execute("SELECT guid, flds FROM notes ORDER BY id").fetchall()
        decks = db.execute("SELECT decks FROM col").fetchone()[0]
    finally:
        db.close()
    names = ("question", "answer", "family", "source", "card_id")
    return [dict(zip(names, flds.split(FIELD_SEPARATOR), strict=True), guid=guid, decks=decks) for guid, flds in rows]


# ---- import -----------------------------------------------------------------------------------------


def test_importing_a_genanki_package_gives_the_expected_cards(imported_kb):
    result, kb = imported_kb
    assert result.format == "collection.anki2" and result.warnings == [], result.warnings
    folder = result.folder
    assert folder.name == "Physics", folder
    notes = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.md"))
    assert notes == ["Mechanics.md", "Mechanics/Forces.md", "Physics.md"], notes
    got = {card.question: card.family for card in kb.cards()}
    assert got == EXPECTED, f"imported cards differ: {got}"
    assert (folder / "apple.png").read_bytes() == PNG, "the media file was not copied beside its note"
    newton = kb.resolve("Newton's second law?")
    assert "$$F = m a$$" in newton.answer_md and "![](apple.png)" in newton.answer_md, newton.answer_md
    energy = kb.resolve("What is energy?")
    assert "$E = mc^2$" in energy.answer_md and "\\(" not in energy.answer_md, energy.answer_md
    friction = kb.resolve("What is friction \\mu?")
    assert "| kind | $\\mu$ |" in friction.answer_md, friction.answer_md
    hidden = kb.resolve("The [...] points to steepest ascent.")
    assert "**gradient**" in hidden.answer_md and "$\\nabla f$" in hidden.answer_md, hidden.answer_md
    inertia = kb.resolve("What does inertia mean?")
    assert "not a question" in inertia.answer_md and "More?" in inertia.answer_md and "$5" in inertia.answer_md, inertia.answer_md


def test_imported_math_parses_without_stray_dollars(imported_kb):
    _result, kb = imported_kb
    assert kb.problems == [], f"the imported notes have problems: {kb.problems}"
    formulas = [card for card in kb.cards() if "$" in card.answer_md]
    assert len(formulas) >= 4, [c.question for c in formulas]
    note = (imported_kb[0].folder / "Mechanics" / "Forces.md").read_text(encoding="utf-8")
    assert "### Q: What is friction $\\mu$?" in note, note


@pytest.mark.parametrize("kind", ["apkg", "colpkg"])
def test_a_current_format_package_from_the_anki_package_is_imported(tmp_path, kind):
    package = current_package(tmp_path, kind)
    with zipfile.ZipFile(package) as zipped:
        assert "collection.anki21b" in zipped.namelist(), zipped.namelist()
    corpus = tmp_path / "corpus"
    result = import_anki(package, corpus)
    assert result.format == "collection.anki21b", result.format
    assert result.folder == corpus / "Calculus", result.folder
    note = (corpus / "Calculus" / "Vectors.md").read_text(encoding="utf-8")
    assert "# Vectors" in note and "### Q: What is a **gradient**?" in note, note
    assert "$\\nabla f = (\\partial_1 f, \\dots)$" in note and "![](arrow.png)" in note, note
    assert "### Q: A [...] has length one." in note and "### Q: A unit vector has length [...]." in note, note
    assert (corpus / "Calculus" / "arrow.png").read_bytes() == PNG, "the zstd-compressed media file was not restored"


def test_reimport_rewrites_unedited_files_and_leaves_edited_ones_alone(tmp_path):
    corpus = tmp_path / "corpus"
    first = genanki_package(tmp_path / "v1.apkg", tmp_path / "apple.png")
    import_anki(first, corpus)
    folder = corpus / "Physics"
    edited = folder / "Mechanics.md"
    edited.write_text(edited.read_text(encoding="utf-8") + "\nMy own remark.\n", encoding="utf-8")
    mine = edited.read_text(encoding="utf-8")
    second = genanki_package(tmp_path / "v2.apkg", tmp_path / "apple.png", energy_answer="Work a system can do: \\(E = mc^2\\).")
    result = import_anki(second, corpus)
    assert edited.read_text(encoding="utf-8") == mine, "an edited note was overwritten"
    assert result.kept == [edited], result.kept
    assert any(str(edited) in w and "edited" in w for w in result.warnings), result.warnings
    assert "Work a system can do" in (folder / "Physics.md").read_text(encoding="utf-8"), "the unedited note was not rewritten"
    assert folder / "Physics.md" in result.written and folder / "Mechanics" / "Forces.md" in result.unchanged, (result.written, result.unchanged)


def test_with_history_replays_the_review_log_into_progress(tmp_path, encoder):
    eases = [3, 3, 1, 3, 4]
    package = current_package(tmp_path, "colpkg", reviews=eases)
    corpus = tmp_path / "corpus"
    result = import_anki(package, corpus)
    assert result.reviews == len(eases), [len(c.reviews) for c in result.cards]
    kb = load_kb(corpus, encoder)
    with ProgressStore(tmp_path / "data" / "progress.sqlite3") as store:
        report = kb.import_anki_history(result, "ana", store=store)
        card = kb.resolve("What is a gradient?")
        assert (report.reviews, report.cards, report.unmatched) == (len(eases), 1, []), report
        reviews = store.reviews("ana", card.id)
        assert [r.rating for r in reviews] == ["good", "good", "again", "good", "easy"], reviews
        assert reviews[0].reviewed_at < reviews[-1].reviewed_at
        state = store.card_states("ana")[card.id]
        assert state.reviews == len(eases) and state.lapses == 1, state
        assert state.state.get("last_review") and state.state.get("stability"), f"the card's FSRS state is still new: {state.state}"
        last = datetime.fromisoformat(reviews[-1].reviewed_at)
        assert datetime.fromisoformat(state.due) > last + timedelta(days=1), f"an easy answer after a history scheduled the card at {state.due}"
        again = kb.import_anki_history(result, "ana", store=store)
        assert (again.reviews, again.already) == (0, len(eases)), again
        assert len(store.reviews("ana", card.id)) == len(eases)


def test_kb_anki_import_on_the_command_line(tmp_path, legacy_package):
    corpus = tmp_path / "corpus"
    done = kb_subprocess("anki", "import", legacy_package, "--corpus", corpus, env=kb_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "6 cards from 3 deck(s) in 3 note(s)" in done.stdout, done.stdout
    assert (corpus / "Physics" / "Mechanics" / "Forces.md").is_file()
    (tmp_path / "broken.apkg").write_bytes(b"not a zip")
    bad = kb_subprocess("anki", "import", tmp_path / "broken.apkg", "--corpus", corpus, env=kb_env(tmp_path))
    assert bad.returncode == 1 and bad.stderr.startswith("kb: error:") and "not an Anki package" in bad.stderr, bad.stderr



@pytest.mark.slow
def test_kb_anki_import_with_history_then_export_the_weakest_on_the_command_line(tmp_path):
    package = current_package(tmp_path, "apkg", reviews=[3, 1])
    corpus, index, env = tmp_path / "corpus", tmp_path / "index", kb_env(tmp_path)
    done = kb_subprocess("anki", "import", package, "--corpus", corpus, "--index", index, "--with-history", "--profile", "ana", env=env)
    assert done.returncode == 0, done.stderr
    assert "history: 2 review(s) of 1 card(s) replayed into profile 'ana'" in done.stdout, done.stdout
    again = kb_subprocess("anki", "import", package, "--corpus", corpus, "--index", index, "--with-history", "--profile", "ana", env=env)
    assert "history: 0 review(s) of 0 card(s)" in again.stdout and "2 already there" in again.stdout, again.stdout
    out = tmp_path / "weak.apkg"
    done = kb_subprocess("anki", "export", out, "--corpus", corpus, "--index", index, "--profile", "ana", "--weak", "1", env=env)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}: 1 note(s) in 1 deck(s), 1 media file(s)" in done.stdout, done.stdout
    (tmp_path / "read").mkdir()
    [note] = read_apkg(out, tmp_path / "read")
    assert note["question"] == "What is a <strong>gradient</strong>?" and note["family"] == "Vectors", note
    assert "\\(\\nabla f" in note["answer"] and note["source"] == "Calculus/Vectors.md:5", note

# ---- export -----------------------------------------------------------------------------------------


def test_exporting_the_shipped_note_gives_59_notes_with_stable_guids(shipped_kb, tmp_path):
    first = shipped_kb.export_anki(tmp_path / "a.apkg")
    second = shipped_kb.export_anki(tmp_path / "b.apkg")
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    notes_a, notes_b = read_apkg(first.path, tmp_path / "a"), read_apkg(second.path, tmp_path / "b")
    assert len(notes_a) == 59 == first.notes, len(notes_a)
    assert len({n["guid"] for n in notes_a}) == 59, "GUIDs repeat"
    assert {n["card_id"]: n["guid"] for n in notes_a} == {n["card_id"]: n["guid"] for n in notes_b}, "GUIDs changed between two exports"
    assert second.guids_kept == 59, second
    assert all(n["source"].startswith(f"{SHIPPED_NOTE}:") for n in notes_a), notes_a[0]["source"]
    assert len(first.decks) == len(shipped_kb.families()) and all("::" in d for d in first.decks), first.decks
    answers = " ".join(n["answer"] + n["question"] for n in notes_a)
    assert "\\(" in answers and "\\[" in answers, "no MathJax in the exported answers"
    assert "$" not in answers.replace("\\$", ""), "a $ formula was left unconverted"
    family = shipped_kb.families()[0][0]
    only = shipped_kb.export_anki(tmp_path / "family.apkg", families=[family])
    (tmp_path / "f").mkdir()
    assert {n["family"] for n in read_apkg(only.path, tmp_path / "f")} == {family}


def test_guids_survive_a_reworded_question(tmp_path, encoder, shipped_kb):
    corpus = copy_shipped_corpus(tmp_path)
    kb = load_kb(corpus, encoder)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir(), (tmp_path / "s").mkdir()
    before = {n["card_id"]: n["guid"] for n in read_apkg(kb.export_anki(tmp_path / "a.apkg").path, tmp_path / "a")}
    shipped = {n["card_id"]: n["guid"] for n in read_apkg(shipped_kb.export_anki(tmp_path / "s.apkg").path, tmp_path / "s")}
    assert before == shipped, "GUIDs of the same note and cards differ between two corpora"
    note = corpus / SHIPPED_NOTE
    text = note.read_text(encoding="utf-8")
    assert text.count("### Q: What is focal loss?") == 1
    note.write_text(text.replace("### Q: What is focal loss?", "### Q: What does the focal loss do, and why?"), encoding="utf-8")
    kb.refresh_if_changed(force_check=True)
    export = kb.export_anki(tmp_path / "b.apkg")
    after = {n["card_id"]: n["guid"] for n in read_apkg(export.path, tmp_path / "b")}
    assert "what-is-focal-loss" in before and "what-is-focal-loss" not in after, sorted(after)
    reworded = next(card_id for card_id in after if card_id not in before)
    assert after[reworded] == before["what-is-focal-loss"], "the reworded card got a new GUID (Anki would duplicate it)"
    assert sorted(after.values()) == sorted(before.values()), "GUIDs changed"
    assert (export.guids_kept, export.guids_followed, export.guids_new) == (58, 1, 0), export


def test_weak_exports_the_profiles_weakest_cards(shipped_kb, tmp_path):
    with ProgressStore(tmp_path / "progress.sqlite3") as store:
        cards = shipped_kb.cards()
        for card, score in zip(cards[:4], (90, 20, 75, 40), strict=True):
            store.record_review("ana", card, "answer", score)
        export = shipped_kb.export_anki(tmp_path / "weak.apkg", profile="ana", weak=2, store=store)
    (tmp_path / "w").mkdir()
    got = [n["card_id"] for n in read_apkg(export.path, tmp_path / "w")]
    assert sorted(got) == sorted([cards[1].id, cards[3].id]), got

