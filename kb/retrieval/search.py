"""Hybrid retrieval: dense (FAISS) + lexical (BM25), fused by a weighted sum of normalised scores.

One search shape for all three modes (dense, lexical, hybrid); results are `Hit`s carrying their card.
The dense query is the typo-repaired text plus the synonym list's other forms (`dense_query_text`);
typo repair and synonym concepts for BM25 live in kb/retrieval/lexical.py. `is_confident` is the chat's
abstention rule. Quality and calibration: benchmarks/eval_search.py.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from kb.calibration import BY_NAME
from kb.errors import QueryError
from kb.notes.cards import Card

if TYPE_CHECKING:
    from kb.retrieval.lexical import LexicalIndex

# Tuned on the dev split of benchmarks/queries.jsonl (benchmarks/eval_search.py); the dev results
# are flat around these values (dense weight 0.4-0.6, saturation 3-12), so they are not knife-edge.
DENSE_WEIGHT = 0.5
QUESTION_VECTOR_WEIGHT = 0.3  # dense score = mix of the question vector and the question+answer vector
BM25_SATURATION = 6.0  # bm25 -> bm25 / (bm25 + k): an absolute scale, comparable across queries
SearchMode = Literal["hybrid", "dense", "lexical"]
MODES: tuple[SearchMode, ...] = get_args(SearchMode)
# Abstention for the chat: below this confidence the notes probably do not cover the question.
# Calibrated by benchmarks/eval_search.py on on-topic dev queries vs off-topic dev questions.
ABSTAIN_THRESHOLD = BY_NAME["search.abstain_threshold"].value  # 0.27 under all-MiniLM-L6-v2 (kb/calibration.py)


# Coverage: a question is about a card only if it is closer to it than the cards of this corpus
# usually are to their nearest *other* card. Each card's question is asked with that card left out;
# the COVERAGE_QUANTILE-th percentile of those best-other scores is the corpus's floor for the top
# hit's dense score. Self-supervised, so it follows the corpus (dense notes get a higher floor).
COVERAGE_QUANTILE = 25
# A question that names something the notes never mention ("DBSCAN", "Adam") is answered only from a
# card closer than 3 in 4 of this corpus's cards are to their nearest other card: a name the notes do
# not use can still be another name for what a card is about ("Wasserstein GAN" for WGAN).
UNFAMILIAR_NAME_QUANTILE = 75
COVERAGE_SAMPLE = 2000  # cards whose question is asked: enough for a stable percentile at any size


def nearest_other_scores(vectors: np.ndarray, sample: int = COVERAGE_SAMPLE, seed: int = 0) -> np.ndarray:
    """Each (sampled) card's question asked with that card left out: the best score of another card."""
    n = vectors.shape[0]
    if n < 3:
        return np.zeros(0, dtype=np.float32)
    rows = np.arange(n) if n <= sample else np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))
    best_other = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(rows), 256):  # blocks keep memory at 256 x n
        block = rows[start : start + 256]
        scores = np.stack([_card_scores(vectors, vectors[i, 0]) for i in block])
        scores[np.arange(len(block)), block] = -np.inf  # leave the card itself out
        best_other[start : start + len(block)] = scores.max(axis=1)
    return best_other


def coverage_floor(nearest_other: np.ndarray, quantile: float = COVERAGE_QUANTILE) -> float:
    """The dense score a question must reach to count as covered by this corpus, from its
    `nearest_other_scores` (0 when too few cards)."""
    return float(np.percentile(nearest_other, quantile)) if len(nearest_other) else 0.0


def confidence_signal(hits: list[Hit]) -> float:
    """The hybrid score of the best hit, recomputed from its dense and BM25 parts.

    Recomputing makes the signal the same whatever mode produced the hits: the fused hybrid
    score (DENSE_WEIGHT * cosine + (1 - DENSE_WEIGHT) * saturated BM25). Hits from a
    lexical-only search have no dense part and so look less confident, which is the safe side.
    """
    if not hits:
        return 0.0
    return max(float(fuse(np.array([h.dense]), np.array([h.lexical]))[0]) for h in hits)


def is_confident(hits: list[Hit], floor: float = 0.0, threshold: float = ABSTAIN_THRESHOLD) -> bool:
    """True when the best hit is likely to answer the question: its fused score reaches `threshold`
    (ABSTAIN_THRESHOLD, or the model's recalibrated one) and its dense score the corpus's coverage floor,
    so that shared keywords alone (one rare word such as "normalization") cannot make an answer."""
    return bool(hits) and confidence_signal(hits) >= threshold and hits[0].dense >= floor


@dataclass
class Hit:
    card: Card
    score: float
    dense: float  # cosine similarity of the best-matching vector
    lexical: float  # raw BM25 score
    signals: list[str] = field(default_factory=list)  # which retrievers ranked it near the top

    @property
    def id(self) -> str:
        return self.card.id

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.card.id,
            "question": self.card.question,
            "family": self.card.family,
            "score": round(float(self.score), 4),
            "dense": round(float(self.dense), 4),
            "lexical": round(float(self.lexical), 4),
            "signals": self.signals,
        }


def dense_query_text(query: str, lexical: LexicalIndex) -> str:
    """What the encoder reads for a query: typos repaired, synonyms appended.

    The small encoder does not know that "proximal policy optimization" is "PPO" or that
    "pinball loss" is "quantile loss"; naming the other forms lets it meet the card's wording.
    """
    text = lexical.corrected(query)
    extra = lexical.synonyms.other_forms(text)
    return f"{text} ({', '.join(extra)})" if extra else text


# faiss_index is Any: IndexData keeps it as `object`, and faiss's generated stubs do not type the numpy `search(x, k)` wrapper
def dense_scores(vectors: np.ndarray, query_vector: np.ndarray, faiss_index: Any = None, candidates: int | None = None) -> np.ndarray:
    """Per-card dense score. Exact (matrix product) for small corpora; via FAISS for large ones."""
    n = vectors.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    if faiss_index is None or candidates is None or 2 * n <= candidates or _is_exact(faiss_index):
        # An exact index would only redo this product (measured at 10k cards on 2 busy cores: FAISS flat
        # top-200 32 ms, this 1.2 ms), and here every card keeps its true score.
        return _card_scores(vectors, query_vector)
    # Large corpus, approximate index: FAISS proposes candidate rows; those cards get exact scores, the rest 0.
    _, rows = faiss_index.search(query_vector[None, :].astype(np.float32), candidates)
    found = np.unique(rows[0][rows[0] >= 0] // 2)
    out = np.zeros(n, dtype=np.float32)
    out[found] = _card_scores(vectors[found], query_vector)
    return out


def _card_scores(vectors: np.ndarray, query_vector: np.ndarray) -> np.ndarray:
    # One 2-D product (a BLAS gemv); the same product on the [n, 2, dim] array is ~10x slower.
    sims = (vectors.reshape(-1, vectors.shape[-1]) @ query_vector).reshape(-1, 2)
    scores: np.ndarray = QUESTION_VECTOR_WEIGHT * sims[:, 0] + (1 - QUESTION_VECTOR_WEIGHT) * sims[:, 1]
    return scores


def _is_exact(faiss_index: object) -> bool:
    import faiss

    return isinstance(faiss_index, faiss.IndexFlat)


def fuse(dense: np.ndarray, lexical: np.ndarray, mode: SearchMode = "hybrid") -> np.ndarray:
    lexical_norm = lexical / (lexical + BM25_SATURATION)
    if mode == "dense":
        return dense
    if mode == "lexical":
        return lexical_norm
    return DENSE_WEIGHT * dense + (1 - DENSE_WEIGHT) * lexical_norm


def top_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """The same as np.argsort(-scores, kind="stable")[:k] (ties keep corpus order), without sorting
    everything: at 100k cards three full sorts cost ~30 ms per search, this ~2 ms."""
    n = scores.shape[0]
    if k >= n or n <= 2048:
        return np.argsort(-scores, kind="stable")[:k]
    kth = np.partition(scores, n - k)[n - k]  # the k-th largest score
    candidates = np.flatnonzero(scores >= kth)  # every card that can be in the top k, in corpus order
    return candidates[np.argsort(-scores[candidates], kind="stable")][:k]


def rank(
    cards: list[Card],
    dense: np.ndarray,
    lexical: np.ndarray,
    k: int,
    mode: SearchMode = "hybrid",
    allowed: np.ndarray | None = None,
) -> list[Hit]:
    """Top-k hits by fused score; `allowed` is a boolean mask (family filter)."""
    if not cards:
        return []
    fused = fuse(dense, lexical, mode).astype(np.float64)
    if allowed is not None:
        fused = np.where(allowed, fused, -np.inf)
    k = max(0, min(k, int(np.isfinite(fused).sum())))
    if k == 0:
        return []
    order = top_indices(fused, k)
    signal_depth = max(k, 10)
    dense_top = set(top_indices(dense, signal_depth).tolist()) if mode != "lexical" else set()
    lexical_top = set(top_indices(lexical, signal_depth).tolist()) if mode != "dense" else set()
    hits = []
    for i in order:
        signals = []
        if i in dense_top:
            signals.append("dense")
        if i in lexical_top and lexical[i] > 0:
            signals.append("lexical")
        hits.append(Hit(cards[i], float(fused[i]), float(dense[i]), float(lexical[i]), signals))
    return hits


MAX_QUERY_CHARS = 2000  # the encoder reads 256 tokens; longer text only costs time


def search_mode(value: str) -> SearchMode:
    """A search mode as typed by a user or a caller; QueryError names the known ones."""
    for mode in MODES:
        if value == mode:
            return mode
    raise QueryError(f"unknown search mode {value!r}; choose one of {', '.join(MODES)}")


def clean_query(query: str) -> str:
    """Strip control characters and surplus whitespace; refuse an empty query with a clear message."""
    if not isinstance(query, str):
        raise QueryError("the query must be text")
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in query)
    text = " ".join(text.split())
    if not text:
        raise QueryError("empty query: type a few words, for example 'why clip in PPO'")
    return text[:MAX_QUERY_CHARS]
