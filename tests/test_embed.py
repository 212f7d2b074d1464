"""The embedding fast path on the real model: ONNX Runtime must reproduce sentence-transformers."""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from kb.embed import (
    BuildEncoder,
    SentenceTransformerEncoder,
    choose as embed,  # the module that picks the encoder: its constants are patched below
    load_encoder,
    locate_model,
)
from kb.embed.onnx import ONNX_FILE, OnnxCacheInvalid, OnnxEncoder, export_dir, model_digest, open_cached_export
from kb.errors import ModelLoadError
from kb.notes.corpus import load_corpus
from tests.support import ROOT, kb_env

# Written for these tests (not the texts the export is verified on).
QUERIES = [
    "why is the policy update clipped",
    "loss for predicting a quantile",
    "how do I handle a dataset where one class is rare",
    "difference between hinge and logistic loss",
    "what does temperature do when distilling a model",
    "robust regression against outliers",
    "measuring overlap between predicted and true masks",
    "reward model trained from human preference pairs",
    "why does the generator gradient vanish early in GAN training",
    "variational autoencoder objective",
    "embedding similarity learning with anchors and negatives",
    "sequence labelling without alignment",
]

# About 200 tokens: well past the 128 the shipped tokenizer.json would keep, inside the 256 window.
MEDIUM_TEXT = (
    "A learning rate schedule changes the step size as training goes on. Warm-up starts small so the "
    "early, noisy gradients of a freshly initialised network do not throw the weights somewhere bad, "
    "and the adaptive optimiser's second-moment estimates have time to settle. After the warm-up, "
    "cosine decay lowers the rate smoothly towards a floor, which tends to land in flatter minima than "
    "a constant rate. Step decay divides the rate by ten at fixed epochs; it is simple and still common "
    "in vision. One-cycle schedules raise the rate and then lower it within a single run, pairing it "
    "with an inverse momentum schedule. Whatever the shape, the peak value matters most, and it should "
    "be tuned together with the batch size, because larger batches usually tolerate larger steps. "
    "Weight decay interacts with the schedule as well, so AdamW decouples it from the gradient step."
)
TAIL_A = " The final paragraph is about tokenisers: byte pair encoding merges frequent character pairs into subwords."
TAIL_B = " The final paragraph is about dropout: random units are zeroed during training and the rest rescaled."


@pytest.fixture(scope="module")
def onnx(encoder):
    assert isinstance(encoder, OnnxEncoder), f"the default encoder should be served by ONNX Runtime; notes: {getattr(encoder, 'notes', None)}"
    return encoder


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_tokenizer_reads_the_full_window_and_pads_per_batch(onnx):
    assert onnx.tokenizer.truncation["max_length"] == onnx.max_seq_length == 256
    assert onnx.tokenizer.padding is None  # the shipped tokenizer.json pads every text to 128
    counts = onnx.token_counts(["pinball loss", MEDIUM_TEXT, MEDIUM_TEXT * 3])
    assert counts[0] < 10
    assert 128 < counts[1] < 256
    assert counts[2] == 256


def test_onnx_matches_sentence_transformers_on_short_and_long_texts(onnx, reference):
    texts = QUERIES + [MEDIUM_TEXT, MEDIUM_TEXT + TAIL_A, MEDIUM_TEXT * 2, "  ", "ß∑ $\\nabla_\\theta \\log \\pi$ 🚀"]
    expected = reference.encode(texts)
    batched = onnx.encode(texts, batch_size=8)
    one_by_one = np.stack([onnx.encode_query(t) for t in texts])
    assert cosines(batched, expected).min() >= 0.9999
    assert cosines(one_by_one, expected).min() >= 0.9999
    assert batched.dtype == np.float32 and np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_long_text_is_not_cut_at_128_tokens(onnx, reference):
    """Two texts that differ only after token 128 must get different vectors, like sentence-transformers gives them."""
    a, b = MEDIUM_TEXT + TAIL_A, MEDIUM_TEXT + TAIL_B
    assert onnx.token_counts([MEDIUM_TEXT])[0] > 128
    fast = onnx.encode([a, b])
    slow = reference.encode([a, b])
    assert float(fast[0] @ fast[1]) < 0.995  # the tails were read
    assert abs(float(fast[0] @ fast[1]) - float(slow[0] @ slow[1])) < 1e-4


def test_top10_neighbours_over_shipped_cards_are_identical(onnx, reference):
    cards = load_corpus(ROOT / "corpus").cards
    assert len(cards) >= 50
    texts = [c.search_text for c in cards]
    fast_docs, slow_docs = onnx.encode(texts), reference.encode(texts)
    assert cosines(fast_docs, slow_docs).min() >= 0.9999
    queries = QUERIES + [c.question for c in cards[::5]]
    fast_q, slow_q = onnx.encode(queries), reference.encode(queries)
    for i, query in enumerate(queries):
        fast_top = np.argsort(-(fast_docs @ fast_q[i]))[:10].tolist()
        slow_top = np.argsort(-(slow_docs @ slow_q[i]))[:10].tolist()
        assert fast_top == slow_top, query


def test_unknown_model_gives_a_clear_model_load_error():
    with pytest.raises(ModelLoadError) as caught:
        load_encoder("no-such-org/no-such-embedding-model-xyz")
    message = str(caught.value)
    assert "no-such-org/no-such-embedding-model-xyz" in message and "not available offline" in message
    with pytest.raises(ModelLoadError, match="not available offline"):
        load_encoder("./no/such/model/folder")


@pytest.fixture()
def tmp_cache(tmp_path, monkeypatch, onnx):
    """A private KB_CACHE holding a copy of the verified export of the default model."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("KB_CACHE", str(cache))
    model_path = locate_model(embed.DEFAULT_MODEL)
    folder = export_dir(embed.DEFAULT_MODEL, model_digest(model_path))
    shutil.copytree(onnx.folder, folder)  # copytree keeps mtimes, as a backup/restore would
    return folder


def test_damaged_export_is_detected_without_a_crash(tmp_cache):
    digest = model_digest(locate_model(embed.DEFAULT_MODEL))
    assert isinstance(open_cached_export(embed.DEFAULT_MODEL, digest), OnnxEncoder)
    onnx_file = tmp_cache / ONNX_FILE
    stat = onnx_file.stat()
    with open(onnx_file, "r+b") as handle:  # garbage over the header; size and mtime kept, so only parsing can tell
        handle.write(os.urandom(4096))
    os.utime(onnx_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(OnnxCacheInvalid, match="cannot be opened"):
        open_cached_export(embed.DEFAULT_MODEL, digest)


def test_touched_but_intact_export_is_still_used(tmp_cache):
    """A new mtime alone (a copy, a backup restore) costs one checksum, not a re-export."""
    onnx_file = tmp_cache / ONNX_FILE
    os.utime(onnx_file, ns=(onnx_file.stat().st_atime_ns, onnx_file.stat().st_mtime_ns + 10**9))
    digest = model_digest(locate_model(embed.DEFAULT_MODEL))
    assert isinstance(open_cached_export(embed.DEFAULT_MODEL, digest), OnnxEncoder)
    meta = json.loads((tmp_cache / "meta.json").read_text(encoding="utf-8"))
    assert meta["onnx_file"]["mtime_ns"] == onnx_file.stat().st_mtime_ns  # remembered: no checksum next time


@pytest.mark.slow
def test_corrupt_export_is_logged_and_exported_again(tmp_cache, caplog, reference):
    onnx_file = tmp_cache / ONNX_FILE
    size = onnx_file.stat().st_size
    with open(onnx_file, "r+b") as handle:
        handle.seek(size // 2)
        handle.write(b"\x00garbled\xff" * 1000)
    with caplog.at_level(logging.INFO, logger="kb.embed"):
        encoder = load_encoder()
    reasons = " ".join(getattr(encoder, "notes", [])) + caplog.text
    assert "does not match the checksum" in reasons and "exporting it again" in reasons
    assert isinstance(encoder, OnnxEncoder)  # healed: exported again and verified
    assert cosines(encoder.encode(QUERIES), reference.encode(QUERIES)).min() >= 0.9999
    assert isinstance(open_cached_export(embed.DEFAULT_MODEL, model_digest(locate_model(embed.DEFAULT_MODEL))), OnnxEncoder)
    leftovers = [p.name for p in tmp_cache.parent.iterdir() if p.name.endswith((".tmp", ".old"))]
    assert leftovers == []  # written beside, then renamed into place


@pytest.mark.slow
def test_model_that_cannot_be_exported_falls_back_with_a_reason(tmp_path, monkeypatch, caplog):
    """A model folder without tokenizer.json: sentence-transformers still loads it, the ONNX path cannot."""
    monkeypatch.setenv("KB_CACHE", str(tmp_path / "cache"))
    model = tmp_path / "model-without-tokenizer-json"
    shutil.copytree(locate_model(embed.DEFAULT_MODEL), model, ignore=shutil.ignore_patterns("tokenizer.json"))
    with caplog.at_level(logging.WARNING, logger="kb.embed"):
        first = load_encoder(str(model))
    assert isinstance(first, SentenceTransformerEncoder)
    assert "tokenizer.json is missing" in caplog.text and "instead of ONNX Runtime" in caplog.text
    assert first.encode_query("pinball loss").shape == (first.dim,)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="kb.embed"):
        second = load_encoder(str(model))  # remembered: no second export attempt
    assert isinstance(second, SentenceTransformerEncoder) and "rejected earlier" in caplog.text


def test_build_encoder_uses_bf16_only_for_large_jobs_and_agrees(onnx, monkeypatch):
    if not embed.cpu_has_native_bf16():
        pytest.skip("this CPU has no native bf16 (AVX512-BF16/AMX); the build stays on ONNX Runtime")
    builder = BuildEncoder(onnx, embed.DEFAULT_MODEL)
    small = builder.encode(QUERIES)
    assert builder._bulk is None and not builder._bulk_decided  # small jobs never load torch
    monkeypatch.setattr(embed, "BULK_MIN_TOKENS", 2000)  # make a test-sized job count as large
    texts = [f"{q}. {MEDIUM_TEXT[: 80 + 7 * i]}" for i, q in enumerate(QUERIES * 6)]
    bulk_vectors = builder.encode(texts)
    assert builder._bulk is not None, builder.notes
    assert builder._bulk.backend == "torch-bf16"
    assert cosines(bulk_vectors, onnx.encode(texts)).min() >= 0.9999
    assert np.array_equal(builder.encode_query(QUERIES[0]), onnx.encode_query(QUERIES[0]))
    assert cosines(small, onnx.encode(QUERIES)).min() >= 0.99999


def test_cold_search_on_a_fresh_index_never_imports_torch(shipped_kb, onnx, tmp_path):
    """A new process: load an up-to-date index and search, with the ONNX export cached."""
    script = f"""
import json, sys
from kb import Config, KnowledgeBase
from pathlib import Path
config = Config(corpus=Path({str(shipped_kb.config.corpus)!r}), index=Path({str(shipped_kb.config.index)!r}), data=Path({str(tmp_path)!r}))
kb = KnowledgeBase.load(config=config)
hits = kb.search("why does PPO clip the ratio", k=5, mode="dense")
print(json.dumps({{"action": kb.report.action, "backend": kb.encoder.backend, "ids": [h.card.id for h in hits], "dense": [h.dense for h in hits],
                  "torch": "torch" in sys.modules, "st": "sentence_transformers" in sys.modules}}))
"""
    env = kb_env(KB_CACHE=str(onnx.folder.parent.parent))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["action"] == "loaded" and result["backend"] == "onnxruntime"
    assert result["torch"] is False and result["st"] is False
    expected = shipped_kb.search("why does PPO clip the ratio", k=5, mode="dense")
    assert result["ids"] == [h.card.id for h in expected]
    assert np.allclose(result["dense"], [h.dense for h in expected], atol=1e-5)


@pytest.mark.slow
def test_an_export_from_an_older_kb_is_redone_as_the_fused_graph(tmp_cache, reference):
    meta_path = tmp_cache / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["format"] = 1
    meta.pop("fused", None)
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    encoder = load_encoder()
    assert isinstance(encoder, OnnxEncoder) and encoder.meta["format"] == 2
    assert {"Attention", "SkipLayerNormalization"} <= set(encoder.meta["fused"]), encoder.meta["fused"]
    assert cosines(encoder.encode(QUERIES), reference.encode(QUERIES)).min() >= 0.9999
    assert cosines(encoder.encode([MEDIUM_TEXT + TAIL_A, "a"], batch_size=2), reference.encode([MEDIUM_TEXT + TAIL_A, "a"])).min() >= 0.9999
