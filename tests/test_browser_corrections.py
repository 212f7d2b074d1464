"""Correcting a grade in the real app: a key point marked "I said this" in the Interview tab is stored,
and the next answer to that card, in words close to it, gets credit for that point."""
from __future__ import annotations

import pytest

from kb.coach.progress import ProgressStore
from tests.support import load_kb, open_page, serve_app, start_interview_in_page, write_notes

pytestmark = pytest.mark.browser

NOTE = """# Notes

## Boosting

### Q: How does gradient boosting build its model?

Each new tree is fitted to the negative gradient of the loss, the residual errors of the current ensemble.

A small learning rate shrinks every tree's contribution, which trades more trees for less overfitting.
"""
SHRINK = "A small learning rate shrinks every tree's contribution, which trades more trees for less overfitting."
ANSWER = "Trees are added one at a time to fix the residuals, and each is scaled down by a factor eta before it joins."
LATER = "Trees get added one at a time to fix the residuals, and each one is scaled down by a factor eta before it joins."


@pytest.fixture()
def corrections_app(tmp_path, encoder):
    corpus = write_notes(tmp_path / "corpus", {"boosting.md": NOTE})
    kb = load_kb(corpus, encoder)
    store = ProgressStore(tmp_path / "progress.sqlite3")
    server = serve_app(kb, progress_store=store)
    yield server.url, kb, store
    server.close()
    store.close()


def answer_in_page(page, text: str) -> str:
    chat = page.locator("#kb-interview-chat")
    chat.get_by_text("Q1.").wait_for()
    page.get_by_label("Your answer", exact=True).fill(text)  # exact: a reply may quote "your answer"
    page.get_by_role("button", name="Send", exact=True).click()
    chat.get_by_text("Model answer").wait_for()
    return chat.locator(".message").filter(has_text="Model answer").last.inner_text()


def test_a_point_marked_said_is_stored_and_credited_next_time(browser, corrections_app):
    url, kb, store = corrections_app
    card = kb.cards()[0]
    assert SHRINK in kb.grade(card.id, ANSWER).missed  # the grader alone does not hear it
    page = open_page(browser, url)
    try:
        start_interview_in_page(page, "cora", "Boosting")
        answer_in_page(page, ANSWER)
        page.locator("#kb-corrections").get_by_text("Correct the grade").click()
        page.locator("#kb-interview-points").get_by_label(SHRINK).check()
        page.get_by_role("button", name="Save these marks").click()
        page.locator("#kb-interview-chat").get_by_text("Score after your corrections").wait_for()
        history = store.card_history("cora", card.id, kb.encoder.model_id)
        assert history.answers[-1].points == {SHRINK: True} and history.answers[-1].label == ""

        start_interview_in_page(page, "cora", "Boosting")
        text = answer_in_page(page, LATER)
        covered = text.split("Covered:")[1].split("Model answer")[0] if "Covered:" in text else ""
        assert "small learning rate shrinks" in covered, text
        assert "Close to your answer of" in text
    finally:
        page.close()
