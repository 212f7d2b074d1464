"""Answer out loud in the real app: a recording uploaded to the Interview tab becomes the answer, then a grade."""
from __future__ import annotations

import pytest

from tests.support import VOICE_STRONG, open_page, speak, start_interview_in_page

pytestmark = pytest.mark.browser


def test_a_recorded_answer_is_transcribed_into_the_box_and_graded(browser, progress_app_url, progress_store, tmp_path):
    wav = speak(VOICE_STRONG, tmp_path / "answer.wav")
    page = open_page(browser, progress_app_url)
    try:
        start_interview_in_page(page, "vic", "Regression")
        chat = page.locator("#kb-interview-chat")
        chat.get_by_text("Q1.").wait_for()
        # the microphone is the first source (Chromium here has none): switch to upload, then give it the file
        page.locator("#kb-interview-audio").get_by_role("button", name="Upload file").click()
        page.locator("#kb-interview-audio input[type=file]").set_input_files(str(wav))
        page.locator("#kb-interview-voice-status").get_by_text("Heard").wait_for(timeout=120_000)
        answer = page.get_by_label("Your answer")
        heard = answer.input_value()
        assert "Huber" in heard and "median" in heard, f"the transcript in the answer box: {heard!r}"
        answer.fill(heard + " Corrected by hand.")  # the user may correct it before sending
        page.get_by_role("button", name="Send", exact=True).click()
        chat.get_by_text("Model answer").wait_for()
        text = chat.locator(".message").filter(has_text="Model answer").last.inner_text()
        assert "Score:" in text, text
        assert "Corrected by hand." in chat.inner_text()
        reviews = progress_store.reviews("vic")
        assert len(reviews) == 1 and reviews[0].card_id in {"when-do-you-use-mse-vs-mae-vs-huber", "what-is-quantile-loss-and-when-would-you-use-it",
                                                             "whats-the-probabilistic-interpretation-of-mse-and-mae"}, reviews
    finally:
        page.close()
