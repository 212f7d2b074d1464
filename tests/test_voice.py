"""Voice answers: real speech (espeak-ng) through the real model (faster-whisper, bundled Whisper tiny.en),
graded on a shipped card; the `kb grade --audio` command; and kb without the voice extra.
"""
from __future__ import annotations

import json
import subprocess
import time
import urllib.request

import pytest

from tests.support import (
    VOICE_CARD,
    VOICE_STRONG,
    VOICE_WRONG,
    free_port,
    kb_env,
    kb_subprocess,
    speak,
    wait_http,
    without_voice_argv,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spoken_answers(tmp_path_factory) -> dict:
    """The strong and the wrong answer to VOICE_CARD, spoken, plus a sentence full of corpus terms."""
    folder = tmp_path_factory.mktemp("spoken")
    return {
        "strong": speak(VOICE_STRONG, folder / "strong.wav"),
        "wrong": speak(VOICE_WRONG, folder / "wrong.wav"),
        "terms": speak("The ELBO is a lower bound on the log likelihood, and InfoNCE is a contrastive loss.", folder / "terms.wav"),
    }


def test_a_spoken_strong_answer_outscores_a_spoken_wrong_one(shipped_kb, spoken_answers):
    assert shipped_kb.voice_available(), "the voice extra is not installed: pip install -e '.[voice]'"
    strong = shipped_kb.transcribe(spoken_answers["strong"], VOICE_CARD)
    wrong = shipped_kb.transcribe(spoken_answers["wrong"], VOICE_CARD)
    for word in ("Huber", "median", "Gaussian", "quadratic"):
        assert word in strong.text, f"{word!r} missing from the transcript: {strong.text!r}"
    assert 15 < strong.duration < 40 and strong.seconds > 0, strong
    assert "Huber" in strong.prompt and strong.prompt.startswith("When do you use MSE vs MAE vs Huber?"), strong.prompt
    strong_grade, wrong_grade = shipped_kb.grade(VOICE_CARD, strong.text), shipped_kb.grade(VOICE_CARD, wrong.text)
    assert strong_grade.score > wrong_grade.score, (
        f"spoken strong {strong_grade.score} <= spoken wrong {wrong_grade.score}: {strong.text!r} / {wrong.text!r}")


def test_the_corpus_vocabulary_fixes_the_terms_plain_whisper_gets_wrong(shipped_kb, spoken_answers):
    from kb.voice import transcribe

    plain = transcribe(spoken_answers["terms"]).text
    biased = shipped_kb.transcribe(spoken_answers["terms"]).text  # no card: the glossary, as in the Chat tab
    assert "ELBO" in biased and "InfoNCE" in biased, f"biased transcript: {biased!r}"
    assert not ("ELBO" in plain and "InfoNCE" in plain), f"plain Whisper already gets both terms right, so this test measures nothing: {plain!r}"


def test_kb_grade_audio_json_has_the_transcript_and_a_score(shipped_kb, spoken_answers, tmp_path):
    result = kb_subprocess("grade", "--audio", spoken_answers["strong"], "--question", VOICE_CARD, "--json",
                           "--corpus", shipped_kb.config.corpus, "--index", shipped_kb.config.index, env=kb_env(tmp_path))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["card_id"] == VOICE_CARD and isinstance(out["score"], int) and 0 <= out["score"] <= 100, out
    assert "Huber" in out["transcript"] and "median" in out["transcript"], out["transcript"]


def test_kb_grade_audio_needs_a_question(spoken_answers, tmp_path):
    result = kb_subprocess("grade", "--audio", spoken_answers["wrong"], env=kb_env(tmp_path))
    assert result.returncode == 1 and "--audio needs --question" in result.stderr, result.stderr


def test_an_unreadable_recording_is_a_one_line_error(shipped_kb, tmp_path):
    from kb.errors import AudioError

    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(AudioError, match="noise.wav"):
        shipped_kb.transcribe(bad, VOICE_CARD)


def test_kb_voice_model_off_turns_voice_off(monkeypatch):
    from kb import voice_available, voice_hint

    monkeypatch.setenv("KB_VOICE_MODEL", "off")
    assert not voice_available() and "KB_VOICE_MODEL=off" in voice_hint()


def test_without_the_extra_the_cli_says_how_to_enable_voice(spoken_answers, tmp_path):
    result = subprocess.run(without_voice_argv("grade", "--audio", spoken_answers["wrong"], "-q", VOICE_CARD),
                            capture_output=True, text=True, env=kb_env(tmp_path), timeout=120)
    assert result.returncode == 1, result
    assert 'pip install -e ".[voice]"' in result.stderr, result.stderr


def test_without_the_extra_the_app_starts_and_says_how_to_enable_voice(shipped_kb, tmp_path):
    port = free_port()
    argv = without_voice_argv("serve", "--port", port, "--corpus", shipped_kb.config.corpus, "--index", shipped_kb.config.index)
    server = subprocess.Popen(argv, env=kb_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        try:
            wait_http(url + "/", timeout=120)
        except TimeoutError:
            server.kill()
            pytest.fail(f"the app did not start without the voice extra: {server.communicate()[0][-2000:]}")
        with urllib.request.urlopen(url + "/config", timeout=30) as response:
            config = json.loads(response.read())
        components = {c.get("props", {}).get("elem_id"): c for c in config["components"]}
        assert "kb-interview-audio" not in components and "kb-chat-audio" not in components, "a microphone without the voice extra"
        note = components.get("kb-interview-audio-voice-note")
        assert note is not None and note["props"]["value"] == 'Voice answers: pip install -e ".[voice]"', (note, time.monotonic() - started)
        assert "kb-chat-audio-voice-note" in components
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_question_asked_out_loud_lands_after_what_was_typed(shipped_kb, spoken_answers):
    from kb.ui.voice import transcript_into

    text, status = transcript_into(shipped_kb, str(spoken_answers["terms"]), "typed first")
    assert text.startswith("typed first ") and "InfoNCE" in text, text
    assert status.startswith("Heard"), status
    assert transcript_into(shipped_kb, None, "kept") == ("kept", "")


def test_kb_interview_audio_answers_the_first_question_from_the_recording(shipped_kb, spoken_answers, tmp_path):
    result = kb_subprocess("interview", "--audio", spoken_answers["strong"], "--length", 1, "--family", "Regression",
                           "--corpus", shipped_kb.config.corpus, "--index", shipped_kb.config.index, env=kb_env(tmp_path), input="")
    assert result.returncode == 0, result.stderr
    heard = next((line for line in result.stdout.splitlines() if line.endswith("[heard in strong.wav]")), None)
    assert heard is not None and "Huber" in heard, result.stdout
    assert "Interview summary" in result.stdout and "/100" in result.stdout, result.stdout
