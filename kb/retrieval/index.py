"""The on-disk index: a cache of the corpus that can always be rebuilt.

index/
  manifest.json   format and parser versions, model id, per-note sha256, sha256 of every file below
  cards.json      the parsed cards and the problems found while parsing
  vectors.npy     float32 [cards, 2, dim]: row 0 embeds the question, row 1 question + answer
  index.faiss     inner-product index over those rows (vectors are L2-normalised)
  lexical.npz     the BM25 index (kb/retrieval/lexical.py), so a load does not tokenise every card again;
                  derived from cards.json alone, so a missing, damaged or stale one is rebuilt
                  from the cards without re-embedding anything

Every file is written to a temporary name and renamed into place; the manifest goes
last and pins each file's checksum, so a half-written index never loads. Temporary files left
by a killed write are ignored when loading and removed by the next write. A lock file (`.lock`)
lets one writer at a time in and keeps readers out while it writes.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kb.errors import IndexCorruptError, IndexWriteError
from kb.fileio import file_sha256
from kb.notes.cards import Card
from kb.notes.corpus import PARSER_VERSION, CorpusParse, Problem, assign_unique_ids, load_corpus, note_paths, parse_note_file

if TYPE_CHECKING:
    import faiss

    from kb.embed.base import Encoder, Progress
    from kb.retrieval.lexical import LexicalIndex, PhraseMatcher

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATA_FILES = ("cards.json", "vectors.npy", "index.faiss")
LEXICAL_FILE = "lexical.npz"  # pinned in the manifest like DATA_FILES, but optional: see _load_lexical
# Above this many rows (2 per card) an HNSW graph answers dense queries. Exact search over 200k rows
# (100k cards) is one matrix product of ~12 ms (p95 15 ms) on 2 cores with recall 1.0 and nothing to
# rebuild on an edit; HNSW there cost a 30-40 s graph rebuild per edit (docs/benchmarks.md).
EXACT_SEARCH_MAX_ROWS = 250_000
# Card recall@10 against exact search on 20k real embedding rows (benchmarks/bench_scale.py, 10k cards):
# efSearch 64 -> 0.94, 128 -> 0.974, 256 -> 0.988 at 0.9 ms per query. 256 is the smallest >= 0.98.
HNSW_EF_SEARCH = 256
TEMP_FILE_GRACE_S = 60.0  # a temporary file older than this is from a killed write, not a running one


@dataclass
class IndexData:
    cards: list[Card]
    vectors: np.ndarray  # [n, 2, dim]
    faiss_index: faiss.Index
    problems: list[Problem]
    note_hashes: dict[str, str]
    model_id: str
    lexical: LexicalIndex | None = None  # kb.retrieval.lexical.LexicalIndex over the cards, when stored or built
    lexical_problem: str | None = None  # why a stored lexical index could not be used
    encoder: dict[str, Any] = field(default_factory=dict)  # model digest, ONNX export and backends (kb.embed.encoder_record)
    vocabulary: dict[str, Any] = field(default_factory=dict)  # the vocabulary packs and files the lexical index was built with


@dataclass
class BuildReport:
    cards: int = 0
    embedded: int = 0  # cards whose vectors were computed in this run
    reused: int = 0
    notes_changed: list[str] = field(default_factory=list)
    rebuilt_reason: str | None = None  # why a full rebuild happened, if one did
    seconds: float = 0.0
    action: str = "loaded"  # loaded | updated | built
    write_error: str | None = None  # set when the index could not be saved (kept in memory only)


def corpus_hashes(corpus: Path, max_bytes: int) -> dict[str, str]:
    """sha256 of every note's bytes (for oversized notes, of size and mtime: cheap and still a change signal)."""
    hashes = {}
    for path in note_paths(corpus):
        rel = path.relative_to(corpus).as_posix()
        try:
            stat = path.stat()
            if stat.st_size > max_bytes:
                hashes[rel] = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
            else:
                hashes[rel] = file_sha256(path)
        except OSError:
            hashes[rel] = ""
    return hashes


def make_faiss_index(flat_vectors: np.ndarray) -> faiss.Index:
    """Exact inner product for small corpora; an HNSW graph above EXACT_SEARCH_MAX_ROWS rows."""
    import faiss

    dim = flat_vectors.shape[1] if flat_vectors.ndim == 2 and flat_vectors.shape[0] else 384
    index: faiss.Index
    if flat_vectors.shape[0] > EXACT_SEARCH_MAX_ROWS:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        index = faiss.IndexFlatIP(dim)
    if flat_vectors.shape[0]:
        index.add(np.ascontiguousarray(flat_vectors, dtype=np.float32))
    return index


def _atomic_write(path: Path, write: Callable[[Path], object]) -> str:
    """Write through a temporary file in the same folder, then rename over the target.

    Returns the sha256 of what was written, taken before the rename, so the manifest pins this
    write's bytes even if another process renames its own file over the target meanwhile.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        digest = file_sha256(Path(tmp))
        os.replace(tmp, path)
        return digest
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _index_lock(index_dir: Path, exclusive: bool) -> Iterator[None]:
    """One writer at a time per index folder, and no reader while it writes.

    Two `kb build`s at once queue up instead of mixing files, and a reader never sees a new
    cards.json beside an old manifest. Best effort: where no lock file can be made (not POSIX,
    a read-only folder), the manifest checksums still catch a mixed index.
    """
    try:
        import fcntl

        handle = open(index_dir / ".lock", "a+b")
    except (ImportError, OSError):
        yield
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _write_lock(index_dir: Path) -> contextlib.AbstractContextManager[None]:
    return _index_lock(index_dir, exclusive=True)


def leftover_temp_files(index_dir: Path) -> list[Path]:
    """Temporary files of a write that never finished (the process was killed before the rename)."""
    return sorted(index_dir.glob(".*.tmp")) if index_dir.is_dir() else []


def remove_leftovers(index_dir: Path, older_than_s: float = TEMP_FILE_GRACE_S) -> None:
    """Delete abandoned temporary files; young ones may belong to a build still running elsewhere."""
    now = time.time()
    for path in leftover_temp_files(index_dir):
        try:
            if now - path.stat().st_mtime >= older_than_s:
                path.unlink()
        except OSError:
            pass


def read_manifest(index_dir: Path) -> dict[str, Any]:
    path = index_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        present = [name for name in DATA_FILES if (index_dir / name).exists()]
        if present:  # data written but the manifest never was: the first build was interrupted
            raise IndexCorruptError(f"{path} is missing beside {', '.join(present)} (an interrupted write)") from None
        raise
    except NotADirectoryError:  # the index path runs through a regular file: nothing stored there
        raise FileNotFoundError(f"{index_dir} is not a folder") from None
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"{path} is unreadable ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise IndexCorruptError(f"{path} has format {manifest.get('format_version') if isinstance(manifest, dict) else '?'}, expected {FORMAT_VERSION}")
    return manifest


def load_index(index_dir: Path, synonyms: PhraseMatcher | None = None) -> IndexData:
    """Load and verify an index folder. Raises FileNotFoundError or IndexCorruptError.

    `synonyms` is the vocabulary's PhraseMatcher: a stored lexical index built with another one is not used."""
    if not index_dir.is_dir():
        read_manifest(index_dir)  # raises the right error for a missing folder or a file in its place
    with _index_lock(index_dir, exclusive=False):
        return _load_verified(index_dir, synonyms)


def _load_verified(index_dir: Path, synonyms: PhraseMatcher | None = None) -> IndexData:
    import faiss

    manifest = read_manifest(index_dir)
    for name in DATA_FILES:
        path = index_dir / name
        if not path.exists():
            raise IndexCorruptError(f"{path} is missing")
        if file_sha256(path) != manifest.get("files", {}).get(name):
            raise IndexCorruptError(f"{path} does not match its checksum in the manifest (half-written or damaged)")
    try:
        stored = json.loads((index_dir / "cards.json").read_text(encoding="utf-8"))
        cards = [Card.from_dict(c) for c in stored["cards"]]
        problems = [Problem(**p) for p in stored.get("problems", [])]
        vectors = np.load(index_dir / "vectors.npy", allow_pickle=False)
        faiss_index = faiss.read_index(str(index_dir / "index.faiss"))
        if hasattr(faiss_index, "hnsw"):
            faiss_index.hnsw.efSearch = HNSW_EF_SEARCH  # a search-time setting: older indexes get today's value
    except Exception as exc:
        raise IndexCorruptError(f"{index_dir} could not be read ({type(exc).__name__}: {exc})") from exc
    if vectors.shape[0] != len(cards) or faiss_index.ntotal != 2 * len(cards):
        raise IndexCorruptError(f"{index_dir}: {len(cards)} cards but {vectors.shape[0]} vector pairs and {faiss_index.ntotal} index rows")
    lexical, lexical_problem = _load_lexical(index_dir, manifest, len(cards), synonyms)
    # Cards read by another parser version may be wrong: forget the note hashes, so every note is
    # parsed again (its unchanged cards keep their vectors).
    notes = manifest["notes"] if manifest.get("parser") == PARSER_VERSION else {}
    encoder, vocabulary = manifest.get("encoder"), manifest.get("vocabulary")
    return IndexData(cards, vectors, faiss_index, problems, notes, manifest["model"], lexical, lexical_problem,
                     encoder if isinstance(encoder, dict) else {}, vocabulary if isinstance(vocabulary, dict) else {})


def _load_lexical(index_dir: Path, manifest: dict[str, Any], documents: int,
                  synonyms: PhraseMatcher | None = None) -> tuple[LexicalIndex | None, str | None]:
    """The stored lexical index, or (None, why not). None without a reason: an index from before kb stored one."""
    from kb.retrieval.lexical import LexicalIndex, StoredLexicalError

    path = index_dir / LEXICAL_FILE
    pinned = manifest.get("files", {}).get(LEXICAL_FILE)
    if pinned is None:
        return None, None
    try:
        if file_sha256(path) != pinned:
            raise StoredLexicalError(f"{path} does not match its checksum in the manifest (half-written or damaged)")
        return LexicalIndex.load(path, documents, synonyms), None
    except FileNotFoundError:
        return None, f"{path} is missing"
    except StoredLexicalError as exc:
        return None, str(exc)


def store_lexical(index_dir: Path, data: IndexData) -> bool:
    """Add or replace the lexical file of the index on disk, if that index still holds data's cards.

    Returns False when another process rewrote the index meanwhile (its own build stores its own).
    """
    try:
        with _write_lock(index_dir):
            manifest = read_manifest(index_dir)
            if manifest.get("notes") != data.note_hashes or manifest.get("cards") != len(data.cards) or manifest.get("model") != data.model_id:
                return False
            assert data.lexical is not None, "store_lexical stores data.lexical: set it first"
            manifest["files"][LEXICAL_FILE] = _atomic_write(index_dir / LEXICAL_FILE, data.lexical.save)
            manifest["vocabulary"] = data.vocabulary
            _atomic_write(index_dir / MANIFEST, lambda p: p.write_text(json.dumps(manifest, indent=1), encoding="utf-8"))
            return True
    except OSError as exc:
        raise IndexWriteError(f"cannot write the index to {index_dir}: {exc.strerror or exc}") from exc


def save_index(index_dir: Path, data: IndexData) -> None:
    import faiss

    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        payload = {
            "cards": [c.to_dict() for c in data.cards],
            "problems": [p.__dict__ for p in data.problems],
        }
        with _write_lock(index_dir):
            remove_leftovers(index_dir)
            files = {
                "cards.json": _atomic_write(index_dir / "cards.json", lambda p: p.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")),
                "vectors.npy": _atomic_write(index_dir / "vectors.npy", lambda p: _save_npy(p, data.vectors)),
                "index.faiss": _atomic_write(index_dir / "index.faiss", lambda p: faiss.write_index(data.faiss_index, str(p))),
            }
            if data.lexical is not None:
                files[LEXICAL_FILE] = _atomic_write(index_dir / LEXICAL_FILE, data.lexical.save)
            else:  # never leave a lexical file beside cards it was not built from
                (index_dir / LEXICAL_FILE).unlink(missing_ok=True)
            manifest = {
                "format_version": FORMAT_VERSION,
                "parser": PARSER_VERSION,
                "model": data.model_id,
                "encoder": data.encoder,
                "vocabulary": data.vocabulary,
                "dim": int(data.vectors.shape[-1]) if data.vectors.size else None,
                "cards": len(data.cards),
                "notes": data.note_hashes,
                "files": files,
                "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            _atomic_write(index_dir / MANIFEST, lambda p: p.write_text(json.dumps(manifest, indent=1), encoding="utf-8"))
    except OSError as exc:
        raise IndexWriteError(f"cannot write the index to {index_dir}: {exc.strerror or exc}. Make it writable or pass --index DIR.") from exc


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def parse_incrementally(corpus: Path, max_bytes: int, old: IndexData | None, hashes: dict[str, str]) -> CorpusParse:
    """Re-parse only the notes whose bytes changed; reuse the stored cards of the others."""
    if old is None:
        return load_corpus(corpus, max_bytes)
    by_note: dict[str, list[Card]] = {}
    for card in old.cards:
        by_note.setdefault(card.note, []).append(card)
    old_problems: dict[str, list[Problem]] = {}
    for problem in old.problems:
        old_problems.setdefault(problem.file, []).append(problem)
    cards: list[Card] = []
    problems: list[Problem] = []
    for note, digest in hashes.items():
        if old.note_hashes.get(note) == digest:
            cards.extend(by_note.get(note, []))
            problems.extend(old_problems.get(note, []))
            continue
        parsed, _ = parse_note_file(corpus, note, max_bytes)
        cards.extend(parsed.cards)
        problems.extend(parsed.problems)
    assign_unique_ids(cards, previous=old.cards)
    return CorpusParse(cards, problems, hashes)


def embed_cards(cards: list[Card], encoder_factory: Callable[[], Encoder], reuse: dict[str, np.ndarray],
                progress: Progress | None = None) -> tuple[np.ndarray, int, Encoder | None]:
    """[n, 2, dim] vectors, how many cards were embedded, and the encoder if one was made.

    Cards whose text hash is in `reuse` keep their stored vectors. The encoder is only made
    (encoder_factory()) when some card's text is new, so deleting a note or moving text around
    never loads the model.
    """
    todo = [i for i, card in enumerate(cards) if card.text_hash not in reuse]
    encoder = encoder_factory() if todo or not reuse else None
    dim = encoder.dim if encoder is not None else next(iter(reuse.values())).shape[-1]
    vectors = np.zeros((len(cards), 2, dim), dtype=np.float32)
    todo_set = set(todo)
    for i, card in enumerate(cards):
        if i in todo_set:
            continue
        cached = reuse[card.text_hash]
        if cached.shape == (2, dim):
            vectors[i] = cached
        else:  # stored with another dimension: embed again
            todo.append(i)
    todo.sort()
    if todo:
        if encoder is None:
            encoder = encoder_factory()
        texts = [cards[i].question for i in todo] + [cards[i].search_text for i in todo]
        encoded = encoder.encode(texts, batch_size=32, progress=progress)
        vectors[todo, 0] = encoded[: len(todo)]
        vectors[todo, 1] = encoded[len(todo) :]
    return vectors, len(todo), encoder
