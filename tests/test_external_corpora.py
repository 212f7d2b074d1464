"""Other people's notes in other formats, read in place from ../shared/external-corpora.

The expected items are found here with the plain regexes their SOURCES.md gives, independently of
kb's parser; the parser must turn at least 90% of the answered ones into cards, and nothing else.
"""
from __future__ import annotations

import re
import unicodedata

import pytest

from kb.notes.corpus import clean_question, load_corpus, parse_note
from tests.support import ALEXEY, SALVATORE


def norm(text: str) -> str:
    """Letters and digits only, so the comparison does not depend on how markup is cleaned."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def alexey_items(text: str) -> list[tuple[int, str, bool]]:
    """(line, question, answered) for every bold question line; answers run to the next bold line or heading."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if re.match(r"^\*\*.*\*\*\s*$", line)]
    items = []
    for n, i in enumerate(starts):
        stop = starts[n + 1] if n + 1 < len(starts) else len(lines)
        stop = next((j for j in range(i + 1, stop) if lines[j].startswith("#")), stop)
        body = "\n".join(lines[i + 1 : stop]).replace("<br/>", "").strip()
        items.append((i + 1, lines[i].strip().strip("*"), body not in ("", "Answer here")))
    return items


def salvatore_items(text: str) -> list[tuple[int, str, bool]]:
    items = []
    for m in re.finditer(r"<details>\s*<summary><b>(.*?)\s*</b></summary>(.*?)</details>", text, re.S):
        items.append((text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2).strip() not in ("", "!")))
    return items


@pytest.fixture(scope="module")
def alexey(external_corpora):
    text = (external_corpora / ALEXEY).read_text(encoding="utf-8")
    return text, parse_note(text, ALEXEY)


@pytest.fixture(scope="module")
def salvatore(external_corpora):
    text = (external_corpora / SALVATORE).read_text(encoding="utf-8")
    return text, parse_note(text, SALVATORE)


def coverage(items, cards) -> float:
    answered = [norm(clean_question(q)) for _, q, ok in items if ok]
    found = {norm(c.question) for c in cards}
    return sum(q in found for q in answered) / len(answered)


def test_alexey_item_counts_and_coverage(alexey):
    text, result = alexey
    items = alexey_items(text)
    assert len(items) == 166 and sum(ok for *_, ok in items) == 152
    assert len(result.cards) == 152
    assert result.placeholders == 14
    assert coverage(items, result.cards) >= 0.9
    assert {c.kind for c in result.cards} == {"bold"}


def test_alexey_placeholders_are_reported_with_their_lines(alexey):
    text, result = alexey
    unanswered = {line for line, _, ok in alexey_items(text) if not ok}
    reported = {p.line for p in result.problems if "placeholder answer" in p.message}
    assert reported == unanswered and len(reported) == 14


def test_alexey_families_questions_and_answers(alexey):
    text, result = alexey
    families = list(dict.fromkeys(c.family for c in result.cards))
    assert families[0] == "Supervised machine learning" and "Time series" in families
    assert len(families) == 19 and "Table of contents" not in families
    cards = {c.question: c for c in result.cards}
    gd = cards["What is gradient descent? How does it work?"]  # the difficulty emoji and ZWJ are gone
    assert gd.family == "Linear regression" and gd.line_start == 153
    assert "<br/>" not in gd.answer_md and gd.answer_text
    assert "Precision-recall trade-off" in cards  # a question not phrased as one
    # the stray letter glued after the emoji is dropped, the rest of the question kept
    assert any(q.endswith("metric?") for q in cards)
    lines = text.split("\n")
    for card in result.cards:
        assert lines[card.line_start - 1].startswith("**")


def test_salvatore_item_counts_and_coverage(salvatore):
    text, result = salvatore
    items = salvatore_items(text)
    assert len(items) == 64 and sum(ok for *_, ok in items) == 55
    assert len(result.cards) == 55
    assert result.placeholders == 9
    assert coverage(items, result.cards) >= 0.9
    assert {c.kind for c in result.cards} == {"details"}


def test_salvatore_headings_and_code_comments_inside_answers_are_not_questions(salvatore):
    text, result = salvatore
    questions = {norm(c.question) for c in result.cards}
    for not_a_question in (
        "What are emergent properties?",
        "xLSTM",
        "The scaling law",
        "So, GraphRAG will substitute the traditional RAG?",
        "Why do we care about it? How can we use it for a neural network?",
        "RWKV",
        "Install coxkan",
        "Create a class to represent the function",
    ):
        assert norm(not_a_question) not in questions, not_a_question
    # ... they stay inside the answers that hold them
    answers = "\n".join(c.answer_md for c in result.cards)
    assert "## What are emergent properties?" in answers
    assert "### xLSTM" in answers
    assert "# Install coxkan" in answers


def test_salvatore_families_and_formulas(salvatore):
    text, result = salvatore
    families = set(c.family for c in result.cards)
    assert "Index" not in families
    assert {"Statistics and data science", "Neural networks", "Transformer"} <= families
    assert not families & {"What are emergent properties?", "xLSTM", "RWKV"}
    answers = "\n".join(c.answer_md for c in result.cards)
    display = re.findall(r"\$\$.+?\$\$", text, re.S)
    assert len(display) >= 15
    for formula in display:
        assert formula in answers, formula
    assert "$\\overline{X}$" in answers


def test_toc_entries_give_no_card(alexey, salvatore):
    for text, result in (alexey, salvatore):
        toc_lines = {i + 1 for i, line in enumerate(text.split("\n")) if re.match(r"^\* \[.*\]\(#", line)}
        assert toc_lines
        assert not any(c.line_start in toc_lines for c in result.cards)


def test_load_corpus_over_the_folder_reports_the_sources_file(external_corpora):
    result = load_corpus(external_corpora)
    by_note = {}
    for card in result.cards:
        by_note[card.note] = by_note.get(card.note, 0) + 1
    assert by_note == {ALEXEY: 152, SALVATORE: 55}
    assert any(p.file == "SOURCES.md" and "no questions" in p.message for p in result.problems)
    assert len({c.id for c in result.cards}) == len(result.cards)


def test_kb_build_over_the_external_corpora(external_corpora, tmp_path, encoder):
    """`kb build` on the folder as it is: real model, real FAISS index; placeholders reported, not indexed."""
    import subprocess
    import sys

    from kb import Config, KnowledgeBase
    from tests.support import kb_env

    index = tmp_path / "index"
    env = kb_env()
    result = subprocess.run(
        [sys.executable, "-m", "kb", "build", "--corpus", str(external_corpora), "--index", str(index)],
        capture_output=True, text=True, env=env, timeout=1200,
    )
    assert result.returncode == 0, result.stderr
    assert "207 cards" in result.stdout and "re-embedded 207" in result.stdout
    assert "23 placeholder answer(s) not indexed" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert sum("placeholder answer" in w for w in warnings) == 23
    assert any(w.startswith("warning: SOURCES.md: no questions found") for w in warnings)

    # the index it wrote is whole: it opens without embedding anything, and answers
    kb = KnowledgeBase.load(config=Config(corpus=external_corpora, index=index), encoder_factory=lambda: encoder)
    assert kb.report.action == "loaded" and kb.report.embedded == 0
    assert kb.data.vectors.shape == (207, 2, encoder.dim)
    hit = kb.search("What is overfitting? How to prevent it?", k=1)[0]
    assert hit.card.note == SALVATORE and "overfitting" in hit.card.question.lower()
