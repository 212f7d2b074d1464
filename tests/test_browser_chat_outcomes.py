"""The chat's three outcomes in the real web app, and "Not what I asked" stored for the profile in the box."""
from __future__ import annotations

import pytest

from kb.coach.progress import ProgressStore
from tests.support import ask_in_chat, load_kb, open_page, serve_app, write_notes
from tests.test_chat_outcomes import ACCUMULATION, FAR, NEAR_MISS, ON_TOPIC, SYSTEMS_NOTE

pytestmark = pytest.mark.browser


@pytest.fixture()
def outcomes_app(tmp_path, encoder):
    kb = load_kb(write_notes(tmp_path / "corpus", {"systems.md": SYSTEMS_NOTE}), encoder)
    store = ProgressStore(tmp_path / "progress.sqlite3")
    server = serve_app(kb, progress_store=store)
    yield server.url, kb, store
    server.close()
    store.close()


def test_the_three_outcomes_look_different_and_a_wrong_answer_can_be_marked(browser, outcomes_app):
    from playwright.sync_api import expect

    url, kb, store = outcomes_app
    page = open_page(browser, url)
    try:
        page.get_by_role("tab", name="Chat").click()
        page.locator("#kb-chat-profile textarea, #kb-chat-profile input").first.fill("dee")
        not_asked = page.locator("#kb-chat-not-asked")

        answer = ask_in_chat(page, ON_TOPIC, 0)
        expect(answer).to_contain_text("Sources:")
        expect(answer.locator(f'a[href*="card={ACCUMULATION}"]').first).to_be_visible()
        expect(not_asked).to_be_visible()

        closest = ask_in_chat(page, NEAR_MISS, 1)
        expect(closest).to_contain_text("Your notes may not cover this")
        expect(closest).to_contain_text("clipping")
        expect(closest.locator(f'a[href*="card={ACCUMULATION}"]').first).to_be_visible()
        assert "Sources:" not in closest.inner_text()
        expect(not_asked).to_be_hidden()  # only an answer can be marked

        abstain = ask_in_chat(page, FAR, 2)
        expect(abstain).to_contain_text("I don't know")
        assert abstain.locator("a[href*='card=']").count() == 0
        expect(page.locator("#kb-follow-ups button.kb-follow-up:visible")).to_have_count(3)  # the nearest cards

        ask_in_chat(page, ON_TOPIC, 3)
        not_asked.click()
        bots = page.locator("#kb-chatbot .bot")
        expect(bots).to_have_count(5, timeout=60_000)
        again = bots.nth(4).inner_text().split("Also near")[0]  # the question asked again, before other cards are offered
        assert kb.card(ACCUMULATION).question not in again
        assert store.rejections("dee") == [(ON_TOPIC, ACCUMULATION)]
        assert kb.ask(ON_TOPIC, profile="dee", store=store).card.id != ACCUMULATION
        assert kb.ask(ON_TOPIC, profile="default", store=store).card.id == ACCUMULATION
    finally:
        page.close()
