"""The public API: `KnowledgeBase` is what the CLI, the web app and the tests all use."""
from __future__ import annotations

import threading
import time
import unicodedata
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np

from .cards import Card
from .config import Config
from .errors import CardNotFound, CorpusError, IndexCorruptError, IndexWriteError, QueryError
from .index import (
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
from .lexical import LexicalIndex
from .search import MODES, Hit, dense_query_text, dense_scores, rank

MAX_QUERY_CHARS = 2000  # the encoder reads 256 tokens; longer text only costs time
QUERY_VECTOR_CACHE = 256  # query texts whose vectors a KnowledgeBase remembers (~1.5 kB each)
REFRESH_INTERVAL_S = 2.0  # how often a search checks whether the notes changed on disk


def _quiet(_message: str) -> None:
    pass


def clean_query(query: str) -> str:
    """Strip control characters and surplus whitespace; refuse an empty query with a clear message."""
    if not isinstance(query, str):
        raise QueryError("the query must be text")
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in query)
    text = " ".join(text.split())
    if not text:
        raise QueryError("empty query: type a few words, for example 'why clip in PPO'")
    return text[:MAX_QUERY_CHARS]


def open_index(config: Config, encoder_factory: Callable, log: Callable[[str], None] = _quiet, progress=None, force: bool = False) -> tuple[IndexData, BuildReport, object | None]:
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
    old: IndexData | None = None
    try:
        old = load_index(index_dir)
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
        if old.lexical is None:
            _restore_lexical(index_dir, old, log)
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
    data.lexical = LexicalIndex.for_cards(parsed.cards)  # stored beside the vectors: loads skip tokenising
    try:
        save_index(index_dir, data)
    except IndexWriteError as exc:
        report.write_error = str(exc)
        log(f"warning: {exc} The index is kept in memory only for this run.")
    report.cards, report.embedded, report.reused = len(parsed.cards), embedded, len(parsed.cards) - embedded
    report.action = "built" if old is None else "updated"
    report.seconds = time.perf_counter() - started
    return data, report, encoder


def _model_files_changed(old: IndexData, config: Config, report: BuildReport, log) -> bool:
    """Same model name, different weights (a retrained or replaced local model): every vector is stale."""
    recorded = old.encoder.get("model_digest")
    if not recorded:
        return False  # an index from before digests were recorded
    from .embed import current_model_digest

    current = current_model_digest(config.model, config.model_cache)
    if not current or current == recorded:
        return False
    report.rebuilt_reason = f"the files of model {config.model} changed (digest {recorded[:12]} -> {current[:12]}); re-embedding every card"
    log(report.rebuilt_reason)
    old.note_hashes = {}  # every note is parsed again; the cards keep their ids
    return True


def _encoder_record(encoder, config: Config) -> dict:
    from .embed import encoder_record

    return encoder_record(encoder, config.model, config.index, config.model_cache)


def _restore_lexical(index_dir: Path, data: IndexData, log: Callable[[str], None]) -> None:
    """Rebuild a missing, damaged or stale lexical index from the cards (no re-embedding) and store it."""
    data.lexical = LexicalIndex.for_cards(data.cards)
    if data.lexical_problem:
        log(f"warning: the stored lexical index was unusable ({data.lexical_problem}); rebuilt it from the cards")
    try:
        store_lexical(index_dir, data)
    except (IndexWriteError, IndexCorruptError, FileNotFoundError):
        pass  # a read-only or vanished folder: the rebuilt index serves this run from memory


class KnowledgeBase:
    """Cards, the hybrid index over them, and search.

    >>> kb = KnowledgeBase.load(corpus="corpus", index="index")
    >>> kb.search("why does PPO clip the ratio", k=3)[0].card.id
    'how-does-ppo-work-why-the-clip'
    """

    def __init__(self, config: Config, data: IndexData, report: BuildReport, encoder=None, encoder_factory: Callable | None = None, log=_quiet):
        self.config = config
        self.report = report
        self._log = log
        self._encoder = encoder
        self._encoder_factory = encoder_factory or (lambda: _default_encoder(config))
        self._encoder_error: Exception | None = None
        self._encoder_ready = threading.Event()
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._query_vectors_lock = threading.Lock()
        if encoder is not None:
            self._encoder_ready.set()
        self._reload_lock = threading.Lock()
        self._fingerprint = _corpus_fingerprint(config.corpus)
        self._last_check = time.monotonic()
        self._install(data)

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        corpus: "str | Path | Config | None" = None,
        index: str | Path | None = None,
        model: str | None = None,
        config: Config | None = None,
        encoder_factory: Callable | None = None,
        log: Callable[[str], None] = _quiet,
        progress=None,
        force: bool = False,
        background_model: bool = False,
    ) -> "KnowledgeBase":
        """Open the knowledge base, building or updating the index when needed.

        With background_model=True the embedding model loads in a thread, so cards can be
        browsed at once; the first search waits for it.
        """
        if isinstance(corpus, Config):  # KnowledgeBase.load(config) reads naturally too
            corpus, config = None, corpus
        config = config or Config.from_env(corpus=corpus, index=index, model=model)
        factory = encoder_factory or (lambda: _default_encoder(config))
        data, report, encoder = open_index(config, factory, log=log, progress=progress, force=force)
        kb = cls(config, data, report, encoder=encoder, encoder_factory=factory, log=log)
        if encoder is None and background_model:
            kb.start_model_loading()
        return kb

    def _install(self, data: IndexData) -> None:
        self.data = data
        self.cards: list[Card] = data.cards
        self._by_id = {card.id: i for i, card in enumerate(self.cards)}
        self.problems = data.problems
        self.lexical = data.lexical if data.lexical is not None else LexicalIndex.for_cards(self.cards)
        self._family_of = np.array([c.family for c in self.cards], dtype=object)

    # ---- the model ----------------------------------------------------------------------------
    def start_model_loading(self) -> None:
        if self._encoder_ready.is_set() or getattr(self, "_loader", None):
            return

        def load():
            try:
                self._encoder = self._encoder_factory()
            except Exception as exc:  # reported on first use
                self._encoder_error = exc
            finally:
                self._encoder_ready.set()

        self._loader = threading.Thread(target=load, name="kb-model-loader", daemon=True)
        self._loader.start()

    @property
    def model_ready(self) -> bool:
        return self._encoder_ready.is_set() and self._encoder is not None

    @property
    def encoder(self):
        if not self._encoder_ready.is_set():
            self.start_model_loading()
            self._encoder_ready.wait()
        if self._encoder is None:
            raise self._encoder_error or RuntimeError("embedding model failed to load")
        return self._encoder

    # ---- cards ---------------------------------------------------------------------------------
    def card(self, card_id: str) -> Card:
        index = self._by_id.get(card_id) if isinstance(card_id, str) else None
        if index is None:
            raise CardNotFound(f"no card with id {str(card_id)[:200]!r}")
        return self.cards[index]

    def has_card(self, card_id: str) -> bool:
        return isinstance(card_id, str) and card_id in self._by_id

    def families(self) -> list[tuple[str, int]]:
        """Families in corpus order, with their card counts."""
        counts: dict[str, int] = {}
        for card in self.cards:
            counts[card.family] = counts.get(card.family, 0) + 1
        return list(counts.items())

    def family_cards(self, family: str) -> list[Card]:
        return [c for c in self.cards if c.family == family]

    def resolve(self, id_or_text: str) -> Card:
        """A card from its id, its exact question, or the best search match for the text."""
        text = (id_or_text or "").strip()
        if self.has_card(text):
            return self.card(text)
        lowered = text.lower().removeprefix("q:").strip()
        for card in self.cards:
            if card.question.lower() == lowered:
                return card
        hits = self.search(text, k=1)
        if not hits:
            raise CardNotFound(f"no card matches {text[:200]!r}")
        return hits[0].card

    def related(self, card_id: str, k: int = 6):
        """See-also links for a card, each with its reason (kb.links)."""
        from .links import related_links

        return related_links(self, card_id, k)

    # ---- search -------------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, family: str | list[str] | None = None, mode: str = "hybrid") -> list[Hit]:
        """Ranked hits for a query. `family` restricts to one family (or a list of them)."""
        if mode not in MODES:
            raise QueryError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
        text = clean_query(query)
        self.refresh_if_changed()
        allowed = self._family_mask(family)
        k = max(1, int(k))
        data = self.data
        lexical = self.lexical.scores(text) if mode != "dense" else np.zeros(len(data.cards), dtype=np.float32)
        if mode != "lexical":
            vector = self._query_vector(dense_query_text(text, self.lexical))
            dense = dense_scores(data.vectors, vector, data.faiss_index, candidates=max(200, 20 * k))
        else:
            dense = np.zeros(len(data.cards), dtype=np.float32)
        return rank(data.cards, dense, lexical, k, mode=mode, allowed=allowed)

    def _query_vector(self, text: str) -> np.ndarray:
        """The encoder's vector for a query text, remembered for the last QUERY_VECTOR_CACHE texts.

        The app asks for the same text several times in a row (search-as-you-type settles on the
        text that Enter then submits; chat and its follow-ups re-ask), and each encode is ~5 ms.
        """
        with self._query_vectors_lock:
            vector = self._query_vectors.get(text)
            if vector is not None:
                self._query_vectors.move_to_end(text)
                return vector
        vector = self.encoder.encode_query(text)
        vector.setflags(write=False)  # shared between callers
        with self._query_vectors_lock:
            self._query_vectors[text] = vector
            while len(self._query_vectors) > QUERY_VECTOR_CACHE:
                self._query_vectors.popitem(last=False)
        return vector

    def clear_query_cache(self) -> None:
        """Forget remembered query vectors (benchmarks time the encoder, not the cache)."""
        with self._query_vectors_lock:
            self._query_vectors.clear()

    def _family_mask(self, family) -> np.ndarray | None:
        if not family:
            return None
        wanted = [family] if isinstance(family, str) else list(family)
        known = {name.lower(): name for name, _ in self.families()}
        chosen = []
        for name in wanted:
            if name.lower() not in known:
                raise QueryError(f"unknown family {name!r}; known families: {', '.join(known.values())}")
            chosen.append(known[name.lower()])
        return np.isin(self._family_of, chosen)

    # ---- freshness -------------------------------------------------------------------------------
    def refresh_if_changed(self, force_check: bool = False) -> bool:
        """Pick up edited notes without a restart: a cheap stat() fingerprint, checked every few seconds."""
        now = time.monotonic()
        if not force_check and now - self._last_check < REFRESH_INTERVAL_S:
            return False
        self._last_check = now
        fingerprint = _corpus_fingerprint(self.config.corpus)
        if fingerprint == self._fingerprint:
            return False
        with self._reload_lock:
            if fingerprint == self._fingerprint:
                return False
            try:
                data, report, encoder = open_index(self.config, lambda: self.encoder, log=self._log)
            except (CorpusError, IndexCorruptError) as exc:
                self._log(f"warning: notes changed but could not be re-indexed: {exc}")
                self._fingerprint = fingerprint
                return False
            self._install(data)
            self.report = report
            self._fingerprint = fingerprint
            return report.action != "loaded"


def _corpus_fingerprint(corpus: Path) -> tuple:
    from .parse import note_paths

    try:
        return tuple((p.as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in note_paths(corpus))
    except OSError:
        return ()


def _default_encoder(config: Config):
    # Queries via ONNX Runtime (no torch); very large builds may use torch bf16 (see kb/embed.py).
    from .embed import load_build_encoder

    return load_build_encoder(config.model, cache=config.model_cache)
