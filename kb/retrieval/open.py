"""Open an index: load it, or update or build it when it is missing, stale or corrupt.

The corpus is the source of truth and index/ a cache: only changed notes are parsed again and only
changed cards re-embedded; a model whose files changed re-embeds everything.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kb.config import Config
from kb.embed import current_model_digest, encoder_record
from kb.embed.base import Encoder, Progress
from kb.errors import CorpusError, IndexCorruptError, IndexWriteError
from kb.notes.corpus import note_paths
from kb.retrieval.index import (
    BuildReport,
    IndexData,
    corpus_hashes,
    embed_cards,
    load_index,
    make_faiss_index,
    parse_incrementally,
    save_index,
    store_lexical,
)
from kb.retrieval.lexical import LexicalIndex, PhraseMatcher
from kb.vocab import Vocabulary


def quiet(_message: str) -> None:
    pass


def open_index(config: Config, encoder_factory: Callable[[], Encoder], log: Callable[[str], None] = quiet,
               progress: Progress | None = None, force: bool = False) -> tuple[IndexData, BuildReport, Encoder | None]:
    """Load the index, or update/build it when it is missing, stale or corrupt.

    Returns the index data, a report of what was done, and the encoder if one had to be loaded.
    """
    started = time.perf_counter()
    corpus, index_dir = config.corpus, config.index
    if not corpus.is_dir():
        raise CorpusError(f"corpus folder {corpus} does not exist (set --corpus or KB_CORPUS)")
    hashes = corpus_hashes(corpus, config.max_note_bytes)
    if not hashes:
        raise CorpusError(f"no markdown notes (*.md) found in {corpus}")
    report = BuildReport()
    vocabulary = Vocabulary.for_corpus(corpus, config.vocab)  # ConfigError for an unknown pack, before any work
    synonyms = PhraseMatcher(vocabulary.synonym_groups)
    old: IndexData | None = None
    try:
        old = load_index(index_dir, synonyms)
    except FileNotFoundError:
        report.rebuilt_reason = "no index yet"
    except IndexCorruptError as exc:
        report.rebuilt_reason = f"index was corrupt or half-written ({exc}); rebuilt it from the corpus"
        log(f"warning: {report.rebuilt_reason}")
    if old is not None and old.model_id != config.model:
        report.rebuilt_reason = f"model changed from {old.model_id} to {config.model}; re-embedding everything"
        log(report.rebuilt_reason)
        old = None
    stale_vectors = old is not None and _model_files_changed(old, config, report, log)
    if force and old is not None:
        report.rebuilt_reason = "rebuild requested"
        old = None
    if old is not None and old.note_hashes == hashes:
        if old.lexical is None or old.vocabulary != vocabulary_record(vocabulary):
            old.vocabulary = vocabulary_record(vocabulary)
            _restore_lexical(index_dir, old, log, synonyms)
        report.cards, report.reused = len(old.cards), len(old.cards)
        report.seconds = time.perf_counter() - started
        return old, report, None

    report.notes_changed = sorted(n for n in set(hashes) | set(old.note_hashes if old else {}) if (old.note_hashes.get(n) if old else None) != hashes.get(n))
    parsed = parse_incrementally(corpus, config.max_note_bytes, old, hashes)
    for problem in parsed.problems:
        if old is None or problem.file in report.notes_changed:
            log(f"warning: {problem}")
    if not parsed.cards:
        raise CorpusError(f"nothing could be indexed in {corpus}: {len(parsed.problems)} problem(s), see the warnings above")
    reuse = {card.text_hash: old.vectors[i] for i, card in enumerate(old.cards)} if old is not None and not stale_vectors else {}
    vectors, embedded, encoder = embed_cards(parsed.cards, encoder_factory, reuse, progress=progress)  # model loads only if needed
    faiss_index = make_faiss_index(vectors.reshape(-1, vectors.shape[-1]))
    data = IndexData(parsed.cards, vectors, faiss_index, parsed.problems, hashes, config.model)
    data.encoder = _encoder_record(encoder, config) if encoder is not None else dict(old.encoder if old else {})
    data.lexical = LexicalIndex.for_cards(parsed.cards, synonyms)  # stored beside the vectors: loads skip tokenising
    data.vocabulary = vocabulary_record(vocabulary)
    try:
        save_index(index_dir, data)
    except IndexWriteError as exc:
        report.write_error = str(exc)
        log(f"warning: {exc} The index is kept in memory only for this run.")
    report.cards, report.embedded, report.reused = len(parsed.cards), embedded, len(parsed.cards) - embedded
    report.action = "built" if old is None else "updated"
    report.seconds = time.perf_counter() - started
    return data, report, encoder


def _model_files_changed(old: IndexData, config: Config, report: BuildReport, log: Callable[[str], None]) -> bool:
    """Same model name, different weights (a retrained or replaced local model): every vector is stale."""
    recorded = old.encoder.get("model_digest")
    if not recorded:
        return False  # an index from before digests were recorded

    current = current_model_digest(config.model, config.model_cache)
    if not current or current == recorded:
        return False
    report.rebuilt_reason = f"the files of model {config.model} changed (digest {recorded[:12]} -> {current[:12]}); re-embedding every card"
    log(report.rebuilt_reason)
    old.note_hashes = {}  # every note is parsed again; the cards keep their ids
    return True


def _encoder_record(encoder: Encoder, config: Config) -> dict[str, Any]:
    return encoder_record(encoder, config.model, config.index, config.model_cache)


def vocabulary_record(vocabulary: Vocabulary) -> dict[str, object]:
    """What the manifest keeps about the vocabulary: changing it rebuilds the lexical index."""
    return {"packs": list(vocabulary.packs), "files": vocabulary.file_names(), "signature": vocabulary.signature}


def _restore_lexical(index_dir: Path, data: IndexData, log: Callable[[str], None], synonyms: PhraseMatcher | None = None) -> None:
    """Rebuild a missing, damaged or stale lexical index from the cards (no re-embedding) and store it."""
    data.lexical = LexicalIndex.for_cards(data.cards, synonyms)
    if data.lexical_problem:
        log(f"warning: the stored lexical index was unusable ({data.lexical_problem}); rebuilt it from the cards")
    try:
        store_lexical(index_dir, data)
    except (IndexWriteError, IndexCorruptError, FileNotFoundError):
        pass  # a read-only or vanished folder: the rebuilt index serves this run from memory


def corpus_fingerprint(corpus: Path) -> tuple[tuple[str, int, int], ...]:
    try:
        return tuple((p.as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in note_paths(corpus))
    except OSError:
        return ()


