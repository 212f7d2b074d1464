"""The web app's event handlers and renderers as plain functions, on the real shipped knowledge base."""
from __future__ import annotations

import re

import pytest

from kb.ui import browse_tab, card_view, chat_tab, render, search_tab
from kb.ui.nav import Nav, card_url, parse_request

PPO = "how-does-ppo-work-why-the-clip"


# ---- browse ------------------------------------------------------------------------------------------
def test_family_choices_list_every_family_with_its_count(shipped_kb):
    choices = browse_tab.family_choices(shipped_kb)
    assert len(choices) == 14
    for label, family in choices:
        assert label == f"{family} ({len(shipped_kb.family_cards(family))})"
    assert sum(int(re.search(r"\((\d+)\)$", label).group(1)) for label, _ in choices) == len(shipped_kb.cards())


def test_question_choices_are_the_family_cards(shipped_kb):
    choices = browse_tab.question_choices(shipped_kb, "RL Policy Losses")
    assert [cid for _, cid in choices] == [c.id for c in shipped_kb.family_cards("RL Policy Losses")]
    assert ("How does PPO work? Why the clip?", PPO) in choices
    assert browse_tab.question_choices(shipped_kb, None) == []
    assert browse_tab.question_choices(shipped_kb, "No Such Family") == []


def test_step_moves_within_the_family_and_stops_at_the_ends(shipped_kb):
    ids = [c.id for c in shipped_kb.family_cards("Regression")]
    assert browse_tab.step(shipped_kb, ids[0], +1) == ids[1]
    assert browse_tab.step(shipped_kb, ids[1], -1) == ids[0]
    assert browse_tab.step(shipped_kb, ids[0], -1) == ids[0]
    assert browse_tab.step(shipped_kb, ids[-1], +1) == ids[-1]
    assert browse_tab.step(shipped_kb, "no-such-card", +1) == "no-such-card"


def test_card_parts_show_question_family_source_answer_and_see_also(shipped_kb):
    card = shipped_kb.card(PPO)
    parts = card_view.card_parts(shipped_kb, PPO)
    assert parts.found and parts.family == "RL Policy Losses"
    assert card.question in parts.header_md and "RL Policy Losses" in parts.header_md
    assert f"{card.note}, line {card.line_start}" in parts.header_md
    assert parts.answer_md == card.answer_md  # no prices in it: the formulas are untouched
    links = shipped_kb.related(PPO, k=card_view.SEE_ALSO_K)
    assert links
    for link in links:
        assert f'data-kb-card="{link.id}"' in parts.see_also_html
        assert f'href="?card={link.id}"' in parts.see_also_html
        assert render.escape_text(link.reason) in parts.see_also_html
    position, total = parts.position.split(" in ")[0].split(" / ")
    assert int(total) == len(shipped_kb.family_cards("RL Policy Losses"))


@pytest.mark.parametrize("bad", ["no-such-card", "../../etc/passwd", "", "<img src=x onerror=alert(1)>"])
def test_unknown_card_is_a_clear_message_not_an_error(shipped_kb, bad):
    parts = card_view.card_parts(shipped_kb, bad)
    assert not parts.found and parts.answer_md == ""
    assert "<img" not in parts.header_md
    if bad:
        assert "No card with id" in parts.header_md


def test_deep_link_reads_only_the_card_parameter():
    assert browse_tab.deep_link_card({"card": " what-is-focal-loss "}) == "what-is-focal-loss"
    assert browse_tab.deep_link_card({"other": "x"}) is None
    assert browse_tab.deep_link_card(None) is None
    assert len(browse_tab.deep_link_card({"card": "x" * 5000})) == 300


# ---- search ------------------------------------------------------------------------------------------
def test_sloppy_query_finds_the_card_with_highlighted_words(shipped_kb):
    html = search_tab.search_results_html(shipped_kb, "ppo clp ratio polcy")
    first = html.split('<li class="kb-hit">')[1]
    assert f'data-kb-card="{PPO}"' in first
    assert "RL Policy Losses" in first
    assert re.search(r"<mark>[Rr]atio</mark>", first)
    assert re.search(r"<mark>[Pp]olicy</mark>", first)  # the typo "polcy" is highlighted as search read it


def test_family_filter_keeps_only_that_family(shipped_kb):
    html = search_tab.search_results_html(shipped_kb, "loss", family="Regularization")
    badges = re.findall(r'<span class="kb-family-badge">([^<]+)</span>', html)
    assert badges and set(badges) == {"Regularization"}
    everything = search_tab.search_results_html(shipped_kb, "loss", family=search_tab.ALL_FAMILIES)
    assert len(set(re.findall(r'<span class="kb-family-badge">([^<]+)</span>', everything))) > 1


def test_search_results_escape_the_query_and_report_bad_input(shipped_kb):
    html = search_tab.search_results_html(shipped_kb, "<script>alert(1)</script> zzzqqq")
    assert "<script>" not in html
    assert "Type a question" in search_tab.search_results_html(shipped_kb, "   ")
    bad_family = search_tab.search_results_html(shipped_kb, "loss", family="Cooking")
    assert 'class="kb-error"' in bad_family and "unknown family" in bad_family


def test_search_works_from_keywords_while_the_model_loads(make_kb, encoder):
    import threading

    from kb import KnowledgeBase

    built = make_kb({"n.md": "## Fam\n\n### Q: What is the zebra loss?\nIt penalises stripes.\n"})
    release = threading.Event()

    def slow_model():  # a model that is still loading until the test releases it
        release.wait(30)
        return encoder

    kb = KnowledgeBase.load(config=built.config, encoder_factory=slow_model, background_model=True)
    try:
        assert not kb.model_ready
        html = search_tab.search_results_html(kb, "zebra")
        assert "What is the zebra loss?" in html and "still loading" in html
    finally:
        release.set()
    kb.encoder  # noqa: B018 - waits for the loader
    assert "still loading" not in search_tab.search_results_html(kb, "zebra")


# ---- rendering ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "source, expected",
    [
        ("costs $5 and $10, while $x^2$ is math", "costs {D}5 and {D}10, while $x^2$ is math"),
        ("a $x$ and $5", "a $x$ and {D}5"),
        ("$1 + x$ stays", "$1 + x$ stays"),
        ("$2^n$ and $$y$$", "$2^n$ and $$y$$"),
        ("`echo $5 and` costs $5 ok", "`echo $5 and` costs {D}5 ok"),
        ("\\$5 each", "{D}5 each"),
        ("- item $5\n- item $x^2$", "- item {D}5\n- item $x^2$"),
        ("$$\na = $5\n$$", "$$\na = $5\n$$"),
        ("no dollars", "no dollars"),
    ],
)
def test_protect_currency(source, expected):
    assert render.protect_currency(source) == expected.format(D=render.DOLLAR_HTML)


def test_shipped_answers_have_no_false_prices(shipped_kb):
    for card in shipped_kb.cards():
        assert render.protect_currency(card.answer_md) == card.answer_md, card.id


def test_highlight_escapes_and_marks():
    out = render.highlight("Clipping <b>ratio</b> & losses", ["clip", "loss"])
    assert out == "<mark>Clipping</mark> &lt;b&gt;ratio&lt;/b&gt; &amp; <mark>losses</mark>"
    assert render.highlight("<x>", []) == "&lt;x&gt;"


def test_snippet_centres_on_the_first_match():
    text = "filler " * 80 + "the importance ratio is clipped " + "tail " * 80
    out = render.snippet(text, ["ratio"], width=120)
    assert "ratio" in out and out.startswith("… ") and out.endswith(" …") and len(out) < 140


def test_user_markdown_escapes_html():
    assert "<img" not in render.user_markdown('<img src=x onerror="alert(1)"> costs $5')
    assert render.DOLLAR_HTML in render.user_markdown("costs $5 today")


# ---- navigation -------------------------------------------------------------------------------------------
def test_nav_requests_are_unique_and_carry_the_id():
    a, b = Nav.request(PPO), Nav.request(PPO)
    assert a != b
    assert parse_request(a) == parse_request(b) == PPO
    assert parse_request(None) == ""
    assert card_url("a b/../c") == "?card=a%20b%2F..%2Fc"


# ---- chat tab -----------------------------------------------------------------------------------------------
def test_chat_turn_appends_escaped_user_text_and_a_cited_reply(shipped_kb):
    history, cleared, follow_ups, reply = chat_tab.respond(shipped_kb, "why does PPO clip <b>the</b> ratio?", [])
    assert cleared == "" and len(history) == 2
    assert history[0] == {"role": "user", "content": "why does PPO clip &lt;b&gt;the&lt;/b&gt; ratio?"}
    assert history[1]["role"] == "assistant" and f"?card={PPO}" in history[1]["content"]
    assert 2 <= len(follow_ups) <= 3 and reply.citations[0].id == PPO
    again, _, _, _ = chat_tab.respond(shipped_kb, "   ", history)
    assert again == history


def test_build_app_composes_the_tabs(shipped_kb):
    import gradio as gr

    from kb.ui.app import TABS, build_app

    demo = build_app(shipped_kb)
    assert isinstance(demo, gr.Blocks)
    tab_ids = [block.id for block in demo.blocks.values() if isinstance(block, gr.Tab)]
    assert tab_ids[:3] == ["search", "browse", "chat"]
    assert tab_ids[3:] == [tab_id for _, tab_id, _ in TABS]
    nav = demo.kb_nav
    assert nav.open_card_outputs[0] is nav.tabs
    updates = nav.show_card(PPO)
    assert len(updates) == len(nav.open_card_outputs)


def test_kb_serve_is_a_command():
    from click.testing import CliRunner

    from kb.cli import main

    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output and "7860" in result.output


def test_a_taken_port_is_a_clear_error(shipped_kb):
    import socket

    from kb.errors import KbError
    from kb.ui.app import serve

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(KbError, match=f"cannot serve on 127.0.0.1:{port}"):
            serve(shipped_kb, port=port, prevent_thread_lock=True)


def test_wiki_links_in_an_answer_open_their_cards(make_kb):
    kb = make_kb({"n.md": "## Fam\n\n### Q: What is alpha?\nAlpha is the start; see [[#Q: What is beta?|beta]].\n\n"
                          "### Q: What is beta?\nBeta follows alpha; [[#Nowhere]] is broken.\n"})
    alpha, beta = kb.cards()
    assert f"[beta](?card={beta.id})" in card_view.card_parts(kb, alpha.id).answer_md
    assert "*Nowhere*" in card_view.card_parts(kb, beta.id).answer_md  # broken: plain text, no link


def test_markdown_keeps_a_nested_list_through_gradios_dedent():
    import inspect

    from kb.ui.render import keep_indentation, note_markdown

    nested = "- a\n    - b"
    assert inspect.cleandoc(nested) == "- a\n- b"  # what gr.Markdown would show without the guard
    guarded = note_markdown(nested)
    assert inspect.cleandoc(guarded).startswith("- a\n    - b")
    assert keep_indentation("- a\n- b") == "- a\n- b"  # nothing to guard: left as it is
