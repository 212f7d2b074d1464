"""Property-based fuzzing: random and mutated markdown to the parser, hostile text to search, chat and grade.

Nothing may crash: the parser always returns cards and problems; the query surfaces either answer
or raise a KbError with a readable message. Most examples go to the parser (fast, pure); the
surfaces that run the real model get fewer. The number of inputs tried is printed at the end of
the module (look for "fuzz inputs tried" in the pytest output).
A longer run: KB_FUZZ_SCALE=10 python -m pytest tests/test_fuzz.py -q
"""
from __future__ import annotations

import os
import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kb.errors import KbError
from kb.notes.corpus import parse_note
from tests.support import ALEXEY, EXTERNAL_CORPORA, SALVATORE, SHIPPED_CORPUS

SCALE = float(os.environ.get("KB_FUZZ_SCALE", "1"))
TRIED: Counter = Counter()
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
KINDS = {"heading", "quickfire", "bold", "details"}


def examples(n: int) -> settings:
    return settings(
        max_examples=max(1, int(n * SCALE)),
        deadline=None,
        derandomize=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    )


@pytest.fixture(scope="module", autouse=True)
def report_counts(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    total = sum(TRIED.values())
    line = f"fuzz inputs tried: {total} ({', '.join(f'{k} {v}' for k, v in sorted(TRIED.items()))})"
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # shown in the normal pytest output, not swallowed
            reporter.write_line("\n" + line)


# ---- markdown generators ---------------------------------------------------------------------------

nasty_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), min_codepoint=0, max_codepoint=0x10FFFF),
    max_size=60,
)
words = st.text(alphabet=st.sampled_from("abcdeλσ∑ $\\*_`[]#|<>?!:()-.0123456789⭐️"), min_size=0, max_size=30)

LINE_SHAPES = [
    lambda w: f"# {w}",
    lambda w: f"## {w}",
    lambda w: f"### Q: {w}?",
    lambda w: f"#### 12) {w}",
    lambda w: f"### {w}?",
    lambda w: f"**Q: {w}?** {w}",
    lambda w: f"**{w}? ⭐️**",
    lambda w: f"__Q. {w}__",
    lambda w: f"<details><summary>{w}</summary>",
    lambda w: "</details>",
    lambda w: "<details>",
    lambda w: f"<summary>{w}",
    lambda w: f"$$ {w} $$",
    lambda w: "$$",
    lambda w: f"${w}$ and $",
    lambda w: "```",
    lambda w: f"```python\n{w}",
    lambda w: f"- {w}",
    lambda w: f"1. {w}",
    lambda w: f"> {w}",
    lambda w: f"| {w} | {w} |",
    lambda w: "|---|---|",
    lambda w: f"[[#{w}|{w}]]",
    lambda w: f"[[{w}]]",
    lambda w: "---",
    lambda w: "",
    lambda w: "   ",
    lambda w: w,
    lambda w: f"<br> {w} &nbsp;",
    lambda w: "Answer here",
    lambda w: "!",
    lambda w: "\r",
    lambda w: "\t\t" + w,
]

line = st.builds(lambda shape, w: LINE_SHAPES[shape](w), st.integers(0, len(LINE_SHAPES) - 1), st.one_of(words, nasty_text))
generated_note = st.lists(line, max_size=40).map("\n".join)


def _source_lines() -> list[list[str]]:
    sources = [SHIPPED_CORPUS / "losses-in-deep-learning.md", EXTERNAL_CORPORA / ALEXEY, EXTERNAL_CORPORA / SALVATORE]
    return [p.read_text(encoding="utf-8").split("\n") for p in sources if p.exists()]


SOURCES = _source_lines()


@st.composite
def mutated_note(draw) -> str:
    """A window of a real note with lines deleted, duplicated, swapped, cut or spliced with junk."""
    lines = draw(st.sampled_from(SOURCES))
    start = draw(st.integers(0, max(0, len(lines) - 1)))
    window = list(lines[start : start + draw(st.integers(1, 120))])
    for _ in range(draw(st.integers(0, 8))):
        if not window:
            break
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "cut", "junk", "shape"]))
        i = draw(st.integers(0, len(window) - 1))
        if op == "delete":
            del window[i]
        elif op == "duplicate":
            window.insert(i, window[i])
        elif op == "swap":
            j = draw(st.integers(0, len(window) - 1))
            window[i], window[j] = window[j], window[i]
        elif op == "cut":
            window[i] = window[i][: draw(st.integers(0, max(0, len(window[i]))))]
        elif op == "junk":
            window.insert(i, draw(nasty_text))
        else:
            window.insert(i, draw(line))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return newline.join(window)


def check_parse(text: str) -> None:
    """The properties every parse must have, whatever the input."""
    result = parse_note(text, "fuzz/note.md")
    n_lines = len(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    for card in result.cards:
        assert card.kind in KINDS
        assert card.note == "fuzz/note.md"
        assert card.question and card.question == card.question.strip()
        assert "\n" not in card.question
        assert SLUG_RE.match(card.id), card.id
        assert card.family and isinstance(card.family, str)
        assert card.answer_text.strip() and isinstance(card.answer_md, str)
        assert 1 <= card.line_start <= card.line_end <= n_lines, (card.line_start, card.line_end, n_lines)
        for link in card.links:
            assert card.line_start <= link.line <= card.line_end
    for problem in result.problems:
        assert problem.file == "fuzz/note.md" and problem.message
        assert problem.line is None or 1 <= problem.line <= n_lines, (problem.line, n_lines, problem.message)
    assert result.cards or result.problems, "a note with no cards must say why"


@examples(6000)
@given(generated_note)
def test_parser_survives_generated_markdown(text):
    TRIED["parser generated"] += 1
    check_parse(text)


@examples(2500)
@given(mutated_note())
def test_parser_survives_mutated_real_notes(text):
    TRIED["parser mutated"] += 1
    check_parse(text)


@examples(1500)
@given(st.text(max_size=400))
def test_parser_survives_arbitrary_unicode(text):
    TRIED["parser unicode"] += 1
    check_parse(text)


# ---- search, chat and grade with the real model -------------------------------------------------------

hostile_query = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1F), max_size=40),  # control characters
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=8), st.integers(500, 5000)),  # very long
    st.sampled_from(["", " ", "\x00", "\u200b\u200b", "<script>alert(1)</script>", "../../etc/passwd", "' OR 1=1 --", "$$\\frac{", "🙂" * 3000]),
)


def expect_answer_or_kb_error(call):
    """Either a result, or a KbError with a short human message (never another exception type)."""
    try:
        return call()
    except KbError as exc:
        message = str(exc)
        assert message and "Traceback" not in message and len(message) < 2000
        return None


@examples(250)
@given(query=hostile_query, k=st.integers(-5, 2000), mode=st.sampled_from(["hybrid", "dense", "lexical"]))
def test_search_survives_hostile_queries(shipped_kb, query, k, mode):
    TRIED["search"] += 1
    hits = expect_answer_or_kb_error(lambda: shipped_kb.search(query, k=k, mode=mode))
    if hits is not None:
        assert len(hits) <= max(1, k)
        assert all(shipped_kb.has_card(h.card.id) for h in hits)


@examples(150)
@given(family=st.one_of(st.text(max_size=40), st.lists(st.text(max_size=10), max_size=3)))
def test_search_rejects_unknown_families_clearly(shipped_kb, family):
    TRIED["search family"] += 1
    expect_answer_or_kb_error(lambda: shipped_kb.search("loss", k=3, family=family))


@examples(300)
@given(card_id=st.one_of(st.text(max_size=100), st.sampled_from(["../../etc/passwd", "/etc/passwd", "..", "%2e%2e%2f"])))
def test_card_lookup_survives_any_id(shipped_kb, card_id):
    TRIED["card lookup"] += 1
    card = expect_answer_or_kb_error(lambda: shipped_kb.card(card_id))
    assert card is None or card.id == card_id



chat_history = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": hostile_query}), max_size=3)


@examples(200)
@given(question=hostile_query, history=chat_history)
def test_chat_survives_hostile_questions(shipped_kb, question, history):
    from kb.ui.chat_tab import reply_text

    TRIED["chat"] += 1
    topic = shipped_kb.cards()[len(history)].id if history else None  # a conversation already under way
    reply = expect_answer_or_kb_error(lambda: shipped_kb.ask(question, topic=topic))
    if reply is not None:
        assert reply.abstained or reply.card is not None
        assert reply_text(reply).strip()


@examples(200)
@given(answer=hostile_query)
def test_grade_survives_hostile_answers(shipped_kb, answer):
    TRIED["grade"] += 1
    card = shipped_kb.cards()[0]
    expect_answer_or_kb_error(lambda: shipped_kb.grade(card.id, answer))
