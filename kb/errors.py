"""Named exceptions. The library raises these; only the CLI and the UI turn them into messages."""


class KbError(Exception):
    """Base class for every error a user can cause or fix."""


class ConfigError(KbError):
    """A setting (flag or KB_* variable) is invalid."""


class CorpusError(KbError):
    """The corpus folder is missing or holds nothing that can be indexed."""


class IndexCorruptError(KbError):
    """The index on disk is damaged or half-written; it can be rebuilt from the corpus."""


class IndexWriteError(KbError):
    """The index folder cannot be written (read-only, full disk, ...)."""


class QueryError(KbError):
    """A query is empty or otherwise unusable."""


class CardNotFound(KbError):
    """No card matches the given id or text."""


class ModelLoadError(KbError):
    """The embedding model could not be loaded offline."""


class ProgressStoreError(KbError):
    """The progress database is unreadable, corrupt or not writable."""


class VoiceUnavailable(KbError):
    """Voice answers need the optional `voice` extra (faster-whisper and its bundled model), or are turned off."""


class AudioError(KbError):
    """A recording is missing, unreadable or holds no speech."""
