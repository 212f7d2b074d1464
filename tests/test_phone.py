"""The app on a phone (390 x 844, the size of a current iPhone) in the real browser: a deep link shows its
card on the first screen; search and the interview fit the width (no sideways scrolling); every control
in those views is a tap target of at least 44 x 44 px. Set KB_SAVE_SCREENSHOTS=1 to refresh
docs/screenshots/phone-*.png from this run.
"""
from __future__ import annotations

import pytest

from tests.support import DIFFUSION, open_page, shot, start_interview_in_page

pytestmark = pytest.mark.browser

PHONE_WIDTH, PHONE_HEIGHT = 390, 844
PPO = "how-does-ppo-work-why-the-clip"
MIN_TAP = 44

# Every control a finger can hit; a radio or checkbox counts as its label (the label is what you tap).
SMALL_TARGETS_JS = """() => {
  const small = [];
  const controls = document.querySelectorAll('button, a[href], input, textarea, select, [role=button], [role=tab], [role=option]');
  for (const el of controls) {
    const target = el.matches('input[type=radio], input[type=checkbox]') ? (el.closest('label') || el) : el;
    if (!target.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
    const box = target.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (box.height < MIN - 0.5 || box.width < MIN - 0.5) {
      const name = (el.getAttribute('aria-label') || el.innerText || el.value || el.id || '').trim().slice(0, 40);
      small.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} "${name}" ${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  }
  return small;
}""".replace("MIN", str(MIN_TAP))


def sideways_overflow(page) -> str | None:
    """None when the page fits the screen's width; else the widths and the widest offenders."""
    return page.evaluate(
        """() => {
          const root = document.documentElement;
          if (root.scrollWidth <= root.clientWidth) return null;
          const wide = [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > root.clientWidth + 1 && e.checkVisibility())
            .slice(-5)
            .map(e => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}.${[...e.classList].join('.')}`
                      + ` right=${Math.round(e.getBoundingClientRect().right)}`);
          return `scrollWidth ${root.scrollWidth} > clientWidth ${root.clientWidth}: ${wide.join('; ')}`;
        }"""
    )


def assert_fits_a_phone(page, view: str) -> None:
    overflow = sideways_overflow(page)
    assert overflow is None, f"{view}: the page scrolls sideways on a phone: {overflow}"
    small = page.evaluate(SMALL_TARGETS_JS)
    assert small == [], f"{view}: tap targets under {MIN_TAP} px: {small}"


def phone_page(browser, url: str):
    return open_page(browser, url, width=PHONE_WIDTH, height=PHONE_HEIGHT)


def test_deep_link_shows_the_card_on_the_first_screen(browser, progress_app_url, shipped_kb, tmp_path):
    from playwright.sync_api import expect

    card = shipped_kb.card(PPO)
    page = phone_page(browser, f"{progress_app_url}/?card={PPO}")
    try:
        header = page.locator("#kb-card-header")
        expect(header).to_contain_text(card.question)
        expect(page.locator("#kb-card-answer .katex").first).to_be_visible()
        page.wait_for_timeout(300)  # layout settles after the card's formulas are typeset
        question = header.locator("h2")
        box = question.bounding_box()
        scrolled = page.evaluate("window.scrollY")
        assert scrolled == 0 and box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE_HEIGHT, (
            f"the card's question is not on the first screen: {box}, scrolled {scrolled}"
        )
        assert_fits_a_phone(page, "card")
        shot(page, "phone-card", tmp_path)

        # The family's questions come after the card; picking one brings the new card back into view.
        following = shipped_kb.family_cards(card.family)[-1]
        page.locator("#kb-questions").get_by_text(following.question, exact=True).click()
        expect(header).to_contain_text(following.question)
        page.wait_for_timeout(300)
        box = question.bounding_box()
        assert box is not None and -1 <= box["y"] and box["y"] + box["height"] <= PHONE_HEIGHT, f"the picked card is off screen: {box}"
    finally:
        page.close()


def test_search_fits_a_phone(browser, progress_app_url, shipped_kb, tmp_path):
    from playwright.sync_api import expect

    page = phone_page(browser, progress_app_url)
    try:
        box = page.get_by_label("Search", exact=True)
        box.fill("why does ppo clip the ratio")
        box.press("Enter")
        first = page.locator("#kb-search-results .kb-hit").first
        expect(first.locator(".kb-hit-question")).to_contain_text(shipped_kb.card(PPO).question)
        expect(first.locator(".kb-hit-snippet .katex").first).to_be_visible()  # formulas typeset in snippets too
        prose = first.evaluate("""hit => { const copy = hit.cloneNode(true);
                                             copy.querySelectorAll('.katex').forEach(k => k.remove()); return copy.textContent; }""")
        assert "\\" not in prose and "$" not in prose, f"raw LaTeX left in a result: {prose}"
        assert page.locator("#kb-search-results .katex-error").count() == 0
        assert_fits_a_phone(page, "search")
        shot(page, "phone-search", tmp_path)
        first.locator("a.kb-hit-link").click()
        expect(page.locator("#kb-card-header")).to_contain_text(shipped_kb.card(PPO).question)
        assert_fits_a_phone(page, "card opened from search")
    finally:
        page.close()


def test_interview_fits_a_phone(browser, progress_app_url, tmp_path):
    from playwright.sync_api import expect

    page = phone_page(browser, progress_app_url)
    try:
        start_interview_in_page(page, "phone", DIFFUSION)
        chat = page.locator("#kb-interview-chat")
        chat.get_by_text("Q1.").wait_for()
        assert_fits_a_phone(page, "interview question")
        answer = page.get_by_label("Your answer")
        answer.fill("The model predicts the noise that was added to the image, trained with a mean squared error.")
        page.get_by_role("button", name="Send", exact=True).click()
        expect(answer).to_have_value("", timeout=120_000)
        expect(page.locator("#kb-interview-rating-note")).to_contain_text("Rating for the last answer", timeout=120_000)
        expect(chat.locator(".katex").first).to_be_visible()
        for rating in ("again", "hard", "good", "easy"):
            expect(page.locator(f"#kb-rate-{rating}")).to_be_visible()
        assert_fits_a_phone(page, "interview feedback")
        page.locator("#kb-interview-rating-note").scroll_into_view_if_needed()
        shot(page, "phone-interview", tmp_path)
    finally:
        page.close()
