"""The scale machinery at a small size: the synthetic corpus, the HNSW branch of the index, bench_scale's run.

The HNSW branch normally starts at EXACT_SEARCH_MAX_ROWS rows (tens of thousands of cards); here the
threshold is lowered so a ~1,200-card corpus goes through it, with the real model and real FAISS, and
its results are compared with exact search. Speed is not asserted: that is benchmarks/bench_scale.py.
"""
from __future__ import annotations

import numpy as np
import pytest

from kb import Config, KnowledgeBase
from kb.retrieval.index import load_index
from tests.support import load_benchmark

CARDS = 1200


@pytest.fixture(scope="module")
def synthetic_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale-small")
    paths = load_benchmark("synthetic_corpus").write_corpus(root / "corpus", CARDS, seed=3, answer_words=12)
    return root, paths


def test_synthetic_corpus_has_exactly_the_cards_asked_for(synthetic_corpus):
    from kb.notes.corpus import load_corpus

    root, paths = synthetic_corpus
    parsed = load_corpus(root / "corpus")
    assert len(parsed.cards) == CARDS
    assert len({c.id for c in parsed.cards}) == CARDS
    assert not parsed.problems, parsed.problems[:3]
    assert len(paths) == CARDS // 50


@pytest.fixture(scope="module")
def hnsw_kb(synthetic_corpus, encoder):
    import kb.retrieval.index

    root, _ = synthetic_corpus
    saved = kb.retrieval.index.EXACT_SEARCH_MAX_ROWS
    kb.retrieval.index.EXACT_SEARCH_MAX_ROWS = 1000  # 1,200 cards = 2,400 rows: the HNSW branch
    try:
        yield KnowledgeBase.load(config=Config(corpus=root / "corpus", index=root / "index", data=root / "data"), encoder_factory=lambda: encoder)
    finally:
        kb.retrieval.index.EXACT_SEARCH_MAX_ROWS = saved


def test_hnsw_index_is_built_saved_and_loaded(hnsw_kb):
    import faiss

    assert isinstance(hnsw_kb.data.faiss_index, faiss.IndexHNSWFlat)
    stored = load_index(hnsw_kb.config.index)
    assert isinstance(stored.faiss_index, faiss.IndexHNSWFlat)
    assert stored.faiss_index.ntotal == 2 * CARDS
    assert stored.faiss_index.hnsw.efSearch == hnsw_kb.data.faiss_index.hnsw.efSearch


def test_hnsw_search_finds_what_exact_search_finds(hnsw_kb, encoder):
    """Card-level recall@10 of the approximate dense scores against the exact matrix product."""
    from kb.retrieval.search import dense_scores

    data = hnsw_kb.data
    questions = [c.question for c in data.cards[::24]]  # 50 real questions
    recalls = []
    for q in questions:
        vector = encoder.encode_query(q)
        exact = set(np.argsort(-dense_scores(data.vectors, vector))[:10].tolist())
        approx = set(np.argsort(-dense_scores(data.vectors, vector, data.faiss_index, candidates=200))[:10].tolist())
        recalls.append(len(exact & approx) / 10)
    assert np.mean(recalls) >= 0.98, recalls
    # And through the public API: a card's own question finds it first.
    for card in data.cards[::120]:
        assert hnsw_kb.search(card.question, k=1, mode="dense")[0].card.id == card.id


def test_bench_scale_run_reports_every_number(tmp_path):
    bench = load_benchmark("bench_scale")
    result = bench.run(cards=120, workdir=tmp_path, query_rounds=1, raw_sample=40)
    assert result["cards"] == 120
    assert result["incremental"]["re_embedded_cards"] == 1
    assert result["incremental"]["reused_cards"] == 119
    assert len(result["incremental"]["notes_changed"]) == 1
    assert result["build"]["cards_per_s"] > 0 and result["raw_encode"]["cards_per_s"] > 0
    assert result["search"]["n"] > 200 and result["search"]["p50_ms"] <= result["search"]["p95_ms"] <= result["search"]["p99_ms"]
    assert result["index_mb"] > 0 and result["peak_rss_mb"] > 0
    faiss_runs = result["faiss"]["hnsw"]
    assert [r["ef_search"] for r in faiss_runs] == list(bench.EF_SEARCH_VALUES)
    assert all(0 <= r["card_recall_at_10"] <= 1 for r in faiss_runs)
    assert faiss_runs[-1]["row_recall_at_10"] >= 0.99  # 240 rows, efSearch 256: the graph is searched exhaustively


@pytest.mark.parametrize("n", [5, 3000, 50_000])
def test_top_indices_matches_a_full_stable_sort(n):
    """kb.search.top_indices (partial selection for large corpora) must order exactly like a full stable sort."""
    from kb.retrieval.search import top_indices

    rng = np.random.default_rng(n)
    for trial in range(30):
        scores = rng.normal(size=n).astype(np.float32)
        if trial % 3 == 0:
            scores[rng.integers(0, n, n // 2)] = 0.0  # many ties, like BM25 zeros
        if trial % 5 == 0:
            scores = np.round(scores, 1)
        if trial % 7 == 0:
            scores[rng.integers(0, n, n // 3)] = -np.inf  # a family filter
        for k in (1, 10, 37, n + 5):
            np.testing.assert_array_equal(top_indices(scores, k), np.argsort(-scores, kind="stable")[:k])
