"""Bad notes and bad queries: a clear warning naming the file (and line), and the rest still builds."""
from __future__ import annotations

import pytest

from kb.errors import CorpusError, QueryError

GOOD = "## Losses\n\n### Q: What is MSE?\n\nMean squared error.\n\n### Q: What is MAE?\n\nMean absolute error.\n"


def warnings_for(kb, note: str) -> list[str]:
    return [m for m in kb.messages if m.startswith(f"warning: {note}")]


def test_every_bad_file_is_named_and_the_rest_still_builds(make_kb):
    kb = make_kb(
        {
            "good.md": GOOD,
            "latin1.md": "## Caf\xe9\n\n### Q: What is a caf\xe9 loss?\n\nIt is na\xefve.\n".encode("latin-1"),
            "empty.md": "",
            "blank.md": "  \n\n\t\n",
            "image.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
            "noise.md": bytes(range(128, 256)) * 40,
            "prose.md": "# Diary\n\nToday I read about losses. No questions here.\n",
            "dollar.md": "## Math\n\n### Q: What is the bias?\n\nIt is $\\mathbb{E}[\\hat\\theta] - \\theta.\n",
            "dup.md": "## D\n\n### Q: What is MSE?\n\nAgain.\n\n### Q: What is MSE?\n\nAnd again.\n",
        }
    )
    assert kb.report.action == "built"
    notes = {c.note for c in kb.cards()}
    assert notes == {"good.md", "latin1.md", "dollar.md", "dup.md"}

    [latin] = warnings_for(kb, "latin1.md:1:")
    assert "not valid UTF-8" in latin and "0xe9" in latin
    assert "na\ufffdve" in kb.card("what-is-a-caf-loss").answer_md  # still indexed, the bad byte marked
    assert warnings_for(kb, "empty.md") == ["warning: empty.md: empty file; nothing to index"]
    assert "empty file" in warnings_for(kb, "blank.md")[0]
    assert "binary file" in warnings_for(kb, "image.md")[0]
    [noise] = warnings_for(kb, "noise.md")
    assert "binary file" in noise
    assert "no questions found" in warnings_for(kb, "prose.md")[0]
    [dollar] = warnings_for(kb, "dollar.md:5:")
    assert "unbalanced $" in dollar
    [dup] = warnings_for(kb, "dup.md:7:")
    assert "duplicated question 'What is MSE?' (first at line 3)" in dup
    # the duplicate keeps its own card with its own id, as does the same question in good.md
    assert {c.id for c in kb.cards() if c.question == "What is MSE?"} == {"what-is-mse", "dup--what-is-mse", "good--what-is-mse"}


def test_utf16_note_is_read(make_kb):
    kb = make_kb({"win.md": "\ufeff## Win\n\n### Q: What is UTF-16?\n\nA Windows default.\n".encode("utf-16")})
    assert [c.question for c in kb.cards()] == ["What is UTF-16?"]
    assert "UTF-16" in warnings_for(kb, "win.md")[0]


def test_a_50_mb_note_is_skipped_with_a_message(make_kb, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    block = ("### Q: What is filler?\n\n" + "Filler text with $x$ and **bold**. " * 30 + "\n\n").encode()
    with open(corpus / "huge.md", "wb") as handle:
        for _ in range(50 * 1024 * 1024 // len(block) + 1):
            handle.write(block)
    assert (corpus / "huge.md").stat().st_size >= 50 * 1024 * 1024
    kb = make_kb({"good.md": GOOD})
    [huge] = warnings_for(kb, "huge.md")
    assert "MB, over the 20 MB limit (KB_MAX_NOTE_BYTES); skipped" in huge
    assert {c.note for c in kb.cards()} == {"good.md"}
    # the big file is not read again on the next open: its stat is its fingerprint
    again = make_kb({})
    assert again.report.action == "loaded" and len(again.cards()) == 2


def test_nothing_indexable_is_an_error_naming_the_problems(make_kb):
    with pytest.raises(CorpusError, match="nothing could be indexed .*2 problem"):
        make_kb({"empty.md": "", "prose.md": "Just prose.\n"})


def test_missing_or_empty_corpus_folder(tmp_path, encoder):
    from kb import Config, KnowledgeBase

    with pytest.raises(CorpusError, match="does not exist"):
        KnowledgeBase.load(config=Config(corpus=tmp_path / "nope", index=tmp_path / "index"), encoder_factory=lambda: encoder)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("not markdown")
    with pytest.raises(CorpusError, match="no markdown notes"):
        KnowledgeBase.load(config=Config(corpus=tmp_path / "empty", index=tmp_path / "index"), encoder_factory=lambda: encoder)


def test_placeholder_answers_are_reported_not_indexed(make_kb):
    text = GOOD + "\n### Q: What is RMSE?\n\nAnswer here\n\n### Q: What is R2?\n\n!\n"
    kb = make_kb({"p.md": text})
    assert len(kb.cards()) == 2
    lines = text.split("\n")
    expected = [f"p.md:{lines.index(q) + 1}" for q in ("### Q: What is RMSE?", "### Q: What is R2?")]
    assert [m.split(": ", 2)[1] for m in kb.messages] == expected
    assert all("placeholder answer" in m for m in kb.messages)


@pytest.mark.parametrize("query", ["", "   ", "\n\t ", "\x00\x01"])
def test_empty_query_raises_query_error(make_kb, query):
    kb = make_kb({"good.md": GOOD})
    with pytest.raises(QueryError, match="empty query"):
        kb.search(query)


def test_non_text_query_raises_query_error(make_kb):
    kb = make_kb({"good.md": GOOD})
    with pytest.raises(QueryError):
        kb.search(None)


@pytest.mark.parametrize("query", ["squared error " * 715, "x" * 10_000, "é∑" * 5_000, "what is " + "a" * 9_992])
def test_a_10000_character_query_is_handled(make_kb, query):
    kb = make_kb({"good.md": GOOD})
    assert len(query) >= 10_000
    hits = kb.search(query, k=5)
    assert 1 <= len(hits) <= 2
    if query.startswith("squared"):
        assert hits[0].card.id == "what-is-mse"


def test_unknown_family_and_card_are_named_errors(make_kb):
    from kb.errors import CardNotFound

    kb = make_kb({"good.md": GOOD})
    with pytest.raises(QueryError, match="unknown family 'Nope'; known families: Losses"):
        kb.search("mse", family="Nope")
    with pytest.raises(CardNotFound, match="no card with id 'nope'"):
        kb.card("nope")
