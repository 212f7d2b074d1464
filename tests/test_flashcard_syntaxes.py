"""Obsidian Spaced Repetition cards and Logseq #card blocks: what becomes a card, its family, its
answer, the review state that came with it, and what is reported with file and line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import main
from kb.notes.corpus import load_corpus, parse_note


def cards_of(text: str, note: str = "n.md", syntax: str = "markdown"):
    return parse_note(text, note, syntax).cards


def triples(cards):
    return [(c.question, c.answer_md, c.family) for c in cards]


# ---- Obsidian Spaced Repetition -------------------------------------------------------------------


def test_single_line_reversed_and_multi_line_cards():
    note = (
        "# Optimisers\n\n#flashcards\n\n"
        "What does Adam add to momentum::Per-parameter step sizes\n"
        "SGD:::stochastic gradient descent\n\n"
        "Why warm up the learning rate\nin the first steps\n?\nEarly moment estimates are noisy.\n\n"
        "Bias\n??\nError from wrong assumptions\n"
    )
    assert triples(cards_of(note)) == [
        ("What does Adam add to momentum", "Per-parameter step sizes", "Optimisers"),
        ("SGD", "stochastic gradient descent", "Optimisers"),
        ("stochastic gradient descent", "SGD", "Optimisers"),
        ("Why warm up the learning rate in the first steps", "Early moment estimates are noisy.", "Optimisers"),
        ("Bias", "Error from wrong assumptions", "Optimisers"),
        ("Error from wrong assumptions", "Bias", "Optimisers"),
    ]


def test_the_syntax_is_read_only_in_a_tagged_note():
    plain = "# Notes\n\nstatus:: draft\n\nKeep ==this== in mind.\n\n### Q: What is X?\n\nX.\n"
    assert [c.question for c in cards_of(plain)] == ["What is X?"]
    tagged_front_matter = "---\ntags: [ml, flashcards]\n---\n# Notes\n\nTerm::Definition\n"
    assert triples(cards_of(tagged_front_matter)) == [("Term", "Definition", "Notes")]
    tagged_list = "---\ntags:\n  - flashcards/ml\n---\nTerm::Definition\n"
    assert [c.question for c in cards_of(tagged_list)] == ["Term"]


def test_double_colons_in_code_urls_math_and_dataview_fields_are_not_cards():
    note = (
        "#flashcards\n\n"
        "Use `std::vector` for arrays.\n\n"
        "See https://example.org/a::b for more.\n\n"
        "A [status:: draft] field and (due:: today).\n\n"
        "Slicing $a[::2]$ is in math.\n\n"
        "```python\nx = a[::2]\nWhat::not a card\n?\n```\n\n"
        "Real::card\n"
    )
    assert triples(cards_of(note)) == [("Real", "card", "n")]


def test_deck_tags_name_families_and_the_root_tag_leaves_the_heading():
    note = (
        "# Title\n\n## Losses\n\n#flashcards\n\nMSE::mean squared error\n\n"
        "#flashcards/ml/regularisation\n\nDropout::random sub-networks\n\n"
        "## Later\n\nL1::lasso\n"
    )
    assert [(c.question, c.family) for c in cards_of(note)] == [
        ("MSE", "Losses"),
        ("Dropout", "ml / regularisation"),
        ("L1", "ml / regularisation"),  # a deck tag holds for the cards below it, headings or not
    ]


def test_highlight_clozes_give_one_card_per_deletion_with_the_others_shown():
    note = "#flashcards\n\nDropout trains ==random sub-networks== that share ==weights==; $a == b$ is no cloze.\n"
    cards = cards_of(note)
    assert [c.question for c in cards] == [
        "Dropout trains [...] that share weights; a == b is no cloze.",
        "Dropout trains random sub-networks that share [...]; a == b is no cloze.",
    ]
    assert cards[0].answer_md == "Dropout trains **random sub-networks** that share weights; $a == b$ is no cloze."
    assert {c.kind for c in cards} == {"cloze"}
    assert len({c.id for c in cards}) == 2


def test_numbered_anki_style_clozes_group_deletions():
    note = "#flashcards\n\n{{c1::Adam}} keeps {{c2::two moments}}; {{c1::Adam}} was published in {{c3::2014::year}}.\n"
    questions = [c.question for c in cards_of(note)]
    assert questions == [
        "[...] keeps two moments; [...] was published in 2014.",
        "Adam keeps [...]; Adam was published in 2014.",
        "Adam keeps two moments; Adam was published in [year].",
    ]


def test_review_state_comments_are_metadata_not_text():
    note = (
        "#flashcards\n\nTerm::Definition <!--SR:!2026-01-12,3,250-->\n\n"
        "Question\n?\nThe answer\n<!--SR:!2026-02-01,10,230-->\n\n"
        "Forward:::Back <!--SR:!2026-03-01,5,270!2026-03-02,6,250-->\n"
    )
    cards = cards_of(note)
    assert [(c.question, c.answer_md) for c in cards] == [("Term", "Definition"), ("Question", "The answer"), ("Forward", "Back"), ("Back", "Forward")]
    assert [c.schedule["due"] for c in cards] == ["2026-01-12", "2026-02-01", "2026-03-01", "2026-03-02"]
    assert all("SR:" not in c.answer_text for c in cards)


def test_obsidian_cards_keep_wiki_links_latex_and_images():
    note = "#flashcards\n\nWhat is KL::$D_{KL}(p\\|q) \\ge 0$, see [[Entropy]] and ![[kl.png]]\n"
    card = cards_of(note)[0]
    assert card.answer_md == "$D_{KL}(p\\|q) \\ge 0$, see [[Entropy]] and ![[kl.png]]"
    assert "Entropy" in [link.note for link in card.links]


def test_obsidian_bad_input_is_reported_with_its_line_and_loses_nothing():
    long_answer = "x" * 2100
    note = f"#flashcards\n\nLong::{long_answer}\n\n?\nno question above\n\nStill::here\n\nA ==cloze with no end\n"
    result = parse_note(note, "bad.md")
    assert [c.question for c in result.cards] == ["Long", "Still"]
    messages = {p.line: p.message for p in result.problems}
    assert "2,106 characters" in messages[3] and "kept as a card" in messages[3]
    assert "no question above it" in messages[5]
    assert "no closing '=='" in messages[10]


# ---- Logseq ---------------------------------------------------------------------------------------

PAGE = """title:: ml/losses
tags:: ml

- ## Regression
\t- What is MSE? #card
\t  card-last-interval:: 4
\t  card-repeats:: 2
\t  card-last-reviewed:: 2026-01-06T10:00:00.000Z
\t  card-last-score:: 5
\t\t- The mean of squared errors
\t\t\t- it penalises outliers
\t\t\t\t- quadratically
\t- The Huber loss is {{cloze quadratic}} near zero and {{cloze linear}} far away. #card
- What is MAE? #card
\t- The mean of absolute errors
- A block with no answer #card
- Not a card
\t- child
"""


def logseq_corpus(tmp_path: Path, pages: dict[str, str]) -> Path:
    graph = tmp_path / "corpus" / "graph"
    (graph / "logseq" / "bak" / "pages").mkdir(parents=True)
    (graph / "logseq" / "config.edn").write_text("{}\n")
    (graph / "logseq" / "bak" / "pages" / "old.md").write_text("- Old copy #card\n\t- gone\n")
    (graph / "pages").mkdir()
    for name, text in pages.items():
        (graph / "pages" / name).write_text(text, encoding="utf-8")
    return tmp_path / "corpus"


def test_logseq_card_blocks_their_children_clozes_and_families(tmp_path):
    corpus = logseq_corpus(tmp_path, {"ml___losses.md": PAGE, "ml___metrics.md": "- What is recall? #card\n  - TP / (TP + FN)\n"})
    parsed = load_corpus(corpus)
    got = [(c.note, c.question, c.family) for c in parsed.cards]
    assert got == [
        ("graph/pages/ml___losses.md", "What is MSE?", "Regression"),
        ("graph/pages/ml___losses.md", "The Huber loss is [...] near zero and linear far away.", "Regression"),
        ("graph/pages/ml___losses.md", "The Huber loss is quadratic near zero and [...] far away.", "Regression"),
        ("graph/pages/ml___losses.md", "What is MAE?", "ml / losses"),
        ("graph/pages/ml___metrics.md", "What is recall?", "ml / metrics"),  # a___b is the namespace a / b
    ]
    mse = parsed.cards[0]
    assert mse.answer_md == "- The mean of squared errors\n    - it penalises outliers\n        - quadratically"
    assert "card-" not in mse.answer_md and "card-" not in mse.question
    assert mse.schedule["last_reviewed"].startswith("2026-01-06") and mse.schedule["last_score"] == "5"
    problems = [str(p) for p in parsed.problems]
    assert problems == ["graph/pages/ml___losses.md:16: a #card block with no child blocks (its answer): 'A block with no answer'; skipped"]


def test_logseq_rules_apply_only_inside_a_graph(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "outline.md").write_text("- What is MSE? #card\n\t- mean squared error\n")
    assert load_corpus(tmp_path / "plain").cards == []


# ---- the command line, the API and the index agree -----------------------------------------------


def test_explain_names_what_became_of_every_candidate(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "mixed.md").write_text(
        "# Notes\n\n## Losses\n\n### 4. Why is MAE robust?\nIt grows linearly.\n\n**Q:** What is MSE?\nA: Squared error.\n\n"
        "```\n## not a heading?\n```\n\nkey:: value\n\n### Q: Empty?\n\nTODO\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["build", "--corpus", str(corpus), "--explain", "mixed.md", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    by_line = {c["line"]: c for c in data["candidates"]}
    assert by_line[5]["cards"] == [{"id": "why-is-mae-robust", "question": "Why is MAE robust?", "family": "Losses"}]
    assert by_line[8]["cards"][0]["family"] == "Losses"
    assert by_line[3]["reason"] == "a section holding 2 questions"
    assert by_line[12]["reason"] == "inside a code fence"
    assert by_line[15]["reason"].startswith("no flashcards tag in this note")
    assert by_line[17]["reason"].startswith("a placeholder answer")
    text = CliRunner().invoke(main, ["build", "--corpus", str(corpus), "--explain", str(corpus / "mixed.md")])
    assert "-> card 'Why is MAE robust?' in 'Losses'" in text.output
    missing = CliRunner().invoke(main, ["build", "--corpus", str(corpus), "--explain", "nope.md"])
    assert missing.exit_code == 1 and "no note 'nope.md'" in missing.output


@pytest.mark.slow
def test_cli_api_and_history_agree_on_flashcard_notes(tmp_path):
    from kb import Config, KnowledgeBase

    corpus = logseq_corpus(tmp_path, {"ml___losses.md": PAGE})
    (corpus / "sr.md").write_text("#flashcards/ml/optim\n\nWhat does Adam add::Per-parameter steps <!--SR:!2026-01-12,3,250-->\n", encoding="utf-8")
    index, data = tmp_path / "index", tmp_path / "data"
    out = CliRunner().invoke(main, ["build", "--corpus", str(corpus), "--index", str(index), "--data", str(data), "--with-history", "--profile", "ana"])
    assert out.exit_code == 0, out.output
    assert "history: 2 review(s)" in out.output
    again = CliRunner().invoke(main, ["build", "--corpus", str(corpus), "--index", str(index), "--data", str(data), "--with-history", "--profile", "ana"])
    assert "history: 0 review(s)" in again.output and "2 already there" in again.output
    listed = json.loads(CliRunner().invoke(main, ["cards", "--corpus", str(corpus), "--index", str(index), "--json"]).output)
    kb = KnowledgeBase.load(config=Config(corpus=corpus, index=index, data=data))
    assert [(c["id"], c["family"]) for c in listed] == [(c.id, c.family) for c in kb.cards()]
    assert ("what-does-adam-add", "ml / optim") in [(c.id, c.family) for c in kb.cards()]
    reviews = kb.progress("ana").reviews()
    assert sorted(r.card_id for r in reviews) == ["what-does-adam-add", "what-is-mse"]
    assert kb.search("penalty that grows with the squared error", k=1)[0].card.question == "What is MSE?"


# ---- real notes in these syntaxes (benchmarks/corpora/, SOURCES.md) ---------------------------------

CORPORA = Path(__file__).resolve().parent.parent / "benchmarks" / "corpora"


@pytest.mark.parametrize("name", ["obsidian-sr", "logseq"])
def test_every_card_of_the_fixture_notes_is_found_with_its_family(name):
    """The expected lists were written by hand before the parser read these notes. A card the list
    gives with an empty answer (a #card block with no children) is reported with its line instead."""
    from kb.notes.corpus import clean_question

    expected = json.loads((CORPORA / "expected" / f"{name}.json").read_text(encoding="utf-8"))["cards"]
    parsed = load_corpus(CORPORA / name)
    made = {(c.note, c.question): c.family for c in parsed.cards}
    reported = {(p.file, p.line) for p in parsed.problems}
    for e in expected:
        key = (e["note"], clean_question(e["question"]))
        if e.get("empty_answer"):
            assert (e["note"], e["line"]) in reported, e
            continue
        assert key in made, e
        assert made[key] == e["family"], (e, made[key])
    listed = {(e["note"], clean_question(e["question"])) for e in expected}
    assert [k for k in made if k not in listed] == []
    assert not any("logseq/bak/" in c.note or "version-files" in c.note for c in parsed.cards)


def test_end_marker_carries_a_cloze_or_an_answer_past_blank_lines():
    note = "#flashcards\n\nA ==first== paragraph.\n\nA second one with ==more==.\n\n+++\n\nWhy?\n?\nOne line.\n\nAnother paragraph.\n\nT::d\n"
    cards = cards_of(note)
    assert [c.question for c in cards] == [
        "A [...] paragraph. A second one with more.",
        "A first paragraph. A second one with [...].",
        "Why?",
        "T",
    ]
    assert cards[0].answer_md == "A **first** paragraph.\n\nA second one with more."
    assert cards[2].answer_md == "One line."  # no marker below: the answer ends at the blank line


def test_logseq_front_matter_title_heading_lines_and_code_in_blocks(tmp_path):
    page = (
        "---\ntitle: Tips and Tricks\n---\n\n- What is a block? #card\n\t- A bullet.\n"
        "- Intro text\n### **Standard** syntax\n\t- What is Logseq? #card\n\t\t- An outliner.\n"
        "- ```\n  - a bullet #card inside a code block\n  ```\n"
    )
    corpus = logseq_corpus(tmp_path, {"tips.md": page})
    parsed = load_corpus(corpus)
    assert [(c.question, c.family) for c in parsed.cards] == [("What is a block?", "Tips and Tricks"), ("What is Logseq?", "Standard syntax")]
    assert parsed.problems == []
