"""One full interview in the real app in headless Chromium: asked, answered, graded, typeset, rated, saved.

Two pages with two profiles check that each browser session has its own InterviewSession.
"""
from __future__ import annotations

import pytest

from tests.support import DIFFUSION, open_page, shot, start_interview_in_page

pytestmark = pytest.mark.browser


def test_a_full_interview_in_the_browser(browser, progress_app_url, progress_store, tmp_path):
    page = open_page(browser, progress_app_url)
    other = open_page(browser, progress_app_url)
    try:
        start_interview_in_page(page, "ana", DIFFUSION)
        chat = page.locator("#kb-interview-chat")
        chat.get_by_text("Q1.").wait_for()
        asked = chat.inner_text()
        assert "What loss does a diffusion model optimize?" in asked or "What's flow matching" in asked

        # a second browser session with another profile has its own interview
        start_interview_in_page(other, "ben", DIFFUSION)
        other.locator("#kb-interview-chat").get_by_text("Q1.").wait_for()

        page.get_by_label("Your answer").fill(
            "A network learns to predict the noise that was mixed into a clean sample at a random step, trained with a squared "
            "error; that is denoising score matching, and flows regress a straight-line velocity from noise to data."
        )
        page.get_by_role("button", name="Send", exact=True).click()
        chat.get_by_text("Model answer").wait_for()
        grade = chat.locator(".message").filter(has_text="Model answer").last
        text = grade.inner_text()
        assert "Score:" in text and "Suggested rating" in text
        assert "Covered" in text or "Missed" in text
        # the model answer's display formula is typeset by KaTeX, not left as $$ source
        grade.locator(".katex-display").first.wait_for()
        assert "$$" not in text
        assert "How does that connect to" in chat.inner_text()
        shot(page, "interview", tmp_path, full_page=True)

        page.get_by_role("button", name="Easy", exact=True).click()
        chat.get_by_text("Rating set to").wait_for()
        page.get_by_role("button", name="End", exact=True).click()
        chat.get_by_text("Interview summary").wait_for()

        reviews = progress_store.reviews("ana")
        assert len(reviews) == 1 and reviews[0].rating == "easy" and reviews[0].card_id.startswith(("what-loss-does-a-diffusion", "whats-flow-matching"))
        assert progress_store.reviews("ben") == []
        assert "Interview summary" not in other.locator("#kb-interview-chat").inner_text()

        page.get_by_role("tab", name="Progress").click()
        page.locator("#kb-progress-profile textarea, #kb-progress-profile input").first.fill("ana")
        page.get_by_role("button", name="Refresh").click()
        page.locator("#kb-progress-due").get_by_text("1 reviewed").wait_for()
        page.locator("#kb-progress-mastery").get_by_text("Mastery per family").wait_for()
        shot(page, "progress", tmp_path, full_page=True)
    finally:
        page.close()
        other.close()
