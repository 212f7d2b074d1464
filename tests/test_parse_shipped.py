"""The shipped note: exactly 59 cards in 14 families, formulas byte-exact."""
from __future__ import annotations

import re
from collections import Counter

from kb.parse import load_corpus, parse_note

from .conftest import SHIPPED_CORPUS

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
