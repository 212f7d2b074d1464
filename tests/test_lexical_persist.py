"""The stored lexical index (index/lexical.npz): same scores as a fresh build, damage detected and repaired.

A load reads the BM25 matrix, token ids and typo-repair vocabulary from the index folder instead of
tokenising every card again; these tests hold it to the fresh build and to bm25s itself.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from kb import KnowledgeBase
from kb.notes.corpus import load_corpus
from kb.retrieval.index import LEXICAL_FILE, MANIFEST, file_sha256, load_index
from kb.retrieval.lexical import (
    CorpusTokenizer,
    LexicalIndex,
    PhraseMatcher,
    StoredLexicalError,
    card_document,
    default_synonyms,
    document_tokens,
    plain_words,
    query_token_weights,
    stemmer,
)
from tests.support import SHIPPED_CORPUS, garble, load_kb, truncate, write_notes

QUERIES = [
    "why does PPO clip the ratio",
    "entrpoy bonus in reinforcement learning",  # typo + glossary phrase
    "smooth L1 vs huber loss",
    "kullback-leibler divergence of GANs",
    "pinball loss for quantiles",
    "contrastive InfoNCE temperature",
    "the of and",  # stopwords only: no token matches
]

NOTE = """# Notes

## Regression

### Q: What is the Huber loss?

Quadratic near zero and linear for large residuals: robust to outliers (smooth L1).

### Q: What is MSE?

Mean squared error: the average of squared residuals.

## RL

### Q: Why does PPO clip the ratio?

Clipping keeps each policy update small, a cheap trust region.
"""

TRICKY = [
    "it's a Kullback-Leibler KL-divergence of GANs' SVMs -- don't a--b x-y-z 3.5e-4",
    "",
    "the of and",
    "smooth L1 loss vs huber-loss; reinforcement-learning (RL) with proximal policy optimization",
]


def _open(corpus: Path, index: Path, encoder_factory, messages: list[str] | None = None) -> KnowledgeBase:
    return load_kb(corpus, index=index, encoder_factory=encoder_factory, log=(messages if messages is not None else []).append)


def _no_model():
    raise AssertionError("only the lexical index is rebuilt: the model must not load")


@pytest.fixture()
def small_index(tmp_path, encoder):
    """(corpus, index): NOTE's three cards and their freshly built index, in tmp_path."""
    corpus = write_notes(tmp_path / "corpus", {"a.md": NOTE})
    index = tmp_path / "index"
    _open(corpus, index, lambda: encoder)
    return corpus, index


def test_corpus_tokenizer_gives_the_reference_tokens_and_word_counts(external_corpora):
    """The fast tokeniser must produce exactly what document_tokens (one text at a time) produces."""
    cards = load_corpus(SHIPPED_CORPUS).cards + load_corpus(external_corpora).cards
    texts = [card_document(c) for c in cards] + TRICKY
    synonyms = default_synonyms()
    reference_counts: dict[str, int] = {}
    reference = [document_tokens(t, synonyms, reference_counts) for t in texts]
    tokenizer = CorpusTokenizer(synonyms)
    assert [tokenizer.tokens(t) for t in texts] == reference
    assert list(tokenizer.vocabulary.items()) == list(reference_counts.items())
    assert any(t.startswith("concept:") for tokens in reference for t in tokens)  # the glossary was exercised


def test_glossary_spans_equal_a_scan_of_every_position():
    """spans() only visits positions where a phrase can start; the result must equal trying every position."""
    synonyms = default_synonyms()
    text = " ".join(card_document(c) for c in load_corpus(SHIPPED_CORPUS).cards) + " " + " ".join(TRICKY)
    stems = stemmer().stemWords(plain_words(text))
    longest = max(map(len, synonyms.phrases))
    expected, i = [], 0
    while i < len(stems):  # the plain definition: longest phrase starting here, else move on
        for length in range(min(longest, len(stems) - i), 0, -1):
            groups = synonyms.phrases.get(tuple(stems[i : i + length]))
            if groups:
                expected.append((i, i + length, groups))
                i += length
                break
        else:
            i += 1
    assert synonyms.spans(stems) == expected and len(expected) > 20


def test_scores_equal_bm25s_on_the_reference_tokens():
    """kb sums the stored score matrix itself; bm25s's own get_scores over the same tokens is the reference."""
    import bm25s

    cards = load_corpus(SHIPPED_CORPUS).cards
    index = LexicalIndex.for_cards(cards)
    synonyms = default_synonyms()
    retriever = bm25s.BM25(k1=1.2, b=0.75)
    retriever.index([document_tokens(card_document(c), synonyms) for c in cards], show_progress=False)
    for query in QUERIES:
        by_weight: dict[float, list[str]] = {}
        for token, weight in query_token_weights(index.corrected(query), synonyms).items():
            if token in retriever.vocab_dict:
                by_weight.setdefault(weight, []).append(token)
        expected = np.zeros(len(cards), dtype=np.float32)
        for weight, tokens in by_weight.items():
            expected = expected + weight * np.asarray(retriever.get_scores(tokens), dtype=np.float32)
        assert np.array_equal(index.scores(query), expected), query
    assert index.scores(QUERIES[0]).max() > 0


def test_a_loaded_index_scores_exactly_like_a_fresh_build(tmp_path, encoder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "losses.md").write_bytes((SHIPPED_CORPUS / "losses-in-deep-learning.md").read_bytes())
    index = tmp_path / "index"
    _open(corpus, index, lambda: encoder)
    manifest = json.loads((index / MANIFEST).read_text())
    assert manifest["files"][LEXICAL_FILE] == file_sha256(index / LEXICAL_FILE)

    stored = load_index(index)
    assert stored.lexical is not None and stored.lexical_problem is None  # read from the file, not rebuilt
    kb = _open(corpus, index, _no_model)
    assert kb.data.lexical is kb.lexical
    fresh = LexicalIndex.for_cards(kb.cards())
    assert kb.lexical.vocabulary == fresh.vocabulary
    for query in QUERIES:
        assert kb.lexical.corrected(query) == fresh.corrected(query)
        assert np.array_equal(kb.lexical.scores(query), fresh.scores(query)), query
        assert np.array_equal(kb.lexical.scores(query, expand=False), fresh.scores(query, expand=False)), query


@pytest.mark.parametrize("damage", ["truncate", "garble", "delete"])
def test_a_damaged_lexical_file_is_detected_and_rebuilt_without_reembedding(small_index, damage):
    corpus, index = small_index
    before = _open(corpus, index, _no_model)
    expected = {q: before.lexical.scores(q) for q in QUERIES}
    {"truncate": truncate, "garble": garble, "delete": os.unlink}[damage](index / LEXICAL_FILE)

    messages: list[str] = []
    kb = _open(corpus, index, _no_model, messages)
    warnings = [m for m in messages if "lexical" in m]
    assert len(warnings) == 1 and LEXICAL_FILE in warnings[0] and "rebuilt" in warnings[0], messages
    assert ("missing" if damage == "delete" else "checksum") in warnings[0]
    assert kb.report.action == "loaded" and kb.report.embedded == 0
    for query in QUERIES:
        assert np.array_equal(kb.lexical.scores(query), expected[query]), query
    repaired = load_index(index)  # the rebuilt file was stored and pinned again
    assert repaired.lexical is not None and repaired.lexical_problem is None
    quiet: list[str] = []
    _open(corpus, index, _no_model, quiet)
    assert not quiet


def test_a_file_with_a_valid_checksum_but_bad_content_is_rebuilt(small_index):
    """Damage the manifest cannot see (its checksum re-pinned): the file's own checks must catch it."""
    corpus, index = small_index
    (index / LEXICAL_FILE).write_bytes(b"PK\x03\x04 not an npz at all")
    manifest = json.loads((index / MANIFEST).read_text())
    manifest["files"][LEXICAL_FILE] = file_sha256(index / LEXICAL_FILE)
    (index / MANIFEST).write_text(json.dumps(manifest))

    messages: list[str] = []
    kb = _open(corpus, index, _no_model, messages)
    assert any("could not be read" in m and "rebuilt" in m for m in messages), messages
    assert kb.search("huber loss", k=1, mode="lexical")[0].card.id == "what-is-the-huber-loss"
    assert load_index(index).lexical is not None


def test_a_stored_index_from_another_synonym_list_or_card_count_is_refused(small_index):
    _, index = small_index
    path = index / LEXICAL_FILE
    cards = len(load_index(index).cards)
    assert LexicalIndex.load(path, cards).size == cards
    with pytest.raises(StoredLexicalError, match="another synonym list"):
        LexicalIndex.load(path, cards, synonyms=PhraseMatcher([("huber", "smooth l1")]))
    with pytest.raises(StoredLexicalError, match=f"covers {cards} cards, the index has {cards + 1}"):
        LexicalIndex.load(path, cards + 1)


def test_an_index_written_before_lexical_files_existed_gains_one_quietly(small_index):
    corpus, index = small_index
    manifest = json.loads((index / MANIFEST).read_text())
    del manifest["files"][LEXICAL_FILE]
    (index / MANIFEST).write_text(json.dumps(manifest))
    (index / LEXICAL_FILE).unlink()

    messages: list[str] = []
    kb = _open(corpus, index, _no_model, messages)
    assert not messages and kb.report.action == "loaded"
    assert kb.search("ppo clip", k=1, mode="lexical")[0].card.id == "why-does-ppo-clip-the-ratio"
    assert load_index(index).lexical is not None


def test_editing_a_note_updates_the_stored_lexical_index(small_index, encoder):
    corpus, index = small_index
    (corpus / "a.md").write_text(NOTE.replace("a cheap trust region", "a cheap trust region, unlike zebrafish"), encoding="utf-8")
    kb = _open(corpus, index, lambda: encoder)
    assert kb.report.action == "updated" and kb.report.embedded == 1
    stored = load_index(index).lexical
    assert stored is not None and "zebrafish" in stored.vocabulary
    fresh = LexicalIndex.for_cards(kb.cards())
    for query in ["zebrafish", *QUERIES]:
        assert np.array_equal(stored.scores(query), fresh.scores(query)), query
    assert kb.search("zebrafish", k=1, mode="lexical")[0].card.id == "why-does-ppo-clip-the-ratio"
