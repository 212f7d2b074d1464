"""The microphone beside a text box (Interview and Chat tabs): a recording becomes text to correct, then send.

Speech to text is `kb.transcribe` (the optional `voice` extra). Without the extra no microphone is
shown, only a one-line note saying how to enable it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kb import voice_available, voice_hint
from kb.errors import KbError

if TYPE_CHECKING:
    import gradio as gr
    from gradio.components import Component

    from kb.knowledge import KnowledgeBase

VOICE_NOTE_SUFFIX = "voice-note"


def transcript_into(kb: KnowledgeBase, audio_path: str | None, text: str | None, card_id: str | None = None) -> tuple[str, str]:
    """A recording -> (the text box's new text, a status line). The transcript is added after what was typed."""
    text = (text or "").rstrip()
    if not audio_path:
        return text, ""
    try:
        transcript = kb.transcribe(audio_path, card_id=card_id)
    except KbError as exc:
        return text, f"⚠️ {exc}"
    if not transcript.text:
        return text, f"No words heard in {transcript.duration:.0f} s of audio; try again closer to the microphone."
    # the same recording twice (both events of one recording) must not add its words twice
    joined = text if text.endswith(transcript.text) else f"{text} {transcript.text}".strip()
    return joined, f"Heard {transcript.duration:.0f} s of speech (transcribed in {transcript.seconds:.1f} s): correct the text if needed, then send."


def microphone(elem_id: str, label: str) -> gr.Audio | None:
    """A gr.Audio (microphone or upload, passed as a file path), or None and a note when voice is unavailable."""
    import gradio as gr

    if not voice_available():
        gr.Markdown(voice_hint() or "", elem_id=f"{elem_id}-{VOICE_NOTE_SUFFIX}")
        return None
    return gr.Audio(sources=["microphone", "upload"], type="filepath", label=label, elem_id=elem_id, scale=2, min_width=220,
                    buttons=[], editable=False)


def wire(audio: gr.Audio, handler: Callable[..., Any], inputs: list[Component], outputs: list[Component]) -> None:
    """Transcribe when a recording stops or a file is uploaded."""
    for event in (audio.stop_recording, audio.upload):
        event(handler, inputs=inputs, outputs=outputs, api_visibility="undocumented")
