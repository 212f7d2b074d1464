"""See-also links on the real model and the real index: shape, reasons, explicit links, expert-pair recall, CLI."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kb.cli import main
from tests.support import BENCHMARKS

PAIRS = BENCHMARKS / "link_pairs.jsonl"


def test_every_card_gets_ranked_unique_links_with_short_reasons(shipped_kb):
    for card in shipped_kb.cards():
        links = shipped_kb.related(card.id)
        assert 3 <= len(links) <= 8, card.id
        ids = [link.id for link in links]
        assert card.id not in ids and len(set(ids)) == len(ids)
        assert len({shipped_kb.card(i).question for i in ids}) == len(ids)
        assert [link.score for link in links] == sorted((link.score for link in links), reverse=True)
        for link in links:
            assert link.reason and len(link.reason) <= 60 and "\n" not in link.reason, link.reason
            assert link.question == shipped_kb.card(link.id).question and link.family == shipped_kb.card(link.id).family
            assert set(link.to_dict()) == {"id", "question", "family", "reason", "score"}


def test_concept_links_name_the_concept(shipped_kb):
    # The DPO card builds on the RLHF objective; the RLHF pipeline card explains it.
    links = {link.id: link.reason for link in shipped_kb.related("how-does-dpo-eliminate-the-reward-model")}
    assert "explains RLHF" in links.get("walk-me-through-the-rlhf-pipeline", ""), links
    links = {link.id: link.reason for link in shipped_kb.related("whats-spectral-normalization-and-why-does-wgan-need-it")}
    assert "explains WGAN" in links.get("why-did-wgan-improve-on-the-original-gan-loss", ""), links


def _recall(kb, pairs, top):
    found = [p["b"] in top(p["a"]) or p["a"] in top(p["b"]) for p in pairs]
    return sum(found) / len(found)


def test_expert_pairs_recall_beats_plain_neighbours(shipped_kb):
    pairs = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    pairs = [p for p in pairs if shipped_kb.has_card(p["a"]) and shipped_kb.has_card(p["b"])]
    assert len(pairs) >= 25
    ours = _recall(shipped_kb, pairs, lambda c: [link.id for link in shipped_kb.related(c, 5)])
    plain = _recall(shipped_kb, pairs, lambda c: shipped_kb.similar(c, 5))
    assert ours >= 0.85, f"recall@5 {ours:.3f} (plain neighbours {plain:.3f})"
    assert ours > plain
    held_out = [p for p in pairs if p["split"] == "test"]
    assert _recall(shipped_kb, held_out, lambda c: [link.id for link in shipped_kb.related(c, 5)]) >= 0.8


NOTE = """## Optimisers

### Q: What is Adam?

Adam keeps running averages of the gradient and its square. For the sibling trick see [[#Q: Why warm up the learning rate?]].

### Q: Why warm up the learning rate?

Early updates are noisy, so the step size starts small.

## Data

### Q: How do you split a dataset?

Train, validation and test, stratified by label. See also [[#Optimisers]] and [[stats]].

### Q: What is stratified sampling?

Each class keeps its share in every split.
"""
STATS = """## Statistics

### Q: What is a p-value?

The chance of data this extreme if the null hypothesis holds.
"""


def test_explicit_links_come_first_both_ways(make_kb):
    kb = make_kb({"ml.md": NOTE, "stats.md": STATS})
    adam = kb.related("what-is-adam", 3)
    assert adam[0].id == "why-warm-up-the-learning-rate" and adam[0].reason.startswith("linked in the note")
    back = kb.related("why-warm-up-the-learning-rate", 3)
    assert back[0].id == "what-is-adam" and back[0].reason.startswith("links here")
    split = {link.id: link.reason for link in kb.related("how-do-you-split-a-dataset", 3)}
    assert split.get("what-is-a-p-value", "").startswith("linked note: stats")
    assert any(r.startswith("linked section: Optimisers") for r in split.values()), split


def test_cli_related_by_id_question_text_and_queries(shipped_kb, tmp_path):
    args = ["--corpus", str(shipped_kb.config.corpus), "--index", str(shipped_kb.config.index)]
    runner = CliRunner()
    out = runner.invoke(main, ["related", "how-does-ppo-work-why-the-clip", "--json", *args])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["id"] == "how-does-ppo-work-why-the-clip" and data["question"] == "How does PPO work? Why the clip?"
    assert len(data["links"]) == 6 and all(set(link) == {"id", "question", "family", "reason", "score"} for link in data["links"])
    by_question = runner.invoke(main, ["related", "Q: How does PPO work? Why the clip?", "--json", *args])
    assert json.loads(by_question.output)["links"] == data["links"]
    text = runner.invoke(main, ["related", "   ", *args])  # nothing to look up: a message, not a traceback
    assert text.exit_code == 1 and "kb: error:" in text.output and "Traceback" not in text.output
    queries = tmp_path / "q.txt"
    queries.write_text('how-does-ppo-work-why-the-clip\n{"query": "wasserstein gan critic"}\n', encoding="utf-8")
    lines = runner.invoke(main, ["related", "--queries", str(queries), "--json", *args]).output.strip().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["query"] for r in rows] == ["how-does-ppo-work-why-the-clip", "wasserstein gan critic"]
    assert rows[0]["links"] == data["links"]
    assert rows[1]["id"] == "why-did-wgan-improve-on-the-original-gan-loss" and rows[1]["links"]
    plain = runner.invoke(main, ["related", "how-does-ppo-work-why-the-clip", *args])
    assert plain.exit_code == 0 and data["links"][0]["reason"] in plain.output


def test_unknown_card_is_a_named_error(shipped_kb):
    from kb.errors import CardNotFound

    with pytest.raises(CardNotFound):
        shipped_kb.related("no-such-card")


def test_cli_concepts_lists_the_glossary(shipped_kb):
    args = ["--corpus", str(shipped_kb.config.corpus), "--index", str(shipped_kb.config.index)]
    runner = CliRunner()
    out = runner.invoke(main, ["concepts", "Kullback-Leibler", "--json", *args])
    assert out.exit_code == 0, out.output
    kl = json.loads(out.output.strip().splitlines()[0])
    assert kl["name"] == "KL" and kl["home"] == "whats-the-difference-between-forward-and-reverse-kl"
    assert "explain-the-vae-loss-elbo" in kl["mentions"]
    text = runner.invoke(main, ["concepts", *args])
    assert text.exit_code == 0 and "PPO" in text.output and "home: How does PPO work? Why the clip?" in text.output
    missing = runner.invoke(main, ["concepts", "zebra-crossing", *args])
    assert missing.exit_code == 1 and "no concept matches 'zebra-crossing'" in missing.output
