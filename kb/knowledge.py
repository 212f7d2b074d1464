"""The public API: `KnowledgeBase` is what the CLI, the web app, scripts and tests use.

Each method is a thin call into the room that does the work (kb.retrieval, kb.links, kb.coach).
Per-index caches (the link graph, the grader) live here and are dropped whenever the index is
reloaded, so no surface stores anything on a KnowledgeBase.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, TypeVar, cast

import numpy as np

from kb import calibration
from kb.config import Config
from kb.errors import CardNotFound, CorpusError, IndexCorruptError
from kb.notes.cards import Card
from kb.notes.corpus import Problem
from kb.retrieval.index import BuildReport, IndexData
from kb.retrieval.lexical import LexicalIndex, PhraseMatcher
from kb.retrieval.open import corpus_fingerprint, open_index, quiet
from kb.retrieval.retriever import Retriever
from kb.retrieval.search import Hit
from kb.vocab import Vocabulary

if TYPE_CHECKING:  # the rooms above retrieval load on first use, so a one-off `kb search` stays fast
    from kb.anki.export import AnkiExport
    from kb.anki.history import HistoryReport
    from kb.anki.importer import AnkiImport
    from kb.coach.chat import ChatReply
    from kb.coach.grade import Grade, Grader
    from kb.coach.grade.grader import Weights
    from kb.coach.grade.history import CardHistory
    from kb.coach.interview import Families, InterviewSession
    from kb.coach.note_history import NoteHistoryReport
    from kb.coach.progress import ProfileProgress, ProgressStore
    from kb.embed.base import Encoder, Progress
    from kb.links.related import Link, LinkGraph, TopicGraph
    from kb.notes.concepts import Glossary
    from kb.retrieval.recalibrate import Recalibration
    from kb.voice import Transcript

QUERY_VECTOR_CACHE = 256  # query texts whose vectors a KnowledgeBase remembers (~1.5 kB each)
REFRESH_INTERVAL_S = 2.0  # how often a search checks whether the notes changed on disk
_T = TypeVar("_T")


class ModelThreshold(TypedDict):
    """One model-dependent threshold, as KnowledgeBase.model_thresholds() lists it."""

    name: str
    shipped: float  # the value tuned on the shipped model
    value: float  # the value in force for this index's model
    needs_labels: bool
    used_by: str
    provenance: str


class KnowledgeBase:
    """Your notes as cards, searchable, linked, and ready to chat about and drill.

    >>> kb = KnowledgeBase.load(corpus="corpus", index="index")
    >>> kb.search("why does PPO clip the ratio", k=3)[0].card.id
    'how-does-ppo-work-why-the-clip'
    """

    def __init__(self, config: Config, data: IndexData, report: BuildReport, encoder: Encoder | None = None,
                 encoder_factory: Callable[[], Encoder] | None = None, log: Callable[[str], None] = quiet) -> None:
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
        self._caches: dict[str, object] = {}  # per-index: emptied by _install
        self._caches_lock = threading.Lock()
        self._progress_store: ProgressStore | None = None
        self.vocabulary = Vocabulary.for_corpus(config.corpus, config.vocab)
        self._fingerprint = corpus_fingerprint(config.corpus)
        self._last_check = time.monotonic()
        self._install(data)

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        corpus: str | Path | Config | None = None,
        index: str | Path | None = None,
        model: str | None = None,
        config: Config | None = None,
        encoder_factory: Callable[[], Encoder] | None = None,
        log: Callable[[str], None] = quiet,
        progress: Progress | None = None,
        force: bool = False,
        background_model: bool = False,
    ) -> KnowledgeBase:
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
        self._cards: list[Card] = data.cards
        self._by_id = {card.id: i for i, card in enumerate(self._cards)}
        self.problems: list[Problem] = data.problems
        self.lexical = data.lexical if data.lexical is not None else LexicalIndex.for_cards(self._cards, PhraseMatcher(self.vocabulary.synonym_groups))
        self.retriever = Retriever(data, self.lexical, self._query_vector, calibration.for_index(self.config.index, self.config.model))
        with self._caches_lock:
            self._caches = {}

    def _cached(self, name: str, make: Callable[[], _T]) -> _T:
        """A per-index object (link graph, grader), made once and dropped when the index reloads."""
        with self._caches_lock:
            caches = self._caches
            if name in caches:
                return cast(_T, caches[name])  # stored by make() under this name
        value = make()
        with self._caches_lock:
            if caches is self._caches:  # not reloaded meanwhile
                caches.setdefault(name, value)
                return cast(_T, caches[name])
        return value

    # ---- the model ----------------------------------------------------------------------------
    def start_model_loading(self) -> None:
        if self._encoder_ready.is_set() or getattr(self, "_loader", None):
            return

        def load() -> None:
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
    def encoder(self) -> Encoder:
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
        return self._cards[index]

    def has_card(self, card_id: str) -> bool:
        return isinstance(card_id, str) and card_id in self._by_id

    def families(self) -> list[tuple[str, int]]:
        """Families in corpus order, with their card counts."""
        counts: dict[str, int] = {}
        for card in self._cards:
            counts[card.family] = counts.get(card.family, 0) + 1
        return list(counts.items())

    def family_cards(self, family: str) -> list[Card]:
        return [c for c in self._cards if c.family == family]

    def cards(self, family: str | list[str] | None = None) -> list[Card]:
        """Every card in corpus order, or those of one family (or several); QueryError names unknown families."""
        mask = self.retriever.family_mask(family)
        if mask is None:  # no family given
            return list(self._cards)
        return [card for card, keep in zip(self._cards, mask, strict=True) if keep]

    def placeholder_problems(self) -> list[Problem]:
        """Questions left unanswered in the notes ("Answer here"): reported, not indexed."""
        return [p for p in self.problems if p.kind == "placeholder"]

    def broken_links(self) -> list[Problem]:
        """[[wiki-links]] in the notes that reach no card, section or note, with file and line."""
        from kb.notes.wikilinks import broken_links_in_notes

        return broken_links_in_notes(self.config.corpus, self._cards, self.config.max_note_bytes)

    def resolve(self, id_or_text: str) -> Card:
        """A card from its id, its exact question, or the best search match for the text."""
        text = (id_or_text or "").strip()
        if self.has_card(text):
            return self.card(text)
        lowered = text.lower().removeprefix("q:").strip()
        for card in self._cards:
            if card.question.lower() == lowered:
                return card
        hits = self.search(text, k=1)
        if not hits:
            raise CardNotFound(f"no card matches {text[:200]!r}")
        return hits[0].card

    # ---- links and concepts ----------------------------------------------------------------------
    def _link_graph(self) -> LinkGraph:
        from kb.links.related import LinkGraph

        return self._cached("link_graph", lambda: LinkGraph(self._cards, self.data.vectors, self.vocabulary.synonyms_as_written))

    def related(self, card_id: str, k: int = 6) -> list[Link]:
        """See-also links for a card, ranked, each with its reason (kb.links)."""
        from kb.links.related import related_links

        return related_links(self._link_graph(), self.card(card_id).id, k)

    def similar(self, card_id: str, k: int = 6) -> list[str]:
        """Plain nearest cards by question+answer vector: the baseline the links are measured against."""
        from kb.links.related import plain_neighbours

        return plain_neighbours(self._link_graph(), self.card(card_id).id, k)

    def concepts(self) -> Glossary:
        """The concept glossary derived from the notes (acronyms, defined terms), each with its home card."""
        return self._link_graph().glossary

    def topic_graph(self, per_card: int = 3) -> TopicGraph:
        """Cards as nodes and their `per_card` best see-also links as edges: what the Topic map draws."""
        from kb.links.related import topic_graph

        return self._cached(f"topic_graph:{per_card}", lambda: topic_graph(self._link_graph(), per_card))

    def answer_with_links(self, card_id: str, href: Callable[[str], str]) -> str:
        """The card's answer markdown with its [[wiki-links]] as links; `href(card_id)` is the surface's address."""
        from kb.notes.wikilinks import wikilinks_to_markdown

        card = self.card(card_id)
        return wikilinks_to_markdown(card.answer_md, card.note, self._link_graph().resolver, href)

    def model_thresholds(self) -> list[ModelThreshold]:
        """Every model-dependent threshold (kb/calibration.py): its shipped value, the value in force for this
        index's model, whether it needs labels to recalibrate, who reads it and what measured it."""
        in_force = self.retriever.thresholds
        return [{"name": t.name, "shipped": t.value, "value": in_force.values.get(t.name, t.value), "needs_labels": t.needs_labels,
                 "used_by": t.used_by, "provenance": t.provenance} for t in calibration.THRESHOLDS]

    def model_is_shipped(self) -> bool:
        """Whether the configured embedding model is the one every threshold was tuned on."""
        return self.config.model == calibration.SHIPPED_MODEL

    def calibrate_model(self, seed: int = 0) -> Recalibration:
        """Recalibrate the label-free thresholds (kb/calibration.py) from the shipped model to the configured
        one, by leave-one-out on these cards' questions under both; stored beside the index and used from now
        on for this model. The thresholds fitted on labels keep the shipped values."""
        from kb.embed import load_build_encoder
        from kb.retrieval import recalibrate
        from kb.retrieval.index import embed_cards

        n = len(self._cards)
        universe = np.arange(n) if n <= recalibrate.UNIVERSE else np.sort(np.random.default_rng(seed).choice(n, recalibrate.UNIVERSE, replace=False))
        cards = [self._cards[i] for i in universe]
        shipped = load_build_encoder(calibration.SHIPPED_MODEL, cache=self.config.model_cache)
        shipped_vectors, _, _ = embed_cards(cards, lambda: shipped, {})
        result = recalibrate.recalibrate([c.question for c in cards], self.data.vectors[universe], shipped_vectors,
                                         lambda question: self.lexical.scores(question)[universe], self.config.model, seed)
        recalibrate.save(result, self.config.index)
        self.retriever.thresholds = calibration.for_index(self.config.index, self.config.model)
        return result

    # ---- chat, grading, interview, progress ---------------------------------------------------------
    def ask(self, message: str, topic: str | None = None, profile: str | None = None, store: ProgressStore | None = None) -> ChatReply:
        """Answer from the nearest cards, citing them; `topic` is the previous reply's `.topic` for follow-ups.
        With `profile`, cards that profile marked "not what I asked" for this question are never its answer."""
        from kb.coach import chat

        rejected: frozenset[str] = frozenset()
        if profile is not None:
            rejected = (store or self.progress_store()).rejected_cards(profile, str(message or ""))
        self.refresh_if_changed()
        return chat.answer(self.retriever, self.related, self.encoder, message, topic, rejected)

    def grade(self, card_id: str | Card, answer: str, hints: int = 0, profile: str | None = None, store: ProgressStore | None = None) -> Grade:
        """Score a free-text answer against a card: key points covered and missed, contradictions.
        With `profile`, the answers that profile labelled for this card are references too
        (`kb.progress(profile).mark(...)`; kb/coach/grade/history.py)."""
        card = self.card(card_id) if isinstance(card_id, str) else card_id
        history: CardHistory | None = None
        weights: Weights | None = None
        if profile is not None:
            store = store or self.progress_store()
            history = store.card_history(profile, card.id, getattr(self.encoder, "model_id", ""), getattr(self.encoder, "dim", None))
            weights = store.grader_weights(profile)  # `kb calibrate grader`, when it was adopted
        return self.grader().grade(card, answer, hints, history, weights)

    def grader(self) -> Grader:
        """The Grader of this index: its vocabulary, and its cards to see an answer to another question."""
        from kb.coach.grade import CardSpace, Grader

        return self._cached("grader", lambda: Grader(self.encoder, self.vocabulary, CardSpace(self._cards, self.data.vectors)))

    def progress_store(self) -> ProgressStore:
        """The progress database in the configured data folder (KB_DATA), opened once."""
        from kb.coach.progress import ProgressStore

        with self._caches_lock:
            if self._progress_store is None:
                self._progress_store = ProgressStore.in_data_dir(self.config.data)  # ProgressStoreError names the file
            return self._progress_store

    def progress(self, profile: str = "default", store: ProgressStore | None = None) -> ProfileProgress:
        """One profile's interview history, mastery and due cards (in `store`, else the configured database)."""
        from kb.coach.progress import ProfileProgress

        return ProfileProgress(store or self.progress_store(), profile, self)

    def interview(self, profile: str = "default", families: Families = None, length: int = 5, mode: str = "due", seed: int | None = None,
                  follow_ups: bool = True, store: ProgressStore | None = None, card_ids: list[str] | None = None) -> InterviewSession:
        """A mock interview over the chosen families; every graded answer is stored under `profile`."""
        from kb.coach.interview import InterviewSession

        return InterviewSession(self, store or self.progress_store(), profile=profile, families=families, length=length,
                                mode=mode, seed=seed, follow_ups=follow_ups, card_ids=card_ids)

    # ---- voice answers (the optional `voice` extra) ---------------------------------------------------
    @staticmethod
    def voice_available() -> bool:
        """True when speech to text can run: the voice extra is installed and KB_VOICE_MODEL is not off."""
        from kb.voice import voice_available

        return voice_available()

    def transcribe(self, audio_path: str | Path, card_id: str | None = None) -> Transcript:
        """The words spoken in a recording, biased toward the corpus vocabulary: the glossary, and when
        `card_id` is given, that card's question and bold terms first. VoiceUnavailable without the extra."""
        from kb.voice import decoder_prompt, transcribe, vocabulary_terms

        card = self.card(card_id) if card_id else None
        terms = vocabulary_terms(card, self.concepts())
        return transcribe(audio_path, prompt=decoder_prompt(terms, card.question if card else None))

    # ---- Anki ----------------------------------------------------------------------------------
    def export_anki(self, out: str | Path, families: str | list[str] | None = None, profile: str | None = None, weak: int | None = None,
                    store: ProgressStore | None = None, deck: str | None = None) -> AnkiExport:
        """Write the cards (or `families`' cards, or `profile`'s `weak` weakest) as an Anki .apkg (kb.anki.export).

        Every card of the corpus gets a stable GUID (kept in <corpus>/.kb/anki-guids.json), so importing a
        newer export into Anki updates its notes, even after a question was reworded. Returns an AnkiExport.
        """
        from kb.anki.export import export_package, weakest
        from kb.coach.scheduling import retrievability

        self.refresh_if_changed(force_check=True)
        chosen = self.cards(families)
        if weak is not None:
            states = (store or self.progress_store()).card_states(profile or "default")
            chosen = weakest(chosen, states, weak, retrievability)
        return export_package(self.cards(), chosen, self.config.corpus, Path(out), deck)

    def import_anki_history(self, imported: AnkiImport, profile: str = "default", store: ProgressStore | None = None) -> HistoryReport:
        """Replay the review log of an `import_anki` result into `profile`'s progress (kb.anki.history): FSRS
        continues where Anki left off. Reviews already there are not added twice. Returns a HistoryReport."""
        from kb.anki.history import replay_history

        self.refresh_if_changed(force_check=True)
        return replay_history(imported, self.cards(), store or self.progress_store(), profile)

    def import_note_history(self, profile: str = "default", store: ProgressStore | None = None) -> NoteHistoryReport:
        """Replay the review state the notes carry (Obsidian Spaced Repetition comments, Logseq `card-*`
        properties) into `profile`: one review per card, its last. Returns a NoteHistoryReport."""
        from kb.coach.note_history import replay_note_states

        self.refresh_if_changed(force_check=True)
        return replay_note_states(self.cards(), store or self.progress_store(), profile)

    # ---- search -------------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, family: str | list[str] | None = None, mode: str = "hybrid") -> list[Hit]:
        """Ranked hits for a query. `family` restricts to one family (or a list of them)."""
        self.refresh_if_changed()
        return self.retriever.search(query, k, family, mode)

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

    # ---- freshness -------------------------------------------------------------------------------
    def refresh_if_changed(self, force_check: bool = False) -> bool:
        """Pick up edited notes without a restart: a cheap stat() fingerprint, checked every few seconds."""
        now = time.monotonic()
        if not force_check and now - self._last_check < REFRESH_INTERVAL_S:
            return False
        self._last_check = now
        fingerprint = corpus_fingerprint(self.config.corpus)
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


def _default_encoder(config: Config) -> Encoder:
    from kb.embed import load_build_encoder  # the encoder loads on first use (browsing needs none)

    # Queries via ONNX Runtime (no torch); very large builds may use torch bf16 (see kb/embed/choose.py).
    return load_build_encoder(config.model, cache=config.model_cache)
