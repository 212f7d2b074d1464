"""Small synthetic notes, one per markdown shape: what becomes a card, what stays inside an answer."""
from __future__ import annotations

import itertools

from kb.notes.corpus import parse_note


def questions(text: str) -> list[str]:
    return [c.question for c in parse_note(text, "n.md").cards]


def one(text: str, question: str):
    cards = [c for c in parse_note(text, "n.md").cards if c.question == question]
    assert len(cards) == 1, [c.question for c in parse_note(text, "n.md").cards]
    return cards[0]


def test_front_matter_is_not_a_heading_or_a_question():
    note = "---\ntitle: What is this note?\ntags: [ml]\n---\n\n## Basics\n\n### Q: What is X?\n\nX is a thing.\n"
    result = parse_note(note, "n.md")
    assert [(c.question, c.family, c.line_start) for c in result.cards] == [("What is X?", "Basics", 8)]
    assert result.problems == []


def test_front_matter_title_names_a_note_with_no_h1():
    note = "---\ntitle: 'My Losses'\n---\n\n### Q: What is X?\n\nX.\n"
    assert one(note, "What is X?").family == "My Losses"


def test_numbered_question_headings():
    note = ("# ML\n\n## Trees\n\n#### 12) What is a tree\n\nA tree is a graph.\n\n#### 13. Why prune\n\nTo avoid overfitting.\n\n"
            "## Nets\n\n#### 1) What is a neuron\n\nA unit.\n")
    cards = parse_note(note, "n.md").cards
    assert [(c.question, c.family) for c in cards] == [
        ("What is a tree", "Trees"),
        ("Why prune", "Trees"),
        ("What is a neuron", "Nets"),
    ]
    assert cards[0].answer_md == "A tree is a graph."


def test_a_numbered_list_of_terse_headings_is_still_a_question_list():
    note = ("## Topics\n\n#### 1) Gradient descent\n\nStep downhill.\n\n#### 2) What is momentum?\n\nA running mean.\n\n"
            "#### 3) Explain Adam\n\nMomentum plus RMS.\n")
    assert questions(note) == ["Gradient descent", "What is momentum?", "Explain Adam"]


def test_numbered_section_titles_are_families_not_questions():
    note = ("# Note\n\n## 1. Regression\n\n### Q: What is MSE?\n\nMSE.\n\n## 2. Classification\n\n### Q: What is CE?\n\nCE.\n\n"
            "## 3. Appendix\n\nSome closing words.\n")
    result = parse_note(note, "n.md")
    assert [(c.question, c.family) for c in result.cards] == [("What is MSE?", "1. Regression"), ("What is CE?", "2. Classification")]
    assert result.placeholders == 0


def test_hash_lines_in_code_fences_and_math_blocks_are_not_headings():
    fence = "```bash\n# Install coxkan\npip install coxkan\n### Q: not a question either\n```"
    note = f"## Code\n\n### Q: How to install?\n\n{fence}\n\nDone.\n\n~~~\n# tilde fence\n~~~\n\n$$\n# x\n$$\n\n    # indented code\n\n### Q: Second?\n\nYes.\n"
    result = parse_note(note, "n.md")
    assert [c.question for c in result.cards] == ["How to install?", "Second?"]
    assert fence in result.cards[0].answer_md
    assert "# Install coxkan" in result.cards[0].answer_text


def test_nested_details_stay_in_the_outer_answer_with_their_headings():
    note = (
        "## Fam\n\n<details>\n  <summary><b>What is A? </b></summary>\n\nA is a.\n\n## What are emergent properties?\n\nThey emerge.\n\n"
        "### xLSTM\n\nA cell.\n\n<details>\n<summary>More detail?</summary>\n\ninner\n\n</details>\n\nafter inner\n\n</details>\n\n"
        "<details><summary>What is B?</summary>\n\nB.\n</details>\n"
    )
    cards = parse_note(note, "n.md").cards
    assert [(c.question, c.family, c.kind) for c in cards] == [("What is A?", "Fam", "details"), ("What is B?", "Fam", "details")]
    a = cards[0]
    for inner in ("## What are emergent properties?", "### xLSTM", "<summary>More detail?</summary>", "after inner"):
        assert inner in a.answer_md
    assert "<summary><b>What is A?" not in a.answer_md
    assert a.line_start == 3 and note.split("\n")[a.line_end - 1] == "after inner"


def test_summary_spread_over_lines():
    note = "## F\n\n<details>\n<summary>\n\n**What is A?**\n\n</summary>\n\nA is.\n\n</details>\n"
    assert one(note, "What is A?").answer_md == "A is."


def test_crlf_and_bom_give_the_same_cards_as_lf():
    lf = "## Fam\n\n### Q: What is X?\n\nX is $a_b$.\n\n**Q: Quick?** yes\n"
    crlf = "\ufeff" + lf.replace("\n", "\r\n")
    a, b = parse_note(lf, "n.md").cards, parse_note(crlf, "n.md").cards
    assert [c.to_dict() for c in a] == [c.to_dict() for c in b]
    assert [c.family for c in b] == ["Fam", "Fam"]
    assert b[0].answer_md == "X is $a_b$."


def test_headings_inside_a_q_answer_are_part_of_it():
    note = "## Fam\n\n### Q: What is X?\n\nX is.\n\n#### Details\n\nmore\n\n#### Why does it matter?\n\nbecause\n\n### Q: What is Y?\n\nY.\n"
    cards = parse_note(note, "n.md").cards
    assert [c.question for c in cards] == ["What is X?", "What is Y?"]
    assert "#### Why does it matter?\n\nbecause" in cards[0].answer_md


def test_question_heading_with_prose_and_sub_questions_is_a_card_and_their_family():
    note = "## Optimisers\n\n### What about optimisers?\n\nSome intro.\n\n#### Q: What is SGD?\n\nSGD is.\n\n#### What is Adam?\n\nAdam is.\n"
    cards = parse_note(note, "n.md").cards
    assert [(c.question, c.family) for c in cards] == [
        ("What about optimisers?", "Optimisers"),
        ("What is SGD?", "What about optimisers?"),
        ("What is Adam?", "What about optimisers?"),
    ]
    assert cards[0].answer_md == "Some intro."


def test_question_heading_with_no_prose_over_sub_headings_is_only_a_section():
    note = "## Why do GANs fail?\n\n### Q: What is mode collapse?\n\nOne mode.\n\n### Q: What is vanishing D?\n\nD wins.\n"
    cards = parse_note(note, "n.md").cards
    assert [(c.question, c.family) for c in cards] == [("What is mode collapse?", "Why do GANs fail?"), ("What is vanishing D?", "Why do GANs fail?")]


def test_numbered_question_heading_with_prose_then_non_heading_questions():
    note = (
        "## Regularisation\n\n### 4. Why does dropout behave like an ensemble?\nEach step trains a random sub-network.\n\n"
        "<details><summary>What does weight decay do to the loss?</summary> It adds a penalty. </details>\n\n"
        "**Q:** Why scale activations at test time?\nA: To keep expectations equal.\n"
    )
    cards = parse_note(note, "n.md").cards
    assert [(c.question, c.family) for c in cards] == [
        ("Why does dropout behave like an ensemble?", "Regularisation"),
        ("What does weight decay do to the loss?", "Regularisation"),
        ("Why scale activations at test time?", "Regularisation"),
    ]
    assert cards[0].answer_md == "Each step trains a random sub-network."


def test_question_heading_whose_answer_is_under_a_plain_sub_heading():
    note = "## Fam\n\n### What is X?\n\n#### Details\n\nX text.\n\n### What is Y?\n\nY.\n"
    assert one(note, "What is X?").answer_md == "#### Details\n\nX text."


def test_questions_that_are_not_headings_skip_a_heading_that_asks():
    # A heading that asks is never the family of quick-fire lines: the nearest one that does not ask is.
    note = "# Notes\n\n## What comes next?\n\n**Q: A?** a\n\n**Q: B?** b\n"
    cards = parse_note(note, "n.md").cards
    assert [(c.question, c.family) for c in cards] == [("A?", "Notes"), ("B?", "Notes")]


def test_q_headings_under_an_h1_with_no_h2():
    note = "# Losses\n\n### Q: What is MSE?\n\nMean squared error.\n\n### Q: What is MAE?\n\nMean absolute error.\n"
    cards = parse_note(note, "n.md").cards
    assert [(c.question, c.family) for c in cards] == [("What is MSE?", "Losses"), ("What is MAE?", "Losses")]


def test_no_heading_at_all_uses_the_file_name_as_family():
    assert one("### Q: What is MSE?\n\nMean squared error.\n", "What is MSE?").family == "n"


def test_question_h1s_are_not_the_title():
    cards = parse_note("# What is X?\n\nX.\n\n# What is Y?\n\nY.\n", "notes/qa.md").cards
    assert [(c.question, c.family) for c in cards] == [("What is X?", "qa"), ("What is Y?", "qa")]


def test_setext_heading_underline_is_not_answer_text():
    assert one("Fam\n===\n\nWhat is X?\n---------\n\nX is.\n", "What is X?").answer_md == "X is."


def test_headings_in_lists_and_blockquotes_are_answer_text():
    note = "## F\n\n### Q: What?\n\n> ## What is quoted?\n> text\n\n- ### What in a list?\n  item\n\n### Q: Real?\n\nyes\n"
    cards = parse_note(note, "n.md").cards
    assert [c.question for c in cards] == ["What?", "Real?"]
    assert "> ## What is quoted?" in cards[0].answer_md


def test_table_of_contents_gives_no_card():
    note = ("# Note\n\n## Table of Contents\n\n- [[#Q: What is X?]]\n- [What is Y?](#y)\n\n**What is Z?**\n\n"
            "## Fam\n\n### Q: What is X?\n\nX. See [[#Q: What is Y?]].\n\n### Q: What is Y?\n\nY.\n")
    cards = parse_note(note, "n.md").cards
    assert [c.question for c in cards] == ["What is X?", "What is Y?"]
    assert all(c.family == "Fam" for c in cards)


def test_question_headings_right_after_a_table_of_contents_are_cards_of_the_note():
    note = "# Information theory\n\n## Table of Contents\n\n- [What is entropy?](#entropy)\n\n### Q: What is entropy?\n\nH.\n\n### Q: What is KL?\n\nD.\n"
    cards = parse_note(note, "n.md").cards
    assert [c.question for c in cards] == ["What is entropy?", "What is KL?"]
    assert all(c.family == "Information theory" for c in cards)


def test_wiki_links_are_kept_in_the_card():
    card = one("## F\n\n### Q: A?\n\nSee [[other#Q: B?|B]] and [[#C]].\n", "A?")
    assert card.answer_md == "See [[other#Q: B?|B]] and [[#C]]."
    assert [(link.note, link.heading, link.alias, link.line) for link in card.links] == [("other", "Q: B?", "B", 5), ("", "C", "", 5)]
    assert "[[" not in card.answer_text and "B" in card.answer_text


def test_latex_with_markdown_characters_is_byte_exact():
    formula = "$$\n\\mathcal{L} = \\sum_i *x_i* _y_ \\|w\\|_2^2\n$$"
    inline = "$a_*b*_c$"
    card = one(f"## F\n\n### Q: A?\n\n{formula}\n\ninline {inline} and \\$5.\n", "A?")
    assert formula in card.answer_md and inline in card.answer_md
    assert "\\mathcal{L} = \\sum_i *x_i* _y_" in card.answer_text


def test_bold_question_lines_and_labels():
    note = ("## A\n\n**What is X? ⭐️**\n\nX.\n\n**Example:**\n\nsomething\n\n**What is Y? 👶**\n\nY.\n\n"
            "**Precision-recall trade-off \u200d⭐️**\n\nPR.\n\n**Is Z? 🚀**\n\nAnswer here\n\n<br/>\n")
    result = parse_note(note, "n.md")
    assert [c.question for c in result.cards] == ["What is X?", "What is Y?", "Precision-recall trade-off"]
    assert result.cards[0].answer_md == "X.\n\n**Example:**\n\nsomething"
    assert result.placeholders == 1
    assert any(p.line == 19 and "placeholder" in p.message for p in result.problems)


def test_bold_lines_inside_a_heading_answer_are_emphasis():
    note = "## F\n\n### Q: A?\n\n**Why does it matter?**\n\nBecause.\n\n**Key point?**\n\nThis.\n\n**Another?**\n\nThat.\n"
    assert questions(note) == ["A?"]


def test_quick_fire_in_paragraphs_and_lists():
    para = "## QF\n\n**Q: A?** a\n**Q: B?** b\n\n__Question: C?__ c\n"
    listed = "## QF\n\n- **Q: A?** a\n- **Q: B?** b\n  more b\n"
    assert [(c.question, c.answer_md) for c in parse_note(para, "n.md").cards] == [("A?", "a"), ("B?", "b"), ("C?", "c")]
    assert [(c.question, c.answer_md) for c in parse_note(listed, "n.md").cards] == [("A?", "a"), ("B?", "b\n  more b")]


def test_question_text_is_clean():
    note = "## F\n\n### Q: **What** is `x`? [[#link|Link]] ⭐️\n\nA.\n\n### Question: What is $\\alpha$?\n\nB.\n"
    assert questions(note) == ["What is x? Link", "What is \\alpha?"]


def test_line_ranges_point_at_the_source():
    note = "# T\n\n## F\n\n### Q: A?\n\nline one\nline two\n\n---\n\n### Q: B?\n\nb\n"
    a, b = parse_note(note, "n.md").cards
    assert (a.line_start, a.line_end) == (5, 8)
    assert (b.line_start, b.line_end) == (12, 14)


def test_ids_are_readable_and_stable():
    note = "## F\n\n### Q: What's the Déjà-vu loss (TD(λ))?\n\nA.\n"
    moved = "# Title\n\nIntro text that was added.\n\n" + note.replace("## F\n", "## F\n\nMore intro.\n")
    assert questions(note) == ["What's the Déjà-vu loss (TD(λ))?"]
    assert [c.id for c in parse_note(note).cards] == [c.id for c in parse_note(moved).cards] == ["whats-the-deja-vu-loss-td-lamda"]  # Unicode spells it LAMDA


def test_duplicated_question_is_reported_and_kept():
    result = parse_note("## F\n\n### Q: What is X?\n\nX.\n\n### Q: What is X?\n\nX again.\n", "n.md")
    assert len(result.cards) == 2
    assert [(p.line, "duplicated question" in p.message) for p in result.problems] == [(7, True)]


def test_placeholders_and_empty_answers_are_reported_not_indexed():
    note = "## F\n\n### Q: A?\n\n!\n\n### Q: B?\n\nTODO\n\n### Q: C?\n\nreal\n\n### Q: D?\n"
    result = parse_note(note, "n.md")
    assert questions(note) == ["C?"]
    assert result.placeholders == 3
    assert [p.line for p in result.problems] == [3, 7, 15]


def test_unclosed_details_is_reported():
    result = parse_note("## F\n\n<details>\n<summary>What is A?</summary>\n\nA is.\n", "n.md")
    assert [c.question for c in result.cards] == ["What is A?"]
    assert any(p.line == 3 and "never closed" in p.message for p in result.problems)


def test_details_answer_on_the_summary_line():
    note = (
        "## F\n\n<details><summary>What is A?</summary>A is inline.</details>\n\n"
        "<details><summary>What is C?</summary> C starts here\n\nand goes on.\n</details>\n"
    )
    cards = parse_note(note, "n.md").cards
    assert [(c.question, c.answer_md, c.line_start, c.line_end) for c in cards] == [
        ("What is A?", "A is inline.", 3, 3),
        ("What is C?", "C starts here\n\nand goes on.", 5, 7),
    ]


def test_numbered_q_prefixes():
    note = "## F\n\n### Q1: What is X?\n\nX.\n\n### Q2. What is Y\n\nY.\n\n**Q3: Quick?** yes\n"
    assert [(c.question, c.answer_md) for c in parse_note(note, "n.md").cards] == [("What is X?", "X."), ("What is Y", "Y."), ("Quick?", "yes")]


def test_q_and_a_marker_lines():
    bold = "## F\n\n**Q:** What is X?\n**A:** X is a thing.\n\n**Q:** What is Y?\n\n**A:** Y is.\n"
    plain = "## F\n\nQ: What is X?\nA: X is a thing.\n\nQ: What is Y?\n\nAnswer: Y is.\n"
    for note in (bold, plain):
        cards = parse_note(note, "n.md").cards
        assert [(c.question, c.answer_md, c.kind) for c in cards] == [("What is X?", "X is a thing.", "quickfire"), ("What is Y?", "Y is.", "quickfire")]
    inline = "## F\n\n**Q:** What is X? **A:** X is a thing.\n\nQ: Is plan A. B good? A: yes\n"
    assert [(c.question, c.answer_md) for c in parse_note(inline, "n.md").cards] == [("What is X?", "X is a thing."), ("Is plan A. B good?", "yes")]
    # a plain "Q:" in prose with no "A:" line answering it is not a question
    assert questions("## F\n\n### Q: Real?\n\nSome prose.\nQ: is this asked? Not really.\n\nMore.\n") == ["Real?"]


def test_a_bold_line_followed_by_words_is_not_a_bold_question():
    note = "## A\n\n**What is X?** yes\n\n**What is Y? ⭐️**\n\nY.\n\n**What is Z? 🚀**\n\nZ.\n\n**What is W?**\n\nW.\n"
    assert questions(note) == ["What is Y?", "What is Z?", "What is W?"]


def test_reveal_toggles_hold_the_answer_of_the_question_above():
    for question_line in ("### Q: What is X?", "### What is X?", "**What is X?**", "**Q: What is X?**"):
        note = (f"## F\n\n{question_line}\n\n<details><summary>Answer</summary>\n\nX is a thing.\n\n</details>\n\n"
                "### Q: What is Y?\n\n<details>\n<summary>Show solution</summary>\nY.\n</details>\n")
        result = parse_note(note, "n.md")
        assert [c.question for c in result.cards] == ["What is X?", "What is Y?"], question_line
        assert "X is a thing." in result.cards[0].answer_text and result.placeholders == 0
    # a summary that asks is a question of its own, and so is a topic summary with no question above it
    note = ("## F\n\n<details><summary>Gradient descent</summary>\n\nStep downhill.\n</details>\n\n"
            "<details><summary>What is momentum?</summary>\n\nRunning mean.\n</details>\n")
    assert questions(note) == ["Gradient descent", "What is momentum?"]


def test_bold_q_heading_is_a_q_heading():
    note = "## F\n\n### **Q: What is X?**\n\nX.\n\n#### Why does it matter?\n\nBecause.\n\n### **Q: What is Y?**\n\nY.\n"
    cards = parse_note(note, "n.md").cards
    assert [(c.question, c.family) for c in cards] == [("What is X?", "F"), ("What is Y?", "F")]
    assert cards[0].answer_md.endswith("#### Why does it matter?\n\nBecause.")


def test_obsidian_question_callouts():
    note = "## F\n\n> [!question]- What is X?\n> X is $a_b$.\n>\n> More.\n\n> [!note] Not a question\n> text\n\n> [!faq] Why Y?\n> Because.\n"
    cards = parse_note(note, "n.md").cards
    assert [(c.question, c.answer_md, c.kind, c.line_start, c.line_end) for c in cards] == [
        ("What is X?", "X is $a_b$.\n\nMore.", "details", 3, 6),
        ("Why Y?", "Because.", "details", 11, 12),
    ]


def test_question_numbering_and_accents_are_cleaned():
    import unicodedata

    from kb.notes.corpus import clean_question

    assert clean_question("Q1 What is X?") == "What is X?"
    assert clean_question("Question 12 - What is Y?") == "What is Y?"
    assert clean_question("Q-learning vs SARSA?") == "Q-learning vs SARSA?"
    assert clean_question(unicodedata.normalize("NFD", "Qué es él?")) == "Qué es él?"
    assert clean_question("**What is TD(λ)?** \u200d⭐️") == "What is TD(λ)?"


def test_obsidian_image_embeds_and_comments_are_not_answer_text():
    card = one("## F\n\n### Q: A?\n\nSee ![[plot.png|300]] and [[Other note]] %% private\nnote %%done.\n\nThen $ stray.\n", "A?")
    assert "plot" not in card.answer_text and "private" not in card.answer_text
    assert "Other note" in card.answer_text and "done." in card.answer_text
    assert "![[plot.png|300]]" in card.answer_md  # the markdown itself is kept as written
    assert [p.line for p in parse_note("## F\n\n### Q: A?\n\n%% a\nb %%\n\nThen $ stray.\n", "n.md").problems] == [8]


FRAGMENTS = [
    "# Title", "## Family", "### Q: What is X?", "#### Sub heading", "### What is Y?", "#### 3) What is Z",
    "Plain answer text with $a_b$ and **bold**.", "", "- item one\n- item two", "```python\n# comment\nx = 1\n```",
    "<details>\n<summary><b>What is D?</b></summary>\n\nD answer.\n\n</details>", "<details><summary>Answer</summary>\n\nhidden\n</details>",
    "**What is B? ⭐️**", "**Q: Quick?** yes it is", "**Q:** Marker?\n**A:** marker answer", "> [!question] Callout?\n> callout answer",
    "> quoted text", "---", "<br/>", "Answer here", "!", "$$\n\\sum_i x_i\n$$", "Setext?\n-------", "1. What is numbered?",
    "<details>\n<summary>Unclosed?</summary>\n", "Q: plain?\nA: plain answer", "%% comment %%", "[[#Q: What is X?]]",
]


def test_mixed_notes_give_disjoint_cards_whose_answers_come_from_their_lines():
    """Random mixes of every shape: no crash, cards never overlap, each answer line is in its card's range."""
    import random

    rng = random.Random(7)
    for _ in range(300):
        text = "\n\n".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 25)))
        lines = text.split("\n")
        cards = parse_note(text, "mix.md").cards
        spans = sorted((c.line_start, c.line_end) for c in cards)
        assert all(a2 > b1 for (_, b1), (a2, _) in itertools.pairwise(spans)), text
        for card in cards:
            assert 1 <= card.line_start <= card.line_end <= len(lines)
            source = "\n".join(lines[card.line_start - 1 : card.line_end])
            assert all(line.strip() in source for line in card.answer_md.split("\n")), (card.question, text)
            assert card.question and card.answer_text.strip() and not card.question.lower().startswith("q:")


def test_two_display_formulas_on_one_line_are_two_formulas():
    note = "## F\n\n### Q: What are the two moments?\n\n$$\\mu = E[x]$$ $$\\sigma^2 = E[(x-\\mu)^2]$$\n\n$$\nk' < k\n$$\n"
    card = parse_note(note, "n.md").cards[0]
    assert card.answer_text == "\\mu = E[x] \\sigma^2 = E[(x-\\mu)^2]\nk' < k"
    assert card.answer_md.startswith("$$\\mu = E[x]$$ $$\\sigma^2")


def test_a_formula_at_the_start_of_a_line_ending_in_a_digit_is_a_formula():
    # dollarmath looked at the line's last character as "the one before the opening $" at position 0
    for line in ["$b$ is 7", "- $b$ = 7", "1. $b$ is 7"]:
        result = parse_note(f"## F\n\n### Q: What?\n\n{line}\n", "n.md")
        assert result.problems == [] and "$" not in result.cards[0].answer_text, line
    assert parse_note("## F\n\n### Q: What?\n\n$5 and $10 are prices.\n", "n.md").cards[0].answer_text == "$5 and $10 are prices."
