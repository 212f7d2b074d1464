"""Flashcard notes in the real web app: Obsidian Spaced Repetition and Logseq cards in Browse, typeset,
in their deck families, and a note's warnings on its cards and in the list of notes with problems."""
from __future__ import annotations

import pytest

from tests.support import load_kb, open_page, serve_app, write_notes

pytestmark = pytest.mark.browser

OBSIDIAN = """# Optimisers

#flashcards/ml/optimisers

What is the Adam update::$\\theta_t = \\theta_{t-1} - \\alpha \\frac{\\hat m_t}{\\sqrt{\\hat v_t} + \\epsilon}$

Which two moments does Adam keep
?
$$m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t$$ $$v_t = \\beta_2 v_{t-1} + (1-\\beta_2) g_t^2$$

The bias correction divides by ==$1-\\beta_1^t$== so early steps are not too small.
"""

LOGSEQ = """title:: ml/losses

- ## Regression
\t- What is the Huber loss? #card
\t\t- Quadratic near zero: $\\frac{1}{2}a^2$
\t\t\t- linear beyond $\\delta$
- A card with no answer #card
"""


@pytest.fixture(scope="module")
def flashcard_url(tmp_path_factory, encoder):
    corpus = tmp_path_factory.mktemp("flashcards") / "corpus"
    write_notes(corpus, {"optimisers.md": OBSIDIAN, "graph/pages/ml___losses.md": LOGSEQ, "graph/logseq/config.edn": "{}\n"})
    kb = load_kb(corpus, encoder)
    server = serve_app(kb)
    yield server.url, kb
    server.close()


def test_flashcards_are_browsed_typeset_in_their_decks(browser, flashcard_url):
    from playwright.sync_api import expect

    url, kb = flashcard_url
    families = dict(kb.families())
    assert families == {"ml / optimisers": 3, "Regression": 1}
    page = open_page(browser, url)
    try:
        page.get_by_role("tab", name="Browse").click()
        page.get_by_role("radio", name="ml / optimisers (3)").check()
        page.get_by_role("radio", name="Which two moments does Adam keep").check()
        answer = page.locator("#kb-card-answer")
        expect(answer.locator(".katex")).to_have_count(2)  # $$m_t$$ $$v_t$$ on one line: two formulas
        assert "$" not in answer.evaluate("n => { const c = n.cloneNode(true); c.querySelectorAll('.katex').forEach(k => k.remove()); return c.textContent; }")
        cloze = next(c for c in kb.cards() if c.kind == "cloze")
        page.evaluate("id => window.kbOpenCard(id)", cloze.id)
        expect(page.locator("#kb-card-header")).to_contain_text("[...]")
        expect(page.locator("#kb-card-answer strong .katex")).to_have_count(1)  # the deletion, bold and typeset
        huber = next(c for c in kb.cards() if c.question == "What is the Huber loss?")
        page.evaluate("id => window.kbOpenCard(id)", huber.id)
        expect(page.locator("#kb-card-answer li li")).to_have_count(1)  # the nested child block
        expect(page.locator("#kb-card-answer .katex")).to_have_count(2)
        expect(page.locator("#kb-card-header")).to_contain_text("1 warning in graph/pages/ml___losses.md")
        expect(page.locator("#kb-card-header")).to_contain_text("a #card block with no child blocks")
        page.locator("#kb-note-problems").get_by_text("Notes with problems (1)").click()
        expect(page.locator("#kb-note-problems-list")).to_contain_text("line 7: a #card block with no child blocks")
    finally:
        page.close()
