"""Public Anki decks (benchmarks/corpora/anki/, sources and licences in benchmarks/corpora/SOURCES.md),
imported whole: no Anki card may be lost.

The cards are counted against the collection's own tables, read here with sqlite3 from the collection
file inside the package (a zip), not through kb's reader: every row of `cards` must become a kb card
(`ImportedCard.anki_cards` names the Anki cards each kb card came from) or be one of the skips the
import documents in its warnings: image occlusion notes, and cards whose note has no text and no image
at all. The notes written must parse back to as many cards as the import reports, and every image a
card shows must be in the corpus beside its note.
"""
from __future__ import annotations

import html
import json
import re
import sqlite3
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

from kb import import_anki
from kb.notes.corpus import load_corpus

DECKS_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "corpora" / "anki"

# What each package's collection holds (read from its tables; see SOURCES.md, "Anki decks"), the kb
# cards the import makes, and the warnings it may give (substrings; any other warning fails).
DECKS = {
    "pws3141__ItSL_anki_deck/ItSL.apkg": dict(
        format="collection.anki21b", notes=155, cards=182, kb_cards=182, reviews=0,
        per_type={"Basic": 100, "Cloze": 16, "MathCloze": 66},
        # MathCloze's ID and Topic fields are on none of its templates: Anki never shows them either
        warnings=("note type 'MathCloze': field 'ID' is on none", "note type 'MathCloze': field 'Topic' is on none"),
    ),
    "schutera__DeepLearningLecture_Schutera/DeepLearningLecture_Introduction.apkg": dict(
        format="collection.anki2", notes=33, cards=33, kb_cards=33, reviews=0,
        per_type={"Basic": 30, "Basic (type in the answer)": 3}, warnings=(),
    ),
    "schutera__DeepLearningLecture_Schutera/DeepLearningLecture_LinearAlgebra.apkg": dict(
        format="collection.anki2", notes=32, cards=64, kb_cards=64, reviews=0,
        per_type={"Basic (and reversed card)": 64}, warnings=(),
    ),
    "schutera__DeepLearningLecture_Schutera/DeepLearningLecture_ProbabilityAndInformationTheory.apkg": dict(
        format="collection.anki2", notes=28, cards=28, kb_cards=28, reviews=23,
        per_type={"Basic-b81a6": 28}, warnings=(),
    ),
}
# The skips the import may make, as its warnings word them (kb.anki.importer.SKIP_CAUSES).
DOCUMENTED_SKIPS = ("image occlusion card(s) skipped", "Anki card(s) skipped: the question side shows no text or image")
HIDDEN_FIELD = re.compile(r"^note type '.*': field '.*' is on none of its card templates")

MARKDOWN_IMAGE_RE = re.compile(r"!\[(?:[^\]\\]|\\.)*\]\((<[^>]*>|[^)\s]+)")
HTML_IMAGE_RE = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*[\"']?([^\"'\s>]+)", re.IGNORECASE)


@dataclass
class Collection:
    """The package's collection as its own tables say: cards (id -> note, ord, note type), notes, note types."""

    format: str
    cards: dict[int, tuple[int, int, int]]  # card id -> (note id, ord, note type id)
    note_fields: dict[int, list[str]]
    notetype_names: dict[int, str]
    notetype_fields: dict[int, list[str]]
    answered_reviews: int  # revlog rows with an answer (ease 1-4) for cards in the package


def read_collection(package: Path, tmp: Path) -> Collection:
    """Open the collection file inside the package with sqlite3: the current zstd `collection.anki21b`
    when there is one (a legacy `collection.anki2` beside it is only a stub then), else the legacy file."""
    with zipfile.ZipFile(package) as zipped:
        names = set(zipped.namelist())
        name = next(n for n in ("collection.anki21b", "collection.anki21", "collection.anki2") if n in names)
        data = zipped.read(name)
    if name.endswith("b"):
        import zstandard

        with zstandard.ZstdDecompressor().stream_reader(data) as reader:
            data = reader.read()
    path = tmp / f"{package.stem}.sqlite"
    path.write_bytes(data)
    db = sqlite3.connect(path)
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "notetypes" in tables:  # schema 18: note types and their fields in their own tables
            notetype_names = dict(db.execute("SELECT id, name FROM notetypes"))
            notetype_fields = {ntid: [f for (f,) in db.execute("SELECT name FROM fields WHERE ntid = ? ORDER BY ord", (ntid,))]
                               for ntid in notetype_names}
        else:  # schema 11: note types as JSON in col.models
            models = json.loads(db.execute("SELECT models FROM col").fetchone()[0])
            notetype_names = {int(k): m["name"] for k, m in models.items()}
            notetype_fields = {int(k): [f["name"] for f in m["flds"]] for k, m in models.items()}
        cards = {cid: (nid, ord_, mid) for cid, nid, ord_, mid in
                 db.execute("SELECT c.id, c.nid, c.ord, n.mid FROM cards c LEFT JOIN notes n ON n.id = c.nid")}
        note_fields = {nid: flds.split("\x1f") for nid, flds in db.execute("SELECT id, flds FROM notes")}
        answered = db.execute("SELECT count(*) FROM revlog WHERE ease BETWEEN 1 AND 4 AND cid IN (SELECT id FROM cards)").fetchone()[0]
    finally:
        db.close()
    return Collection(name, cards, note_fields, notetype_names, notetype_fields, answered)


def has_content(field: str) -> bool:
    """Whether an Anki field shows anything: text once the tags are gone, or an image."""
    if HTML_IMAGE_RE.search(field):
        return True
    return bool(html.unescape(re.sub(r"<[^>]*>", " ", field)).replace("\xa0", " ").strip())


def images(markdown: str) -> list[str]:
    """Local image files a card's markdown shows (markdown images and <img> tags; no URLs)."""
    found = [m.group(1).strip("<>") for m in MARKDOWN_IMAGE_RE.finditer(markdown)] + HTML_IMAGE_RE.findall(markdown)
    return [unquote(src.replace("%3C", "<").replace("%3E", ">")) for src in found if "://" not in src and not src.startswith("data:")]


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """Each deck imported once into its own corpus: (collection, import result, parsed corpus, corpus)."""
    done = {}

    def get(deck: str):
        if deck not in done:
            base = tmp_path_factory.mktemp(Path(deck).stem[:40])
            package = DECKS_DIR / deck
            corpus = base / "corpus"
            result = import_anki(package, corpus=corpus)
            done[deck] = (read_collection(package, base), result, load_corpus(corpus), corpus)
        return done[deck]

    return get


@pytest.mark.parametrize("deck", sorted(DECKS))
def test_the_package_is_present_and_its_tables_are_as_documented(deck, imported):
    expected = DECKS[deck]
    assert (DECKS_DIR / deck).stat().st_size < 4 * 1024 * 1024
    assert (DECKS_DIR / deck).with_name("LICENSE").is_file(), "the repository's licence must sit beside the deck"
    col, result, _parsed, _corpus = imported(deck)
    assert col.format == result.format == expected["format"]
    assert (len(col.note_fields), len(col.cards)) == (expected["notes"], expected["cards"])
    per_type: dict[str, int] = {}
    for _nid, _ord, mid in col.cards.values():
        per_type[col.notetype_names.get(mid, "?")] = per_type.get(col.notetype_names.get(mid, "?"), 0) + 1
    assert per_type == expected["per_type"]


@pytest.mark.parametrize("deck", sorted(DECKS))
def test_no_anki_card_is_lost(deck, imported):
    expected = DECKS[deck]
    col, result, _parsed, _corpus = imported(deck)
    mapped = [cid for card in result.cards for cid in card.anki_cards]
    assert len(mapped) == len(set(mapped)), "an Anki card went to two kb cards"
    assert set(mapped) <= set(col.cards), "a kb card names an Anki card the package does not hold"
    unmapped = sorted(set(col.cards) - set(mapped))
    for cid in unmapped:  # only the documented skips: image occlusion, or a note with nothing to show
        nid, ord_, mid = col.cards[cid]
        fields = col.notetype_fields.get(mid, [])
        occlusion = any("occlusion" in name.lower() for name in fields)
        empty = not any(has_content(value) for value in col.note_fields.get(nid, []))
        assert occlusion or empty, (f"Anki card {cid} (note {nid}, {col.notetype_names.get(mid)!r}, card {ord_ + 1}) "
                                    f"has text or an image but no kb card; warnings: {result.warnings}")
    assert result.skipped_notes == len(unmapped), result.warnings
    skips = [w for w in result.warnings if "skipped" in w]
    assert all(any(cause in w for cause in DOCUMENTED_SKIPS) for w in skips), skips
    assert len(result.cards) == expected["kb_cards"]
    for warning in result.warnings:
        assert warning in skips or any(w in warning for w in expected["warnings"]), warning
        assert "skipped" in warning or HIDDEN_FIELD.match(warning), warning
    assert all(any(w in warning for warning in result.warnings) for w in expected["warnings"]), result.warnings


@pytest.mark.parametrize("deck", sorted(DECKS))
def test_the_written_notes_read_back_as_the_imported_cards(deck, imported):
    _col, result, parsed, _corpus = imported(deck)
    assert len(parsed.cards) == len(result.cards)
    read = {(card.note, card.line_start) for card in parsed.cards}
    assert all((card.note, card.line) in read for card in result.cards), "an imported card is not where the import says"


@pytest.mark.parametrize("deck", sorted(DECKS))
def test_every_image_a_card_shows_is_beside_its_note(deck, imported):
    _col, _result, parsed, corpus = imported(deck)
    shown, missing, lines = 0, [], {}
    for card in parsed.cards:  # the card's lines in its note: its `### Q:` heading (which may hold an image) and answer
        note_lines = lines.setdefault(card.note, (corpus / card.note).read_text(encoding="utf-8").split("\n"))
        folder = (corpus / card.note).parent
        for name in images("\n".join(note_lines[card.line_start - 1 : card.line_end])):
            shown += 1
            if not (folder / name).is_file():
                missing.append((card.note, card.line_start, name))
    assert missing == []
    has_images = any(images(value) for fields in imported(deck)[0].note_fields.values() for value in fields)
    assert shown > 0 or not has_images, "the deck's images are on no kb card"


@pytest.mark.parametrize("deck", sorted(DECKS))
def test_every_answered_review_goes_to_a_kb_card(deck, imported):
    col, result, _parsed, _corpus = imported(deck)
    assert col.answered_reviews == DECKS[deck]["reviews"]
    assert result.reviews == col.answered_reviews


@pytest.mark.parametrize("deck", sorted(DECKS))
def test_the_written_notes_parse_without_problems(deck, imported):
    _col, _result, parsed, _corpus = imported(deck)
    assert [(p.file, p.line, p.message) for p in parsed.problems] == []
