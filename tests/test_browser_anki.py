"""An imported Anki deck's MathJax typesets in the real app: KaTeX renders every formula, none errs."""
from __future__ import annotations

import pytest

from kb import import_anki
from tests.support import load_kb, open_page, serve_app

pytestmark = pytest.mark.browser

FORMULAS = {  # front -> back, as Anki users write them (MathJax delimiters, HTML)
    "What is the softmax?": "It turns logits into probabilities: \\(p_i = e^{z_i} / \\sum_j e^{z_j}\\).",
    "What does cross-entropy measure?": "The expected code length under the model:<br>\\[H(p, q) = -\\sum_x p(x) \\log q(x)\\]",
    "What is the KL divergence between two Gaussians?":
        "\\(\\mathrm{KL} = \\log\\frac{\\sigma_2}{\\sigma_1} + \\frac{\\sigma_1^2 + (\\mu_1-\\mu_2)^2}{2\\sigma_2^2} - \\frac12\\)",
}


@pytest.fixture(scope="module")
def imported_math_app(tmp_path_factory, encoder):
    import genanki

    folder = tmp_path_factory.mktemp("anki-math")
    deck = genanki.Deck(2059400110, "Maths")
    for front, back in FORMULAS.items():
        deck.add_note(genanki.Note(model=genanki.BASIC_MODEL, fields=[front, back]))
    deck.add_note(genanki.Note(model=genanki.CLOZE_MODEL, fields=["The derivative of \\(x^2\\) is {{c1::\\(2x\\)}}.", ""]))
    package = folder / "maths.apkg"
    genanki.Package(deck).write_to_file(str(package))
    corpus = folder / "corpus"
    import_anki(package, corpus)
    kb = load_kb(corpus, encoder)
    server = serve_app(kb)
    yield kb, server.url
    server.close()


def test_imported_math_typesets_without_katex_errors(browser, imported_math_app):
    from playwright.sync_api import expect

    kb, url = imported_math_app
    cards = kb.cards()
    assert len(cards) == len(FORMULAS) + 1, [c.question for c in cards]
    page = open_page(browser, url)
    for card in cards:
        page.goto(f"{url}/?card={card.id}")
        answer = page.locator("#kb-card-answer")
        expect(page.locator("#kb-card-header")).to_contain_text(card.question.split("$")[0].strip()[:20])
        expect(answer.locator(".katex").first).to_be_visible()
        assert page.locator(".katex-error").count() == 0, f"KaTeX could not typeset {card.id}: {card.answer_md!r}"
        assert "\\(" not in answer.inner_text() and "\\[" not in answer.inner_text(), card.answer_md
    page.close()
