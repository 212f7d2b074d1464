"""The query-time encoder: ONNX Runtime + `tokenizers` + numpy pooling. Never imports torch.

An export lives in the index folder (or in KB_CACHE / --cache, see `cache_root`), one
sub-folder per model id and model-file digest, and the index manifest records which one its
vectors agree with:

  <index>/onnx/<model>-<digest>/
    model.onnx       the transformer, exported once by kb.embed.export (inputs -> last hidden state)
    tokenizer.json   the model's own tokenizer file, copied unchanged
    meta.json        pooling, max_seq_length, dim, the verification result and probe vectors

The folder is written under a temporary name and renamed into place, so a half-written export
is never seen. Loading re-checks it cheaply: the ONNX file's size and mtime against meta.json
(a full checksum when they differ), and a few probe texts whose reference vectors were stored
at export time.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kb.config import Config, setting, setting_flag
from kb.embed.base import MIN_COSINE, Encoder, Progress
from kb.fileio import file_sha256, write_text_atomic

if TYPE_CHECKING:  # imported where they are used
    import onnxruntime as ort
    from tokenizers import Encoding

META_FORMAT = 2  # 2: attention, LayerNorm and GELU fused by ONNX Runtime's optimizer (older exports are redone)
ONNX_FILE, TOKENIZER_FILE, META_FILE = "model.onnx", "tokenizer.json", "meta.json"
BATCH_SESSION_MIN_TEXTS = 16  # smaller jobs (a query, an edited card) stay on the one-thread session
PADDING_RATIO = 0.5  # a text shorter than this share of its batch's longest starts a new batch


class OnnxCacheMissing(Exception):
    """No export for this model yet."""


class OnnxCacheInvalid(Exception):
    """An export exists but cannot be trusted (damaged, incomplete, or disagrees with its probes)."""


class OnnxExportRejected(Exception):
    """A previous export failed verification; the model is served by sentence-transformers instead."""


def cache_root() -> Path:
    """Where exports go when the caller names no folder: KB_CACHE, else the configured index folder."""
    return Config.from_env().model_cache


def export_dir(model_id: str, model_digest: str, root: Path | None = None) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(model_id.rstrip("/\\")).name or model_id).strip("._") or "model"
    return (root or cache_root()) / "onnx" / f"{slug[:60]}-{model_digest[:16]}"


# ---- model file digest -----------------------------------------------------------------------------
def model_digest(model_path: Path, root: Path | None = None) -> str:
    """Content hash of every file of the model folder (README and dotfiles aside).

    Hashing ~90 MB of weights costs ~0.1 s, so the result is remembered per folder against each
    file's size and mtime; a changed file is noticed and the folder hashed again.
    """
    files = sorted(p for p in model_path.rglob("*") if p.is_file() and not p.name.startswith(".") and p.name != "README.md")
    stats = [[p.relative_to(model_path).as_posix(), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    memo_path = (root or cache_root()) / "onnx" / "model-digests.json"
    key = str(model_path.resolve())
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
        if memo.get(key, {}).get("stats") == stats:
            return str(memo[key]["digest"])
    except (OSError, ValueError, AttributeError):
        memo = {}
    digest = hashlib.blake2b(digest_size=20)
    for path in files:
        digest.update(path.relative_to(model_path).as_posix().encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    result = digest.hexdigest()
    memo = memo if isinstance(memo, dict) else {}
    memo[key] = {"stats": stats, "digest": result}
    try:
        write_text_atomic(memo_path, json.dumps(memo, indent=1))
    except OSError:
        pass  # a read-only cache only costs the re-hash next time
    return result


def installed_version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _configured_threads(variable: str) -> int | None:
    configured = setting(variable) or ""
    return int(configured) if configured.isdigit() and int(configured) > 0 else None


def onnx_threads() -> int:
    """Threads for batch jobs: KB_ONNX_THREADS, else the cores this process may use (at most 4)."""
    return _configured_threads("KB_ONNX_THREADS") or max(1, min(usable_cores(), 4))


def query_threads() -> int:
    """Threads for one query: KB_QUERY_THREADS, else 2 where there are 2 cores.

    A ~12-token query on all-MiniLM-L6-v2 took 5.0 ms on one thread and 3.5 ms on two (this
    2-core machine, quiet); more threads gain little at that size.
    """
    return _configured_threads("KB_QUERY_THREADS") or max(1, min(usable_cores(), 2))


# ---- the encoder ----------------------------------------------------------------------------------------
class OnnxEncoder(Encoder):
    """Sentence embeddings from an exported transformer; identical to sentence-transformers (cos >= 0.9999)."""

    backend = "onnxruntime"

    def __init__(self, folder: Path, model_id: str | None = None, meta: dict[str, Any] | None = None) -> None:
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        self.meta = meta if meta is not None else json.loads((self.folder / META_FILE).read_text(encoding="utf-8"))
        self.model_id = model_id or self.meta["model_id"]
        self.dim = int(self.meta["dim"])
        self.max_seq_length = int(self.meta["max_seq_length"])
        self.pooling = self.meta["pooling"]
        self.input_names = list(self.meta["input_names"])
        self.pad_id = int(self.meta.get("pad_id", 0))
        self.notes: list[str] = []
        self.tokenizer = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
        # The shipped tokenizer.json truncates at 128 and pads every text to 128: read the whole
        # max_seq_length window, and pad per batch (below) instead of to a fixed length.
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)
        self.tokenizer.no_padding()
        # Queries get a small session (see query_threads); batch jobs get their own, possibly wider,
        # session made on first need (builds; the web app usually never needs it).
        self.session = self._session(query_threads(), spin=setting_flag("KB_ONNX_SPIN"))
        self._batch_session: ort.InferenceSession | None = None
        self._batch_lock = threading.Lock()

    def _session(self, threads: int, spin: bool = False) -> ort.InferenceSession:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning worker threads answer a query ~10 % sooner (search p50 4.8 vs 5.3 ms here) but
        # cost ~13 % throughput with 4 searches at once on 2 cores (205 vs 235 searches/s), and
        # steal CPU from the web server during long batch jobs: on for queries, off for batches.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(self.folder / ONNX_FILE), options, providers=["CPUExecutionProvider"])

    def batch_session(self) -> ort.InferenceSession:
        with self._batch_lock:
            if self._batch_session is None:
                self._batch_session = self._session(onnx_threads())
        return self._batch_session

    def token_counts(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self._tokenize(texts)]

    def _tokenize(self, texts: list[str]) -> list[Encoding]:
        # One text: encode() on this thread. encode_batch() hands work to a thread pool, and on a
        # busy CPU that hand-off alone can cost milliseconds per query.
        if len(texts) == 1:
            return [self.tokenizer.encode(texts[0].strip())]
        return self.tokenizer.encode_batch([t.strip() for t in texts])

    def encode_query(self, text: str) -> np.ndarray:
        vector = self._run(self._tokenize([text]))[0]
        normalized: np.ndarray = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return normalized

    def _encode(self, texts: list[str], batch_size: int, progress: Progress | None) -> np.ndarray:
        encodings = self._tokenize(texts)
        session = self.batch_session() if len(texts) >= BATCH_SESSION_MIN_TEXTS else self.session
        # Similar lengths together: less padding, same vectors.
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for chosen in length_batches(order, [len(e.ids) for e in encodings], max(int(batch_size), 1)):
            out[chosen] = self._run([encodings[i] for i in chosen], session)
            if progress is not None:
                progress(len(chosen))
        return out

    def _run(self, encodings: Sequence[Encoding], session: ort.InferenceSession | None = None) -> np.ndarray:
        length = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), length), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), length), dtype=np.int64)
        types = np.zeros((len(encodings), length), dtype=np.int64)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = e.ids, e.attention_mask, e.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        hidden = (session or self.session).run(None, {name: feeds[name] for name in self.input_names})[0]
        return pool(hidden, mask, self.pooling)


def length_batches(order: list[int], lengths: list[int], size: int) -> list[list[int]]:
    """Texts (longest first) in batches of at most `size`, a new batch starting where a text is under
    PADDING_RATIO of its batch's longest: a whole answer and its short sentences are not padded to one
    length (the vectors are the same; attention on padding is wasted work that grows with its square)."""
    batches: list[list[int]] = []
    for i in order:
        if not batches or len(batches[-1]) == size or lengths[i] < PADDING_RATIO * lengths[batches[-1][0]]:
            batches.append([])
        batches[-1].append(i)
    return batches


def pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """Token vectors [batch, tokens, dim] -> one vector per text, ignoring padding."""
    pooled: np.ndarray
    if mode == "cls":
        pooled = hidden[:, 0, :]
        return pooled
    weights = mask[..., None].astype(np.float32)
    if mode == "max":
        pooled = np.where(weights > 0, hidden, -1e9).max(axis=1)
    else:
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    return pooled


def open_cached_export(model_id: str, digest: str, root: Path | None = None) -> OnnxEncoder:
    """The verified export for this model, checked for damage. Raises OnnxCache* / OnnxExportRejected."""
    folder = export_dir(model_id, digest, root)
    meta_path = folder / META_FILE
    if not folder.is_dir():
        raise OnnxCacheMissing(f"no ONNX export in {folder} yet")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OnnxCacheInvalid(f"{meta_path} is unreadable ({exc})") from exc
    if isinstance(meta, dict) and isinstance(meta.get("format"), int) and meta["format"] < META_FORMAT:
        raise OnnxCacheMissing(f"{folder} was made by an older kb (format {meta['format']}); exporting the faster format {META_FORMAT}")
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise OnnxCacheInvalid(f"{meta_path} has an unknown format")
    if meta.get("rejected"):
        if meta.get("torch") != installed_version("torch"):
            raise OnnxCacheMissing(f"the export failed under torch {meta.get('torch')}; trying again under this torch")
        raise OnnxExportRejected(meta["rejected"])
    onnx_path = folder / ONNX_FILE
    if not onnx_path.is_file() or not (folder / TOKENIZER_FILE).is_file():
        raise OnnxCacheInvalid(f"{folder} is incomplete (model.onnx or tokenizer.json missing)")
    stat = onnx_path.stat()
    recorded = meta.get("onnx_file", {})
    if [stat.st_size, stat.st_mtime_ns] != [recorded.get("size"), recorded.get("mtime_ns")]:
        # Touched since export: only a full checksum can tell a copy from damage.
        if file_sha256(onnx_path) != recorded.get("sha256"):
            raise OnnxCacheInvalid(f"{onnx_path} does not match the checksum recorded at export (damaged or replaced)")
        recorded.update(size=stat.st_size, mtime_ns=stat.st_mtime_ns)  # intact: skip the checksum next time
        try:
            write_text_atomic(meta_path, json.dumps(meta, indent=1))
        except OSError:
            pass
    try:
        encoder = OnnxEncoder(folder, model_id=model_id, meta=meta)
    except Exception as exc:  # onnxruntime/tokenizers raise their own types for damaged files
        raise OnnxCacheInvalid(f"{folder} cannot be opened ({type(exc).__name__}: {str(exc)[:300]})") from exc
    check_probes(encoder, meta)
    return encoder


def check_probes(encoder: OnnxEncoder, meta: dict[str, Any]) -> None:
    """Re-encode the probe texts stored at export time; they must still match (and this warms the session up)."""
    probes = meta.get("probes") or {}
    texts, expected = probes.get("texts") or [], np.asarray(probes.get("vectors") or [], dtype=np.float32)
    if not texts or expected.shape != (len(texts), encoder.dim):
        raise OnnxCacheInvalid("meta.json holds no probe vectors to check the export against")
    try:
        got = encoder.encode(texts)
    except Exception as exc:
        raise OnnxCacheInvalid(f"the export fails on its probe texts ({type(exc).__name__}: {str(exc)[:300]})") from exc
    worst = float(np.min(np.sum(got * expected, axis=1)))
    if not worst >= MIN_COSINE:
        raise OnnxCacheInvalid(f"the export no longer reproduces its probe vectors (cosine {worst:.6f} < {MIN_COSINE})")
