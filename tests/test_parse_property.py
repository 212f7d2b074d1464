"""Notes generated from every question shape kb reads, mixed in random order under nested headings,
with prose and traps between them: each question becomes exactly one card, with its own answer and
its family, and nothing else becomes a card.

The traps are the shapes that look like questions and are not: `::` in code, URLs and Dataview
fields, `?` lines in code fences, `==` inside math, and (in Logseq) blocks nested three and more deep.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings, strategies as st

from kb.notes.corpus import parse_note

EXAMPLES = 1000  # notes per run, per syntax
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

WORDS = ["dropout", "momentum", "entropy", "margin", "kernel", "gradient", "variance", "prior", "softmax", "residual"]


@dataclass
class Expected:
    question: str
    answer: str  # a piece of text the card's answer must contain
    family: str


@dataclass
class Note:
    lines: list[str] = field(default_factory=list)
    expected: list[Expected] = field(default_factory=list)
    counter: int = 0

    def fresh(self, draw) -> tuple[str, str]:
        """A question stem and an answer no other item of the note uses."""
        self.counter += 1
        word = draw(st.sampled_from(WORDS))
        return f"{word} idea {self.counter}", f"Answer {self.counter} says {word} matters"

    def add(self, text: str) -> None:
        self.lines += [text, ""]


# ---- markdown (and Obsidian flashcards) -----------------------------------------------------------

PLAIN_TRAPS = [
    "Use `std::vector` here, and `a[::2]` for every second item.",
    "See https://example.org/docs::intro for more.",
    "The case $a == b$ holds, and $$x == y$$ too.",
    "```python\nwhat = 'is this?'\n?\nnot a card\n# a comment?\nitems::more\n```",
    "$$\n\\sum_{k' < k} x_k == \\sum_{k' > k} y_k\n$$",
    "Plain prose between questions, with no question in it.",
]
TAGGED_TRAPS = PLAIN_TRAPS + ["A field [status:: draft] and (due:: today) stay text."]
UNTAGGED_TRAPS = PLAIN_TRAPS + ["status:: draft", "Keep ==this== highlighted."]


def heading_shapes(level: int) -> list[str]:
    return ["q_heading", "qmark_heading", "numbered_heading"] if level <= 6 else []


LINE_SHAPES = ["quickfire", "qa_pair", "details", "callout", "bold_line"]  # bold_line last
FLASHCARD_SHAPES = ["single_line", "multi_line", "highlight_cloze"]


def add_question(note: Note, draw, shape: str, level: int, family: str) -> None:
    stem, answer = note.fresh(draw)
    number = draw(st.integers(1, 40))
    if shape == "q_heading":
        numbering = draw(st.sampled_from(["Q:", f"Q{number}.", "Question:"]))
        note.add(f"{'#' * level} {numbering} What is {stem}?")
        note.add(answer + ".")
    elif shape == "qmark_heading":
        note.add(f"{'#' * level} Why does {stem} work?")
        note.add(answer + ".")
    elif shape == "numbered_heading":
        note.add(f"{'#' * level} {number}. How does {stem} help?")
        note.add(answer + ".")
    elif shape == "quickfire":
        note.add(f"**Q: What is {stem}?** {answer}.")
    elif shape == "qa_pair":
        note.add(f"**Q:** Why use {stem}?\nA: {answer}.")
    elif shape == "details":
        note.add(f"<details><summary>When is {stem} used?</summary>\n\n{answer}.\n\n</details>")
    elif shape == "callout":
        note.add(f"> [!question] Where does {stem} apply?\n> {answer}.")
    elif shape == "bold_line":
        note.add(f"**Which {stem} is best?**")
        note.add(answer + ".")
    elif shape == "single_line":
        note.add(f"Define {stem}::{answer}.")
    elif shape == "multi_line":
        note.add(f"Explain {stem}\nin one line\n?\n{answer}.")
    elif shape == "highlight_cloze":
        note.add(f"The term ==cloze {stem}== is part {note.counter}.")
        note.expected.append(Expected(f"The term [...] is part {note.counter}.", f"**cloze {stem}**", family))
        return
    question = {
        "q_heading": f"What is {stem}?", "qmark_heading": f"Why does {stem} work?", "numbered_heading": f"How does {stem} help?",
        "quickfire": f"What is {stem}?", "qa_pair": f"Why use {stem}?", "details": f"When is {stem} used?",
        "callout": f"Where does {stem} apply?", "bold_line": f"Which {stem} is best?", "single_line": f"Define {stem}",
        "multi_line": f"Explain {stem} in one line",
    }[shape]
    note.expected.append(Expected(question, answer, family))


@st.composite
def markdown_notes(draw) -> Note:
    note = Note()
    tagged = draw(st.booleans())
    traps = TAGGED_TRAPS if tagged else UNTAGGED_TRAPS
    if tagged and draw(st.booleans()):
        note.lines += ["---", "tags: [ml, flashcards]", "---", ""]
    note.add("# Study notes")
    if tagged and not note.lines[0] == "---":
        note.add("#flashcards")
    for s in range(draw(st.integers(1, 3))):
        family, level = f"Family {s}", 2
        note.add(f"## {family}")
        if draw(st.booleans()):  # a nested plain heading: the family of what follows
            family, level = f"Topic {s}", 3
            note.add(f"### {family}")
        # A bold line under a heading question is emphasis in its answer, so bold questions come first.
        after_heading = False
        if draw(st.booleans()):  # the trap: a numbered heading with prose, then questions that are not headings
            add_question(note, draw, "numbered_heading", level + 1, family)
            after_heading = True
            for _ in range(draw(st.integers(1, 2))):
                add_question(note, draw, draw(st.sampled_from(LINE_SHAPES[:-1])), level + 1, family)
        for _ in range(draw(st.integers(1, 6))):
            shapes = heading_shapes(level + 1) + LINE_SHAPES[: -1 if after_heading else None] + (FLASHCARD_SHAPES if tagged else [])
            if draw(st.integers(0, 3)) == 0:
                note.add(draw(st.sampled_from(traps)))
            shape = draw(st.sampled_from(shapes))
            after_heading = after_heading or shape.endswith("heading")
            add_question(note, draw, shape, level + 1, family)
            if draw(st.integers(0, 3)) == 0:
                note.add(draw(st.sampled_from(traps)))
    return note


def check(note: Note, cards) -> None:
    text = "\n".join(note.lines)
    got = {c.question: c for c in cards}
    assert len(got) == len(cards), ([c.question for c in cards], text)
    assert sorted(got) == sorted(e.question for e in note.expected), text
    for e in note.expected:
        card = got[e.question]
        assert e.answer in card.answer_md, (e.question, card.answer_md, text)
        assert card.family == e.family, (e.question, card.family, text)
        others = [o.answer for o in note.expected if o is not e and o.answer not in e.answer]
        assert not any(o + "." in card.answer_md or o + "**" in card.answer_md for o in others), (e.question, card.answer_md, text)


@PROPERTY
@given(markdown_notes())
def test_every_generated_markdown_question_is_one_card_with_its_answer_and_family(note):
    check(note, parse_note("\n".join(note.lines), "study.md").cards)


# ---- Logseq -----------------------------------------------------------------------------------------


@st.composite
def logseq_pages(draw) -> Note:
    note = Note()
    if draw(st.booleans()):
        note.lines += ["tags:: ml, study", "alias:: notes", ""]
    title = "topic / sub"  # the page file is topic___sub.md

    def children(depth: int, answer: str) -> None:
        indent = "\t" * depth
        note.lines.append(f"{indent}- {answer}")
        parts = draw(st.integers(0, 3))  # nesting three and more deep
        for k in range(parts):
            note.lines.append(f"{indent}{chr(9) * (k + 1)}- part {k} of {answer.split()[1]}")
        if draw(st.booleans()):
            note.lines.append(f"{indent}  id:: 6566c1f0-{draw(st.integers(1000, 9999))}")

    def card(depth: int, family: str) -> None:
        stem, answer = note.fresh(draw)
        indent = "\t" * depth
        if draw(st.integers(0, 4)) == 0:
            note.lines.append(f"{indent}- The term {{{{cloze {stem}}}}} is cloze {note.counter} #card")
            note.expected.append(Expected(f"The term [...] is cloze {note.counter}", f"**{stem}**", family))
            return
        note.lines.append(f"{indent}- What is {stem}? #card")
        if draw(st.booleans()):
            note.lines.append(f"{indent}  card-repeats:: {draw(st.integers(1, 9))}")
        children(depth + 1, answer)
        note.expected.append(Expected(f"What is {stem}?", answer, family))

    for s in range(draw(st.integers(1, 3))):
        family, depth = title, 0
        if draw(st.booleans()):
            family = f"Section {s}"
            note.lines.append(f"- ## {family}")
            depth = 1
        for _ in range(draw(st.integers(1, 4))):
            nested = 0
            if draw(st.booleans()):
                note.lines.append(f"{chr(9) * depth}- a plain block with `a::b` and https://x.org/?q=1")
                note.lines.append(f"{chr(9) * (depth + 1)}- its child")
                note.lines.append(f"{chr(9) * (depth + 2)}- and a grandchild?")
                nested = draw(st.integers(0, 1))  # the card may be a child of the plain block
            card(depth + nested, family)
    return note


@PROPERTY
@given(logseq_pages())
def test_every_generated_logseq_card_block_is_one_card_with_its_children_and_family(note):
    cards = parse_note("\n".join(note.lines), "pages/topic___sub.md", "logseq").cards
    for card in cards:
        assert "::" not in card.answer_md.replace("a::b", ""), card.answer_md
    check(note, cards)
