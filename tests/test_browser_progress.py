"""The Progress tab in the real app in headless Chromium: it counts a graded answer without Refresh.

An answer graded in the Interview tab shows up in the heatmap and the due list as soon as the
Progress tab is opened; a review written meanwhile by someone else (the store directly) shows up
the next time the tab is opened. Refresh is never pressed.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.support import DIFFUSION, open_page, shot, start_interview_in_page

pytestmark = pytest.mark.browser


def test_the_progress_tab_updates_without_refresh(browser, progress_app_url, progress_store, shipped_kb, tmp_path):
    page = open_page(browser, progress_app_url)
    try:
        start_interview_in_page(page, "pia", DIFFUSION)
        chat = page.locator("#kb-interview-chat")
        chat.get_by_text("Q1.").wait_for()
        page.get_by_label("Your answer").fill(
            "The network predicts the noise added to a clean sample at a random step, trained with a squared error: "
            "denoising score matching."
        )
        page.get_by_role("button", name="Send", exact=True).click()
        chat.get_by_text("Model answer").wait_for()
        assert len(progress_store.reviews("pia")) == 1

        page.get_by_role("tab", name="Progress").click()
        heat = page.locator("#kb-progress-heatmap")
        heat.get_by_text("1 review", exact=False).first.wait_for()
        page.locator("#kb-progress-due").get_by_text("1 reviewed").wait_for()
        today = datetime.now(timezone.utc).date().isoformat()
        assert heat.locator(f'rect[data-day="{today}"]').get_attribute("data-count") == "1"
        assert heat.locator("rect.kb-heat-day").count() >= 25 * 7 + 1, "26 weeks of days in the calendar"
        assert "FSRS default parameters" in page.locator("#kb-progress-scheduler").inner_text()
        page.locator("#kb-progress-retention").get_by_text("Retention per week").wait_for()
        page.locator("#kb-progress-forecast").get_by_text("Due in the next 30 days").wait_for()
        shot(page, "progress-stats", tmp_path, full_page=True)

        # A review written elsewhere while another tab is open is counted when Progress is opened again.
        page.get_by_role("tab", name="Search").click()
        progress_store.record_review("pia", shipped_kb.card("what-is-focal-loss"), "from elsewhere", 85)
        page.get_by_role("tab", name="Progress").click()
        heat.get_by_text("2 reviews", exact=False).first.wait_for()
        assert heat.locator(f'rect[data-day="{today}"]').get_attribute("data-count") == "2"
        page.locator("#kb-progress-due").get_by_text("2 reviewed").wait_for()
    finally:
        page.close()
