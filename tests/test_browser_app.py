"""The real web app in a real headless Chromium: search, browse, KaTeX, deep links, see-also, chat, safety.

One app server and one browser for the whole session (2 cores); the corpus is the shipped note plus
a hostile note (script/img/handler payloads, and prices written with `$`).
Set KB_SAVE_SCREENSHOTS=1 to refresh docs/screenshots/ from this run.
"""
from __future__ import annotations

import re

import pytest

from tests.support import ROOT, SCREENSHOTS, ask_in_chat, copy_shipped_corpus, kb_env, load_kb, open_page, serve_app, shot, write_notes

pytestmark = pytest.mark.browser

HOSTILE_NOTE = """# Hostile note

## Hostile Payloads

### Q: What does the injected script payload do?
<script>window.__pwned = "note-script";</script>

Some text <img src=x onerror="window.__pwned='note-img'"> after an image.

<a href="javascript:window.__pwned='note-link'">click me</a> and <b onmouseover="window.__pwned='note-hover'">hover me</b>.

<iframe src="javascript:parent.__pwned='note-iframe'"></iframe>

### Q: How much does a GPU hour cost for loss experiments?
A GPU hour costs $5 and a TPU hour costs $10, while the loss is $\\mathcal{L} = x^2$ per sample.

$$
\\sum_i \\ell_i
$$
"""
PAYLOAD_CARD = "what-does-the-injected-script-payload-do"
PRICE_CARD = "how-much-does-a-gpu-hour-cost-for-loss-experiments"
PPO = "how-does-ppo-work-why-the-clip"


@pytest.fixture(scope="session")
def app_kb(tmp_path_factory, encoder):
    """The shipped notes plus HOSTILE_NOTE, indexed with the real model."""
    corpus = copy_shipped_corpus(tmp_path_factory.mktemp("webapp"))
    write_notes(corpus, {"zz-hostile.md": HOSTILE_NOTE})
    return load_kb(corpus, encoder)


@pytest.fixture(scope="session")
def hostile_app_url(app_kb):
    """The real app over app_kb (shipped notes + hostile note) on a free port, for the session."""
    server = serve_app(app_kb)
    yield server.url
    server.close()


@pytest.fixture()
def page(browser, hostile_app_url):
    p = open_page(browser, hostile_app_url)
    yield p
    p.close()


def selected_tab(page) -> str:
    return page.get_by_role("tab", selected=True).inner_text().strip()


def open_card(page, card_id: str, question: str) -> None:
    from playwright.sync_api import expect

    page.evaluate("id => window.kbOpenCard(id)", card_id)
    expect(page.locator("#kb-card-header")).to_contain_text(question)
    expect(page.locator("#kb-current-card textarea")).to_have_value(card_id)


def typeset_text(page, selector: str) -> str:
    """The text of an element with every KaTeX rendering removed: what is left is prose."""
    return page.evaluate(
        """sel => { const node = document.querySelector(sel).cloneNode(true);
                    node.querySelectorAll('.katex, .katex-display').forEach(k => k.remove());
                    return node.textContent; }""",
        selector,
    )


def math_spans(markdown: str) -> int:
    """Formulas in a card, counted by the note's own parser (markdown-it + dollarmath)."""
    from kb.notes.markdown import parser

    count = 0
    for token in parser().parse(markdown):
        if token.type == "math_block":
            count += 1
        for child in token.children or []:
            count += child.type in ("math_inline", "math_inline_double")
    return count


def test_sloppy_search_finds_the_card_and_opens_it(page, app_kb, tmp_path):
    from playwright.sync_api import expect

    box = page.get_by_label("Search", exact=True)
    box.press_sequentially("ppo clp ratio polcy", delay=40)  # typos; results come while typing
    first = page.locator("#kb-search-results .kb-hit").first
    expect(first.locator(".kb-hit-question")).to_contain_text(app_kb.card(PPO).question)
    expect(first.locator(".kb-family-badge")).to_have_text("RL Policy Losses")
    assert first.locator(".kb-hit-snippet mark").count() >= 1  # matched words highlighted
    shot(page, "search", tmp_path)
    first.locator("a").click()
    expect(page.locator("#kb-card-header")).to_contain_text(app_kb.card(PPO).question)
    assert selected_tab(page) == "Browse"


def test_family_filter_limits_results(page):
    from playwright.sync_api import expect

    page.get_by_label("Family").click()
    page.get_by_role("option", name="Regularization").click()
    box = page.get_by_label("Search", exact=True)
    box.fill("loss")
    box.press("Enter")
    hits = page.locator("#kb-search-results .kb-hit")
    expect(hits.first).to_be_visible()
    families = {t.strip() for t in hits.locator(".kb-family-badge").all_inner_texts()}
    assert families == {"Regularization"}


def test_every_family_listed_with_its_count(page, app_kb):
    page.get_by_role("tab", name="Browse").click()
    radios = page.locator("#kb-families").get_by_role("radio")
    labels = [radios.nth(i).evaluate("e => e.closest('label').innerText").strip() for i in range(radios.count())]
    shipped = [f for f, _ in app_kb.families() if f != "Hostile Payloads"]
    assert len(shipped) == 14
    for family in shipped:
        assert f"{family} ({len(app_kb.family_cards(family))})" in labels


def test_family_lists_its_questions_and_prev_next_walk_it(page, app_kb):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Browse").click()
    page.locator("#kb-families").get_by_text("RL Policy Losses (5)").click()
    cards = app_kb.family_cards("RL Policy Losses")
    questions = page.locator("#kb-questions").get_by_role("radio")
    expect(questions).to_have_count(len(cards))
    page.locator("#kb-questions").get_by_text(cards[0].question, exact=True).click()
    expect(page.locator("#kb-card-header")).to_contain_text(cards[0].question)
    expect(page.locator("#kb-prev")).to_be_disabled()
    for card in cards[1:]:
        page.locator("#kb-next").click()
        expect(page.locator("#kb-card-header")).to_contain_text(card.question)
    expect(page.locator("#kb-next")).to_be_disabled()
    page.locator("#kb-prev").click()
    expect(page.locator("#kb-card-header")).to_contain_text(cards[-2].question)
    expect(page).to_have_url(re.compile(rf"\?card={re.escape(cards[-2].id)}$"))  # shareable address


def test_every_shipped_formula_typesets(page, app_kb, tmp_path):
    """Each shipped card with math: as many KaTeX renderings as formulas, no error, no `$` left."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Browse").click()
    checked = 0
    for card in app_kb.cards():
        expected = math_spans(card.answer_md)
        if card.note == "zz-hostile.md" or expected == 0:
            continue
        open_card(page, card.id, card.question)
        answer = page.locator("#kb-card-answer")
        expect(answer.locator(".katex")).to_have_count(expected)
        assert answer.locator(".katex-error").count() == 0, card.id
        assert "$" not in typeset_text(page, "#kb-card-answer"), card.id
        checked += 1
        if card.id == PPO:
            assert answer.locator(".katex-display").count() >= 1  # the display formula
            shot(page, "card-with-formulas", tmp_path)
    assert checked >= 20


def test_prices_stay_text_and_formulas_still_typeset(page, app_kb):
    from playwright.sync_api import expect

    open_card(page, PRICE_CARD, app_kb.card(PRICE_CARD).question)
    answer = page.locator("#kb-card-answer")
    expect(answer.locator(".katex")).to_have_count(2)  # the inline loss and the display sum
    assert answer.locator(".katex-error").count() == 0
    prose = typeset_text(page, "#kb-card-answer")
    assert "costs $5 and a TPU hour costs $10," in " ".join(prose.split())


def test_deep_link_opens_its_card(browser, hostile_app_url, app_kb):
    from playwright.sync_api import expect

    card = app_kb.card("what-is-focal-loss")
    p = open_page(browser, f"{hostile_app_url}/?card={card.id}")
    try:
        expect(p.locator("#kb-card-header")).to_contain_text(card.question)
        assert selected_tab(p) == "Browse"
        expect(p.locator("#kb-card-answer .katex").first).to_be_visible()
    finally:
        p.close()


@pytest.mark.parametrize("bad_id", ["no-such-card", "../../etc/passwd"])
def test_unknown_deep_link_shows_a_clear_message(browser, hostile_app_url, bad_id):
    from playwright.sync_api import expect

    p = open_page(browser, f"{hostile_app_url}/?card={bad_id}")
    try:
        expect(p.locator("#kb-card-header")).to_contain_text("No card with id")
        expect(p.locator("#kb-card-header")).to_contain_text(bad_id)
        assert "root:" not in p.content()
    finally:
        p.close()


def test_see_also_link_opens_the_linked_card(page, app_kb):
    from playwright.sync_api import expect

    open_card(page, PPO, app_kb.card(PPO).question)
    links = page.locator("#kb-see-also a.kb-see-also-link")
    expect(links.first).to_be_visible()
    target_id = links.first.get_attribute("data-kb-card")
    reasons = page.locator("#kb-see-also .kb-reason").all_inner_texts()
    assert reasons and all(r.strip() for r in reasons)  # each link shows why it is there
    links.first.click()
    expect(page.locator("#kb-current-card textarea")).to_have_value(target_id)
    expect(page.locator("#kb-card-header")).to_contain_text(app_kb.card(target_id).question)


def test_chat_answers_with_citation_follows_up_and_abstains(page, app_kb, tmp_path):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Chat").click()
    reply = ask_in_chat(page, "how does PPO work?", 0)
    expect(reply).to_contain_text("Sources:")
    citation = reply.locator(f'a[href*="card={PPO}"]')
    expect(citation.first).to_be_visible()
    assert reply.locator(".katex").count() >= 1 and reply.locator(".katex-error").count() == 0
    suggestions = page.locator("#kb-follow-ups button.kb-follow-up:visible")
    assert 2 <= suggestions.count() <= 3

    reply = ask_in_chat(page, "how is that different from TRPO?", 1)
    expect(reply).to_contain_text("PPO vs TRPO vs SAC")
    shot(page, "chat", tmp_path)

    reply = ask_in_chat(page, "best pizza in Rome", 2)
    expect(reply).to_contain_text("I don't know")
    assert reply.locator("a[href*='card=']").count() == 0

    # A suggested follow-up is a button that asks its question.
    label = suggestions.first.inner_text()
    suggestions.first.click()
    expect(page.locator("#kb-chatbot .user").nth(3)).to_contain_text(label)

    # A citation opens its card in the Browse tab.
    page.locator(f'#kb-chatbot a[href*="card={PPO}"]').first.click()
    expect(page.locator("#kb-card-header")).to_contain_text(app_kb.card(PPO).question)
    assert selected_tab(page) == "Browse"


def test_payloads_in_a_note_do_not_run(page, app_kb):
    from playwright.sync_api import expect

    open_card(page, PAYLOAD_CARD, app_kb.card(PAYLOAD_CARD).question)
    answer = page.locator("#kb-card-answer")
    expect(answer).to_contain_text("after an image")
    page.get_by_text("hover me").hover()
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert answer.locator("script, iframe, [onerror], [onmouseover]").count() == 0
    assert answer.locator("a[href^='javascript']").count() == 0


def test_payloads_in_search_and_chat_do_not_run(page):
    from playwright.sync_api import expect

    payloads = ["<img src=x onerror=\"window.__pwned='chat-img'\">", "<script>window.__pwned='chat-script'</script>"]
    box = page.get_by_label("Search", exact=True)
    box.fill(payloads[0] + " injected script payload")
    box.press("Enter")
    expect(page.locator("#kb-search-results")).to_contain_text("injected script payload")
    page.get_by_role("tab", name="Chat").click()
    for i, payload in enumerate(payloads):
        ask_in_chat(page, payload, i)
        expect(page.locator("#kb-chatbot .user").nth(i)).to_contain_text(payload[:12])  # shown as text
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    # Tags may survive as inert markup (the sanitizer strips handlers); nothing with a handler or a script.
    assert page.locator("#kb-chatbot script, #kb-chatbot [onerror], #kb-chatbot [onmouseover]").count() == 0


def test_screenshots_are_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("search", "card-with-formulas", "chat"):
        assert re.search(rf"docs/screenshots/{name}\.png", readme), name
        assert (SCREENSHOTS / f"{name}.png").is_file(), name


def test_python_app_py_builds_a_missing_index_and_serves(tmp_path):
    """The real entry point in its own process: no index yet -> built, then the page is served."""
    import subprocess
    import sys
    import urllib.request

    from tests.support import free_port, wait_http

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.md").write_text("## Basics\n\n### Q: What is a zebra loss?\nA loss that penalises stripes.\n", encoding="utf-8")
    index = tmp_path / "index"
    port = free_port()
    env = kb_env(GRADIO_ANALYTICS_ENABLED="False")
    command = [sys.executable, "app.py", "--corpus", str(corpus), "--index", str(index), "--port", str(port)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/", timeout=180)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
            page = response.read().decode("utf-8")
        assert "kbOpenCard" in page  # the navigation script is in the page head
        assert (index / "manifest.json").exists() or any(index.iterdir())
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "1 cards in 1 families" in err and "Traceback" not in err


def test_missing_chromium_fails_with_a_clear_message(monkeypatch, tmp_path):
    import tests.support as browser_helpers

    monkeypatch.setattr(browser_helpers, "CHROMIUM", str(tmp_path / "no-chromium"))
    with pytest.raises(pytest.fail.Exception, match="Chromium is missing at .*no-chromium"):
        browser_helpers.require_chromium()


def test_a_tab_opens_a_card_from_python_through_nav(browser, app_kb):
    """The contract other tabs use: a handler returns nav.request(id) into nav.open_card_box."""
    from playwright.sync_api import expect

    target = app_kb.card("what-is-focal-loss")

    def build_probe(kb, nav, **_services):
        import gradio as gr

        button = gr.Button("Open focal loss", elem_id="probe-open")
        button.click(lambda: nav.request(target.id), outputs=nav.open_card_box)
        again = gr.Button("Open it directly", elem_id="probe-direct")
        again.click(lambda: nav.show_card(target.id), outputs=nav.open_card_outputs)

    server = serve_app(app_kb, extra_tabs=[("probe", "Probe", build_probe)])
    p = open_page(browser, server.url)
    try:
        for button in ("#probe-open", "#probe-open", "#probe-direct"):  # the same card twice still opens it
            p.get_by_role("tab", name="Probe").click()
            p.locator(button).click()
            expect(p.get_by_role("tab", name="Browse")).to_have_attribute("aria-selected", "true")
            expect(p.locator("#kb-card-header")).to_contain_text(target.question)
    finally:
        p.close()
        server.close()
