"""Wiki-links: Obsidian-style resolution to cards, broken-link reports, and the markdown-it inline rule."""
from __future__ import annotations

from kb.notes.corpus import parse_note
from kb.notes.wikilinks import LinkResolver, broken_links, markdown_renderer, normalize_heading

MAIN = """# Study notes

- [[#Basics]]
- [[#Q: What is X?]]
- [[#Q: What is W?]]

```
[[#an example in code, not a link]]
```

## Basics

### Q: What is X?

X is a thing. See [[#Q: What's Y?]], [[#basics]], [[other#Q What is Z]], [[Other]],
[[#Deep dive]], [[#nope]] and [[missing#Q: What is X?]].

#### Deep dive

More about X.

### Q: What's Y?

Y builds on X: [[#what is x|the X card]].
"""
OTHER = """## Elsewhere

### Q: What is Z?

Z answer, with a link back to [[main#Q: What is X?]].
"""


def cards():
    return parse_note(MAIN, "main.md").cards + parse_note(OTHER, "sub/Other.md").cards


def targets():
    found = {}
    resolver = LinkResolver(cards())
    for card in cards():
        for link in card.links:
            target = resolver.resolve(link, card.note)
            found[link.raw] = (target.kind, target.card_ids) if target else None
    return found


def test_heading_keys_ignore_case_punctuation_and_the_q_prefix():
    assert normalize_heading("Q: What's Y?") == normalize_heading("what’s y") == normalize_heading("Q Whats Y")
    assert normalize_heading("Explain GAE (Generalized Advantage Estimation).") == "explain gae generalized advantage estimation"
    assert normalize_heading("What is X?") != normalize_heading("What is Y?")


def test_links_resolve_to_cards_families_notes_and_sub_headings():
    found = targets()
    assert found["[[#Q: What's Y?]]"] == ("card", ["whats-y"])
    assert found["[[#basics]]"] == ("family", ["what-is-x", "whats-y"])  # a section heading: the family
    assert found["[[other#Q What is Z]]"] == ("card", ["what-is-z"])  # Obsidian drops ':' from heading links
    assert found["[[Other]]"] == ("note", ["what-is-z"])  # a note by file name, any folder, any case
    assert found["[[#Deep dive]]"] == ("card", ["what-is-x"])  # a heading inside an answer: that card
    assert found["[[#what is x|the X card]]"] == ("card", ["what-is-x"])
    assert found["[[main#Q: What is X?]]"] == ("card", ["what-is-x"])


def test_broken_links_are_reported_with_file_line_and_cause():
    problems = broken_links(cards())
    described = sorted(str(p) for p in problems)
    assert len(problems) == 2, described
    assert all(p.file == "main.md" and p.line == 16 for p in problems)
    assert any("[[#nope]]" in d and "no question, section or heading 'nope'" in d for d in described)
    assert any("[[missing#Q: What is X?]]" in d and "no note named 'missing'" in d for d in described)


def test_inline_rule_renders_clickable_card_links_and_marks_broken_ones():
    all_cards = cards()
    md = markdown_renderer(LinkResolver(all_cards))
    html = md.render(all_cards[0].answer_md, {"note": "main.md"})
    assert '<a class="kb-wikilink" href="?card=whats-y" data-kb-card="whats-y">What&#x27;s Y?</a>' in html
    assert 'data-kb-card="what-is-z">Other</a>' in html
    assert 'kb-wikilink-broken' in html and ">nope</span>" in html
    assert html.count("[[") == html.count('title="broken link: [[')  # no raw [[...]] left in the text
    alias = md.render(all_cards[1].answer_md, {"note": "main.md"})
    assert 'data-kb-card="what-is-x">the X card</a>' in alias


def test_inline_rule_leaves_math_code_and_plain_brackets_alone():
    md = markdown_renderer(LinkResolver(cards()))
    html = md.render("Keep $a[[0]]$ and `[[#x]]` and [not a link] and [[unclosed.", {"note": "main.md"})
    assert "kb-wikilink" not in html
    assert "[not a link]" in html and "[[unclosed." in html


def test_kb_build_reports_broken_links_with_file_and_line(tmp_path):
    from click.testing import CliRunner

    from kb.cli import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "main.md").write_text(MAIN, encoding="utf-8")
    (corpus / "sub").mkdir()
    (corpus / "sub" / "Other.md").write_text(OTHER, encoding="utf-8")
    result = CliRunner().invoke(main, ["build", "--corpus", str(corpus), "--index", str(tmp_path / "index")])
    assert result.exit_code == 0, result.output
    assert "main.md:16: broken wiki-link [[#nope]]" in result.output
    assert "main.md:16: broken wiki-link [[missing#Q: What is X?]]: no note named 'missing'" in result.output
    assert "main.md:5: broken wiki-link [[#Q: What is W?]]" in result.output  # in the table of contents, outside any card
    assert "[[#basics]]" not in result.output and "example in code" not in result.output
    assert result.output.count("broken wiki-link") == 3


def test_every_link_in_the_shipped_note_resolves():
    from kb.notes.corpus import load_corpus
    from kb.notes.wikilinks import broken_links_in_notes
    from tests.support import SHIPPED_CORPUS

    # 58 table-of-contents links: sections, "Q:" headings with apostrophes, dashes, TD(λ)...
    text = (SHIPPED_CORPUS / "losses-in-deep-learning.md").read_text(encoding="utf-8")
    assert text.count("[[#") >= 50
    assert broken_links_in_notes(SHIPPED_CORPUS, load_corpus(SHIPPED_CORPUS).cards) == []


def test_markdown_pipeline_turns_links_into_card_urls_and_leaves_code_alone():
    from kb.notes.wikilinks import wikilinks_to_markdown

    resolver = LinkResolver(cards())
    text = "See [[#Q: What's Y?]], [[#nope]], `[[#Q: What's Y?]]` and $[[x]]$."
    out = wikilinks_to_markdown(text, "main.md", resolver, href=lambda card_id: f"?card={card_id}")
    assert out == "See [What's Y?](?card=whats-y), *nope*, `[[#Q: What's Y?]]` and $[[x]]$."


def test_nested_headings_and_block_references():
    from kb.notes.cards import WikiLink

    note = "## Basics\n\n### Q: What is X?\n\nX is a thing. ^x-def\n\n#### Deep dive\n\nMore.\n"
    resolver = LinkResolver(parse_note(note, "n.md").cards)
    assert resolver.card_for(WikiLink("n", "Basics#Q: What is X?#Deep dive", "", 1), "n.md") == "what-is-x"
    assert resolver.card_for(WikiLink("", "^x-def", "", 1), "n.md") == "what-is-x"
    assert resolver.resolve(WikiLink("", "^missing", "", 1), "n.md") is None


def test_odd_input_never_breaks_parsing_or_rendering():
    from hypothesis import given, settings, strategies as st

    from kb.notes.concepts import build_glossary
    from kb.notes.wikilinks import wikilinks_to_markdown

    resolver = LinkResolver(cards())
    md = markdown_renderer(resolver)
    pieces = st.sampled_from(["[[", "]]", "#", "|", "^", "Q:", "`", "$", "\n", " ", "What is X?", "(GAE)", "**B**:", "é", "\\"])

    @settings(max_examples=150, deadline=None)
    @given(st.lists(pieces | st.text(max_size=5), max_size=30).map("".join))
    def check(text):
        md.render(text, {"note": "main.md"})
        wikilinks_to_markdown(text, "main.md", resolver, href=lambda card_id: f"?card={card_id}")
        note = parse_note(f"## F\n\n### Q: {text or 'x'}?\n\n{text} answer\n\n### Q: Other?\n\n{text}\n", "f.md")
        build_glossary(note.cards)
        broken_links(note.cards)

    check()
