"""The shipped note: exactly 59 cards in 14 families, formulas byte-exact."""
from __future__ import annotations

import re
from collections import Counter

from kb.notes.corpus import load_corpus, parse_note
from tests.support import SHIPPED_CORPUS

NOTE = (SHIPPED_CORPUS / "losses-in-deep-learning.md").read_text(encoding="utf-8")


def test_shipped_note_gives_59_cards_in_14_families():
    result = parse_note(NOTE, "losses-in-deep-learning.md")
    assert len(result.cards) == 59
    kinds = Counter(c.kind for c in result.cards)
    assert kinds == {"heading": 44, "quickfire": 15}
    families = list(dict.fromkeys(c.family for c in result.cards))
    assert len(families) == 14
    assert families[0] == "Regression" and families[-1] == "Quick-Fire Round"
    assert "Table of Contents" not in families
    assert result.problems == []


def test_every_formula_survives_byte_exact():
    cards = parse_note(NOTE).cards
    answers = "\n".join(c.answer_md for c in cards)
    formulas = re.findall(r"\$\$.+?\$\$|\$[^$\n]+\$", NOTE.split("## Regression", 1)[1], flags=re.S)
    assert len(formulas) > 100
    for formula in formulas:
        assert formula in answers, formula


def test_card_fields_are_clean_and_located():
    cards = {c.id: c for c in parse_note(NOTE, "losses-in-deep-learning.md").cards}
    ppo = cards["how-does-ppo-work-why-the-clip"]
    assert ppo.question == "How does PPO work? Why the clip?"
    assert ppo.family == "RL Policy Losses"
    assert ppo.note == "losses-in-deep-learning.md"
    lines = NOTE.split("\n")
    assert lines[ppo.line_start - 1] == "### Q: How does PPO work? Why the clip?"
    assert lines[ppo.line_end - 1].startswith("**Full loss**")
    assert "\\text{clip}(r(\\theta), 1-\\epsilon, 1+\\epsilon)" in ppo.answer_md
    assert "**" not in ppo.answer_text and "catastrophic policy updates" in ppo.answer_text
    quick = cards["why-huber-not-mse-in-dqn"]
    assert quick.question == "Why Huber not MSE in DQN?"
    assert quick.answer_md == "Non-stationary targets cause outlier TD errors; Huber clips gradient."
    assert quick.family == "Quick-Fire Round"


def test_ids_are_stable_when_unrelated_text_moves(tmp_path):
    moved = NOTE.replace("## Regression\n", "## Regression\n\nA new intro paragraph.\n\nAnother one.\n", 1)
    before = [c.id for c in parse_note(NOTE).cards]
    after = [c.id for c in parse_note(moved).cards]
    assert before == after


def test_load_corpus_reads_recursively(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "deeper" / "x.md").write_text("## Fam\n\n### Q: What is X?\n\nX is a thing.\n")
    (tmp_path / "top.md").write_text(NOTE)
    (tmp_path / ".obsidian").mkdir()
    (tmp_path / ".obsidian" / "hidden.md").write_text("### Q: Hidden?\n\nno\n")
    result = load_corpus(tmp_path)
    assert len(result.cards) == 60
    assert any(c.note == "sub/deeper/x.md" and c.family == "Fam" for c in result.cards)


def test_every_question_in_the_note_is_a_card_and_nothing_else():
    headings = re.findall(r"^### Q: (.+)$", NOTE, re.M)
    quick = re.findall(r"^\*\*Q: (.+?)\*\*", NOTE, re.M)
    assert (len(headings), len(quick)) == (44, 15)
    cards = parse_note(NOTE, "losses-in-deep-learning.md").cards
    assert [c.question for c in cards] == headings + quick


def test_table_of_contents_gives_no_card_and_its_links_name_cards():
    lines = NOTE.split("\n")
    toc_start = lines.index("## Table of Contents") + 1
    toc_end = lines.index("## Regression") + 1
    cards = parse_note(NOTE, "losses-in-deep-learning.md").cards
    assert all(c.line_start > toc_end for c in cards)
    targets = re.findall(r"\[\[#Q: ([^\]|]+)\]\]", "\n".join(lines[toc_start:toc_end]))
    assert len(targets) == 44
    assert set(targets) == {c.question for c in cards if c.kind == "heading"}


def test_answers_are_exact_slices_and_plain_text_has_no_markup():
    lines = NOTE.split("\n")
    for card in parse_note(NOTE, "losses-in-deep-learning.md").cards:
        assert not card.question.startswith("Q:") and "**" not in card.question
        assert card.question in lines[card.line_start - 1]
        source = "\n".join(lines[card.line_start - 1 : card.line_end])
        if card.kind == "heading":
            assert source.startswith("### Q: ") and source.endswith(card.answer_md)
            assert card.answer_md.strip() and card.answer_md == card.answer_md.strip("\n")
        else:
            assert card.line_start == card.line_end and source.endswith(card.answer_md)
        for markup in ("**", "[[", "](", "<br"):
            assert markup not in card.answer_text, (card.id, markup)
        assert not card.answer_md.rstrip().endswith("---")  # separators between cards are not answer text
