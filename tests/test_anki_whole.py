"""Anki decks as people really make them, imported whole: image-only answers, note types with several
card templates, "Basic (and reversed card)", clozes with a title field, clozes in tables and around
whole blocks, [latex] with < and > inside. Each package is written by the `anki` package itself and
every card of its `cards` table must come back as a kb card; kb's own export must re-import as the
same questions and answers, with question-side images in the package and no genanki warnings."""
from __future__ import annotations

import json
import sqlite3
import warnings
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kb import import_anki
from kb.anki.export import export_package
from kb.coach.progress import ProgressStore
from kb.notes.corpus import load_corpus
from tests.support import copy_shipped_corpus, kb_env, kb_subprocess, load_kb

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
IMAGES = ("normal-pdf.png", "left.png", "right.png", "roc.png", "mean-table.png")

# The "Distribution" note type: one note, three cards, each template showing other fields.
DISTRIBUTION_FIELDS = ("Name", "Mean", "Variance", "PDF", "Notes")
DISTRIBUTION_TEMPLATES = (
    ("Mean", "What is the mean of {{Name}}?", "{{FrontSide}}<hr id=answer>{{Mean}}"),
    # generated only when the note has a variance (Anki makes no card for an empty front)
    ("Variance", "{{#Variance}}What is the variance of {{Name}}?{{/Variance}}",
     "{{FrontSide}}<hr id=answer>{{Variance}}{{#Notes}}<div class=notes>{{Notes}}</div>{{/Notes}}"),
    ("Which", "Which distribution has the density {{PDF}}?", "{{FrontSide}}<hr id=answer>{{Name}}<br>{{Notes}}"),
)
TITLED_CLOZE_FRONT = '<div class="title">{{Title}}</div>{{cloze:Text}}'
TITLED_CLOZE_BACK = '<div class="title">{{Title}}</div>{{cloze:Text}}<br>{{Back Extra}}'
TABLE_CLOZE = ("<table><tr><th>Distribution</th><th>Mean</th></tr>"
               "<tr><td>Bernoulli</td><td>{{c1::p}}</td></tr>"
               "<tr><td>Poisson</td><td>{{c2::\\(\\lambda\\)}}</td></tr></table>")
BLOCK_CLOZE = ("Bias and variance: {{c1::<div><b>Bias is the error from wrong assumptions.</b></div>"
               "<div><b>Variance is the error from sensitivity to the training set.</b></div>}}")
LIST_CLOZE = "Three regularisers: {{c1::<ul><li>L1</li><li>L2</li><li>dropout</li></ul>}}"
LATEX_SUM = "[latex]$\\sum_{k' &lt; k} a_{k'} + \\sum_{k' > k} a_{k'}$[/latex]"


def _notetype(col, name: str, fields, templates, cloze: bool = False):
    models = col.models
    notetype = models.copy(models.by_name("Cloze")) if cloze else models.new(name)
    notetype["name"] = name
    if not cloze:
        for field in fields:
            models.add_field(notetype, models.new_field(field))
        for template_name, qfmt, afmt in templates:
            template = models.new_template(template_name)
            template["qfmt"], template["afmt"] = qfmt, afmt
            models.add_template(notetype, template)
        models.add(notetype)
    else:
        models.add_field(notetype, models.new_field("Title"))
        notetype["tmpls"][0]["qfmt"], notetype["tmpls"][0]["afmt"] = templates[0][1], templates[0][2]
        models.update_dict(notetype)
    return models.by_name(name)


def _add(col, deck: int, notetype, **fields):
    note = col.new_note(notetype)
    for name, value in fields.items():
        note[name.replace("_", " ")] = value
    col.add_note(note, deck)
    return note


def whole_collection(folder: Path, reversed_reviews: list[int] | None = None):
    """A collection with every kind of note the public decks had (see the module docstring)."""
    from anki.collection import Collection

    folder.mkdir(parents=True, exist_ok=True)
    col = Collection(str(folder / "collection.anki2"))
    deck = col.decks.id("Stats::Whole")
    basic = col.models.by_name("Basic")
    reverse = col.models.by_name("Basic (and reversed card)")
    distribution = _notetype(col, "Distribution", DISTRIBUTION_FIELDS, DISTRIBUTION_TEMPLATES)
    titled = _notetype(col, "Cloze with title", None, [("Cloze", TITLED_CLOZE_FRONT, TITLED_CLOZE_BACK)], cloze=True)
    cloze = col.models.by_name("Cloze")
    notes = {
        "image": _add(col, deck, basic, Front="What does the normal density look like?", Back='<img src="normal-pdf.png">'),
        "two images": _add(col, deck, basic, Front="Left- and right-skewed densities?",
                           Back='<div><img src="left.png"></div><div><img src="right.png"></div>'),
        "image question": _add(col, deck, basic, Front='What does this curve show?<br><img src="roc.png">',
                               Back="The true positive rate against the false positive rate."),
        "normal": _add(col, deck, distribution, Name="Normal", Mean="\\(\\mu\\)", Variance="\\(\\sigma^2\\)",
                       PDF="\\(\\frac{1}{\\sigma\\sqrt{2\\pi}} e^{-(x-\\mu)^2/2\\sigma^2}\\)", Notes="Also called Gaussian."),
        "cauchy": _add(col, deck, distribution, Name="Cauchy", Mean="Undefined: the integral diverges.",
                       PDF="\\(\\frac{1}{\\pi(1+x^2)}\\)"),
        "reversed": _add(col, deck, reverse, Front="softmax", Back="The function that turns logits into probabilities."),
        "titled": _add(col, deck, titled, Title="Bayes' rule",
                       Text="The posterior is the {{c1::likelihood}} times the {{c2::prior}}, normalised.",
                       Back_Extra="Divide by the evidence."),
        "table": _add(col, deck, cloze, Text=TABLE_CLOZE, Back_Extra='<img src="mean-table.png">'),
        "block": _add(col, deck, cloze, Text=BLOCK_CLOZE),
        "list": _add(col, deck, cloze, Text=LIST_CLOZE),
        "latex": _add(col, deck, basic, Front="How does the sum split around k?",
                      Back=LATEX_SUM + "<br>[$]a &lt; b[/$] and [$$]c > d[/$$], also \\(e &lt; f\\)"),
        "display latex": _add(col, deck, basic, Front="What is the Gaussian integral?",
                              Back="[latex]\\begin{equation}\\int_{-\\infty}^{\\infty} e^{-x^2} dx = \\sqrt{\\pi}\\end{equation}[/latex]"),
    }
    for name in IMAGES:
        (folder / name).write_bytes(PNG + name.encode())
        col.media.add_file(str(folder / name))
    for ease in reversed_reviews or []:
        card = col.get_card(notes["reversed"].card_ids()[1])
        card.start_timer()
        col.sched.answerCard(card, ease)
    start = datetime.now(timezone.utc) - timedelta(days=len(reversed_reviews or []) + 1)
    for n, (revlog_id,) in enumerate(col.db.all("SELECT id FROM revlog ORDER BY id")):
        col.db.execute("UPDATE revlog SET id = ? WHERE id = ?", int((start + timedelta(days=n)).timestamp() * 1000), revlog_id)
    return col, notes


def whole_package(folder: Path, reversed_reviews: list[int] | None = None) -> Path:
    from anki.collection import DeckIdLimit, ExportAnkiPackageOptions

    col, _notes = whole_collection(folder / "collection", reversed_reviews)
    out = folder / "stats.apkg"
    options = ExportAnkiPackageOptions(with_scheduling=True, with_deck_configs=False, with_media=True, legacy=False)
    col.export_anki_package(out_path=str(out), options=options, limit=DeckIdLimit(col.decks.id("Stats::Whole")))
    col.close()
    return out


def package_cards(package: Path) -> list[tuple[int, int, str]]:
    """(card id, ord, note type name) of every card in the package, as the `anki` package itself reads it:
    imported into an empty collection, then its cards table."""
    import tempfile

    from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest

    with tempfile.TemporaryDirectory() as folder:
        col = Collection(str(Path(folder) / "collection.anki2"))
        try:
            col.import_anki_package(ImportAnkiPackageRequest(package_path=str(package), options=ImportAnkiPackageOptions(with_scheduling=True)))
            # a stock note type the empty collection already has comes in as "Basic+"
            return [(cid, ord_, col.models.get(mid)["name"].rstrip("+"))
                    for cid, ord_, mid in col.db.all("SELECT c.id, c.ord, n.mid FROM cards c JOIN notes n ON n.id = c.nid ORDER BY c.id")]
        finally:
            col.close()


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    base = tmp_path_factory.mktemp("whole")
    package = whole_package(base)
    corpus = base / "corpus"
    result = import_anki(package, corpus)
    parsed = load_corpus(corpus)
    return package, corpus, result, parsed, {card.question: card for card in parsed.cards}


def test_every_anki_card_becomes_a_kb_card(whole):
    package, corpus, result, parsed, cards = whole
    rows = package_cards(package)
    # what the collection itself says: the cards table of the SQLite file in the package
    assert len(rows) == 18, rows  # the Cauchy note has no variance, so no card for that template
    assert len(parsed.cards) == len(rows) == len(result.cards), sorted(cards)
    assert parsed.problems == [], [(p.line, p.message) for p in parsed.problems]
    assert result.skipped_notes == 0 and result.warnings == [], result.warnings
    anki_ids = sorted(cid for card in result.cards for cid in card.anki_cards)
    assert anki_ids == [cid for cid, _ord, _type in rows], "an Anki card has no kb card, or two"
    per_type = {name: sum(1 for *_, t in rows if t == name) for *_, name in rows}
    assert per_type == {"Basic": 5, "Distribution": 5, "Basic (and reversed card)": 2, "Cloze with title": 2, "Cloze": 4}, per_type


def test_kb_anki_import_of_the_whole_deck_on_the_command_line(whole, tmp_path):
    package = whole[0]
    done = kb_subprocess("anki", "import", package, "--corpus", tmp_path / "corpus", env=kb_env(tmp_path))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "18 cards from 1 deck(s) in 1 note(s); wrote 6 file(s)" in done.stdout, done.stdout


def test_image_only_answers_keep_their_images(whole):
    _package, corpus, _result, _parsed, cards = whole
    one = cards["What does the normal density look like?"]
    assert "](normal-pdf.png)" in one.answer_md and one.answer_text, one.answer_md
    two = cards["Left- and right-skewed densities?"]
    assert "](left.png)" in two.answer_md and "](right.png)" in two.answer_md, two.answer_md
    for name in IMAGES:
        assert (corpus / "Stats" / name).read_bytes() == PNG + name.encode(), name


def test_each_card_template_is_a_card_with_its_own_fields(whole):
    _package, _corpus, _result, _parsed, cards = whole
    assert cards["What is the mean of Normal?"].answer_md == "$\\mu$"
    assert cards["What is the variance of Normal?"].answer_md == "$\\sigma^2$  \nAlso called Gaussian."
    normal = cards["Which distribution has the density \\frac{1}{\\sigma\\sqrt{2\\pi}} e^{-(x-\\mu)^2/2\\sigma^2}?"]
    assert normal.answer_md == "Normal  \nAlso called Gaussian.", normal.answer_md
    assert cards["What is the mean of Cauchy?"].answer_md == "Undefined: the integral diverges."
    assert cards["Which distribution has the density \\frac{1}{\\pi(1+x^2)}?"].answer_md == "Cauchy"
    assert "What is the variance of Cauchy?" not in cards, "a card Anki never generated was made up"
    assert cards["softmax"].answer_md == "The function that turns logits into probabilities."
    assert cards["The function that turns logits into probabilities."].answer_md == "softmax"


def test_clozes_keep_their_title_tables_and_blocks(whole):
    _package, _corpus, _result, _parsed, cards = whole
    first = cards["Bayes' rule The posterior is the [...] times the prior, normalised."]
    assert first.answer_md == "The posterior is the **likelihood** times the prior, normalised.  \nDivide by the evidence.", first.answer_md
    assert "Bayes' rule The posterior is the likelihood times the [...], normalised." in cards
    bernoulli = next(c for q, c in cards.items() if q == "Distribution: Bernoulli; Mean: [...]")
    assert "| Bernoulli | **p** |" in bernoulli.answer_md and "](mean-table.png)" in bernoulli.answer_md, bernoulli.answer_md
    poisson = next(c for q, c in cards.items() if q == "Distribution: Poisson; Mean: [...]")
    assert "| Poisson | **$\\lambda$** |" in poisson.answer_md, poisson.answer_md
    block = next(c for q, c in cards.items() if q.startswith("Bias and variance"))
    assert "**Bias is the error" in block.answer_md and "training set.**" in block.answer_md, block.answer_md
    assert block.answer_text == ("Bias and variance: Bias is the error from wrong assumptions. "
                                 "Variance is the error from sensitivity to the training set."), block.answer_text
    listed = next(c for q, c in cards.items() if q.startswith("Three regularisers"))
    assert "**" not in listed.answer_text and "dropout" in listed.answer_text, listed.answer_md


def test_latex_and_angle_brackets_in_math(whole):
    _package, _corpus, _result, _parsed, cards = whole
    split = cards["How does the sum split around k?"].answer_md
    assert "$\\sum_{k' < k} a_{k'} + \\sum_{k' > k} a_{k'}$" in split, split
    assert "$a < b$" in split and "$$c > d$$" in split and "$e < f$" in split, split
    assert "[latex]" not in split and "[$]" not in split, split
    integral = cards["What is the Gaussian integral?"].answer_md
    assert integral == "$$\\begin{equation}\\int_{-\\infty}^{\\infty} e^{-x^2} dx = \\sqrt{\\pi}\\end{equation}$$", integral


def test_review_history_of_a_reversed_card_goes_to_its_own_card(tmp_path, encoder):
    package = whole_package(tmp_path, reversed_reviews=[3, 1, 3])
    corpus = tmp_path / "corpus"
    result = import_anki(package, corpus)
    assert result.reviews == 3, [(c.question, len(c.reviews)) for c in result.cards if c.reviews]
    kb = load_kb(corpus, encoder)
    with ProgressStore(tmp_path / "data" / "progress.sqlite3") as store:
        report = kb.import_anki_history(result, "ana", store=store)
        assert (report.reviews, report.cards, report.unmatched) == (3, 1, []), report
        back = kb.resolve("The function that turns logits into probabilities.")
        assert [r.rating for r in store.reviews("ana", back.id)] == ["good", "again", "good"]
        assert store.reviews("ana", kb.resolve("softmax").id) == []


def _exported_fields(package: Path, tmp: Path) -> list[list[str]]:
    with zipfile.ZipFile(package) as zipped:
        (tmp / "collection.anki2").write_bytes(zipped.read("collection.anki2"))
    db = sqlite3.connect(tmp / "collection.anki2")
    try:
        return [flds.split("\x1f") for (flds,) in db.execute("SELECT flds FROM notes ORDER BY id")]
    finally:
        db.close()


def test_export_then_reimport_gives_the_same_cards(whole, tmp_path, capsys):
    _package, corpus, _result, parsed, cards = whole
    out = tmp_path / "again.apkg"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export = export_package(parsed.cards, parsed.cards, corpus, out)
    assert [str(w.message) for w in caught] == [] and export.warnings == [], export.warnings
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "", captured
    with zipfile.ZipFile(out) as zipped:
        media = {name: zipped.read(member) for member, name in json.loads(zipped.read("media")).items()}
    assert set(IMAGES) <= set(media), sorted(media)
    assert media["roc.png"] == PNG + b"roc.png", "the question's image is not in the package"
    (tmp_path / "read").mkdir()
    question = next(f[0] for f in _exported_fields(out, tmp_path / "read") if "curve" in f[0])
    assert '<img src="roc.png"' in question, question
    again = import_anki(out, tmp_path / "again")
    assert again.warnings == [], again.warnings
    reparsed = load_corpus(tmp_path / "again")
    assert reparsed.problems == [], [(p.line, p.message) for p in reparsed.problems]
    back = {card.question: card for card in reparsed.cards}
    assert sorted(back) == sorted(cards)
    for question, card in cards.items():
        assert back[question].answer_text == card.answer_text, question
        assert back[question].family == card.family, question


def test_kb_export_of_the_shipped_notes_reimports_as_the_same_cards(tmp_path):
    corpus = copy_shipped_corpus(tmp_path)
    before = load_corpus(corpus)
    out = tmp_path / "shipped.apkg"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export = export_package(before.cards, before.cards, corpus, out)
    assert caught == [] and export.warnings == [], (caught, export.warnings)
    result = import_anki(out, tmp_path / "again")
    assert result.warnings == [] and len(result.cards) == len(before.cards) == 59, result.warnings
    after = {card.question: card for card in load_corpus(tmp_path / "again").cards}
    assert sorted(after) == sorted(card.question for card in before.cards)
    for card in before.cards:
        again = after[card.question]
        assert (again.answer_text, again.family) == (card.answer_text, card.family), card.question
        assert "losses-in-deep-learning.md:" not in again.answer_md, "the Source field came back as answer text"


def test_html_genanki_would_flag_is_tidied_or_named_in_one_line(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "raw.md").write_text(
        "# Raw HTML\n\n### Q: What does a spread tag do?\n\n<div\n  class='note'>A tag over two lines.</div>\n\n"
        "### Q: And a custom element?\n\nIt stays: <my-widget>inside</my-widget>.\n\n"
        "### Q: And another one?\n\n<my-widget>again</my-widget> here.\n", encoding="utf-8")
    cards = load_corpus(corpus).cards
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export = export_package(cards, cards, corpus, tmp_path / "raw.apkg")
    assert caught == [] and capsys.readouterr() == ("", ""), caught
    assert len(export.warnings) == 1 and "\n" not in export.warnings[0], export.warnings
    assert export.warnings[0].startswith("2 card(s)") and "<my-widget> in raw.md:" in export.warnings[0], export.warnings
    (tmp_path / "read").mkdir()
    first = _exported_fields(tmp_path / "raw.apkg", tmp_path / "read")[0]
    assert "<div class='note'>A tag over two lines.</div>" in first[1], first[1]


def _warnings_package(folder: Path) -> Path:
    """Notes that cannot all become cards: an empty back, a TODO back, a field no template shows, an occlusion."""
    from anki.collection import Collection, ExportAnkiPackageOptions

    folder.mkdir(parents=True, exist_ok=True)
    col = Collection(str(folder / "collection.anki2"))
    deck = col.decks.id("Odd")
    basic = col.models.by_name("Basic")
    sourced = _notetype(col, "Sourced", ("Front", "Back", "Source"), [("Card 1", "{{Front}}", "{{FrontSide}}<hr id=answer>{{Back}}")])
    _add(col, deck, basic, Front="What is kept?", Back="This one.")
    _add(col, deck, basic, Front="What has no answer?", Back="")
    _add(col, deck, basic, Front="What is still to write?", Back="TODO")
    _add(col, deck, sourced, Front="Where is it from?", Back="A book.", Source="p. 12")
    (folder / "shape.png").write_bytes(PNG)
    col.media.add_file(str(folder / "shape.png"))
    _add(col, deck, col.models.by_name("Image Occlusion"), Occlusion="{{c1::image-occlusion:rect:left=.1:top=.1:width=.2:height=.2}}",
         Image='<img src="shape.png">')
    out = folder / "odd.apkg"
    options = ExportAnkiPackageOptions(with_scheduling=False, with_deck_configs=False, with_media=True, legacy=False)
    col.export_anki_package(out_path=str(out), options=options, limit=None)
    col.close()
    return out


def test_every_card_left_out_is_counted_with_its_cause_in_one_line(tmp_path):
    package = _warnings_package(tmp_path)
    result = import_anki(package, tmp_path / "corpus")
    assert [c.question for c in result.cards] == ["What is kept?", "Where is it from?"], result.cards
    assert len(package_cards(package)) == len(result.cards) + result.skipped_notes == 5, result.warnings
    assert all("\n" not in w for w in result.warnings), result.warnings
    joined = "\n".join(result.warnings)
    assert "1 image occlusion card(s) skipped" in joined, joined
    assert "2 Anki card(s) skipped: the answer side shows no text" in joined and "'What has no answer?'" in joined, joined
    assert "note type 'Sourced': field 'Source' is on none of its card templates" in joined, joined
    assert len(result.warnings) == 3, result.warnings


def test_cloze_siblings_with_a_long_common_start_are_not_duplicates(tmp_path):
    import genanki

    deck = genanki.Deck(2_059_400_201, "Long")
    text = ("In a transformer every token attends to every other token of the sequence through scaled dot products, "
            "and the {{c1::softmax}} turns the scores into {{c2::weights}}.")
    deck.add_note(genanki.Note(genanki.CLOZE_MODEL, [text, ""], guid="long"))
    package = tmp_path / "long.apkg"
    genanki.Package(deck).write_to_file(str(package))
    result = import_anki(package, tmp_path / "corpus")
    assert len(result.cards) == 2 and result.warnings == [], result.warnings
    parsed = load_corpus(tmp_path / "corpus")  # the two questions share their first 80 characters, so their slugs
    assert len({card.id for card in parsed.cards}) == 2  # corpus-unique ids still differ
    assert [p.message for p in parsed.problems] == [], "cloze siblings were reported as duplicated questions"
