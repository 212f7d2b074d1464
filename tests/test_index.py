"""The on-disk index with the real model and real FAISS: round trip, staleness, incremental updates, recovery."""
from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import pytest

from kb import Config, KnowledgeBase
from kb.retrieval.index import DATA_FILES, FORMAT_VERSION, LEXICAL_FILE, MANIFEST, _atomic_write, load_index
from tests.support import garble, truncate, write_notes

A = """# Notes A

## Regression

### Q: What is MSE?

Mean squared error: the average of squared residuals.

### Q: What is MAE?

Mean absolute error: robust to outliers.

### Q: What is Huber loss?

Quadratic near zero, linear far away: $\\delta$ sets the switch.
"""

B = """## Classification

### Q: What is cross-entropy?

The negative log-likelihood of the true class.

**Q: Focal loss?** Down-weights easy examples.
"""

C = """## Ranking

### Q: What is a pairwise loss?

It compares two items and asks the better one to score higher.

### Q: What is listwise ranking?

It scores the whole list at once.
"""


class CountingEncoder:
    """The real encoder, counting what it is asked to embed."""

    def __init__(self, real):
        self.real = real
        self.texts: list[str] = []

    def encode(self, texts, batch_size=32, progress=None):
        self.texts.extend(texts)
        return self.real.encode(texts, batch_size=batch_size, progress=progress)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.fixture()
def corpus(tmp_path):
    """tmp_path/corpus holding notes A and B (five cards)."""
    return write_notes(tmp_path / "corpus", {"a.md": A, "b.md": B})


def open_kb(corpus, index, encoder, **config):
    counting = CountingEncoder(encoder)
    messages: list[str] = []
    kb = KnowledgeBase.load(config=Config(corpus=corpus, index=index, data=index.parent / "data", **config), encoder_factory=lambda: counting,
                            log=messages.append)
    kb.messages, kb.counting = messages, counting
    return kb


def test_round_trip(corpus, tmp_path, encoder):
    index = tmp_path / "index"
    kb = open_kb(corpus, index, encoder)
    assert kb.report.action == "built" and kb.report.cards == 5 and kb.report.embedded == 5
    assert sorted(p.name for p in index.iterdir() if not p.name.startswith(".")) == sorted([MANIFEST, *DATA_FILES, LEXICAL_FILE])
    manifest = json.loads((index / MANIFEST).read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["model"] == kb.config.model
    assert manifest["cards"] == 5
    assert set(manifest["notes"]) == {"a.md", "b.md"}
    import hashlib

    assert manifest["notes"]["a.md"] == hashlib.sha256((corpus / "a.md").read_bytes()).hexdigest()

    loaded = load_index(index)
    assert [c.to_dict() for c in loaded.cards] == [c.to_dict() for c in kb.cards()]
    assert np.array_equal(loaded.vectors, kb.data.vectors)
    assert loaded.vectors.shape == (5, 2, encoder.dim) and loaded.vectors.dtype == np.float32
    assert loaded.faiss_index.ntotal == 10
    # row 0 embeds the question, row 1 question + answer, with the real model
    card = loaded.cards[2]
    expected = encoder.encode([card.question, card.search_text])
    assert np.allclose(loaded.vectors[2], expected, atol=1e-4)
    assert np.allclose(np.linalg.norm(loaded.vectors, axis=-1), 1.0, atol=1e-4)


def test_faiss_scores_match_numpy(corpus, tmp_path, encoder):
    kb = open_kb(corpus, tmp_path / "index", encoder)
    query = encoder.encode_query("robust loss for outliers")
    flat = kb.data.vectors.reshape(-1, kb.data.vectors.shape[-1])
    scores, rows = kb.data.faiss_index.search(query[None, :], 10)
    brute = flat @ query
    assert list(rows[0]) == list(np.argsort(-brute, kind="stable")[:10])
    assert np.allclose(scores[0], np.sort(brute)[::-1][:10], atol=1e-5)


def test_fresh_index_loads_without_the_model(corpus, tmp_path, encoder):
    index = tmp_path / "index"
    open_kb(corpus, index, encoder)

    def no_model():
        raise AssertionError("a fresh index must not load the model")

    kb = KnowledgeBase.load(config=Config(corpus=corpus, index=index, data=tmp_path / "data"), encoder_factory=no_model)
    assert kb.report.action == "loaded" and kb.report.embedded == 0 and kb.report.reused == 5
    assert len(kb.cards()) == 5


def test_editing_one_note_re_embeds_only_its_changed_card(corpus, tmp_path, encoder):
    index = tmp_path / "index"
    first = open_kb(corpus, index, encoder)
    before = {c.id: first.data.vectors[i].copy() for i, c in enumerate(first.cards())}
    edited = A.replace("robust to outliers.", "robust to outliers, but its gradient is constant.")
    edited = edited.replace("# Notes A\n", "# Notes A\n\nAn intro paragraph that moves every line.\n")
    (corpus / "a.md").write_text(edited, encoding="utf-8")

    kb = open_kb(corpus, index, encoder)
    assert kb.report.action == "updated"
    assert kb.report.notes_changed == ["a.md"]
    assert kb.report.embedded == 1 and kb.report.reused == 4
    assert len(kb.counting.texts) == 2  # the changed card's question and question + answer
    assert "gradient is constant" in kb.counting.texts[1]
    for i, card in enumerate(kb.cards()):
        if card.id == "what-is-mae":
            assert not np.array_equal(kb.data.vectors[i][1], before[card.id][1])
            assert card.line_start == 11  # line numbers follow the edit
        else:
            assert np.array_equal(kb.data.vectors[i], before[card.id])
    assert kb.card("what-is-mse").line_start == 7  # moved, not re-embedded, but relocated
    # the update is on disk: the next open re-embeds nothing
    again = open_kb(corpus, index, encoder)
    assert again.report.action == "loaded" and again.counting.texts == []


def test_adding_and_removing_notes(corpus, tmp_path, encoder):
    index = tmp_path / "index"
    open_kb(corpus, index, encoder)
    (corpus / "sub").mkdir()
    (corpus / "sub" / "c.md").write_text(C, encoding="utf-8")
    added = open_kb(corpus, index, encoder)
    assert added.report.notes_changed == ["sub/c.md"]
    assert added.report.embedded == 2 and len(added.cards()) == 7
    assert added.card("what-is-a-pairwise-loss").note == "sub/c.md"

    (corpus / "b.md").unlink()
    removed = open_kb(corpus, index, encoder)
    assert removed.report.notes_changed == ["b.md"]
    assert removed.report.embedded == 0 and len(removed.cards()) == 5
    assert not removed.has_card("what-is-cross-entropy")
    assert set(load_index(index).note_hashes) == {"a.md", "sub/c.md"}


def test_removing_a_note_or_moving_text_does_not_load_the_model(corpus, tmp_path, encoder):
    index = tmp_path / "index"
    open_kb(corpus, index, encoder)
    (corpus / "b.md").unlink()
    (corpus / "a.md").write_text(A.replace("# Notes A\n", "# Notes A\n\nA new intro line.\n"), encoding="utf-8")

    def no_model():
        raise AssertionError("nothing new to embed, so the model must not load")

    kb = KnowledgeBase.load(config=Config(corpus=corpus, index=index, data=tmp_path / "data"), encoder_factory=no_model)
    assert kb.report.action == "updated" and kb.report.embedded == 0 and len(kb.cards()) == 3
    assert kb.card("what-is-mse").line_start == 7
    assert load_index(index).note_hashes.keys() == {"a.md"}


def test_incremental_update_equals_a_full_rebuild(corpus, tmp_path, encoder):
    index = tmp_path / "index"
    open_kb(corpus, index, encoder)
    (corpus / "b.md").write_text(B + "\n### Q: What is MSE?\n\nA duplicate question in another note.\n", encoding="utf-8")
    (corpus / "c.md").write_text(C, encoding="utf-8")
    updated = open_kb(corpus, index, encoder)
    full = open_kb(corpus, tmp_path / "index-full", encoder)
    assert [c.to_dict() for c in updated.cards()] == [c.to_dict() for c in full.cards()]
    assert "b--what-is-mse" in [c.id for c in updated.cards()]  # the repeated slug gets its note's name
    assert np.allclose(updated.data.vectors, full.data.vectors, atol=1e-4)
    assert [str(p) for p in updated.problems] == [str(p) for p in full.problems]


def test_changing_the_model_re_embeds_everything(corpus, tmp_path, encoder):
    index = tmp_path / "index"
    open_kb(corpus, index, encoder)
    kb = open_kb(corpus, index, encoder, model="another-model")
    assert "model changed" in kb.report.rebuilt_reason
    assert kb.report.embedded == 5
    assert json.loads((index / MANIFEST).read_text())["model"] == "another-model"


@pytest.mark.parametrize("name", [MANIFEST, *DATA_FILES])
@pytest.mark.parametrize("damage", ["truncate", "garble", "delete"])
def test_a_damaged_index_file_is_detected_and_rebuilt(corpus, tmp_path, encoder, name, damage):
    index = tmp_path / "index"
    open_kb(corpus, index, encoder)
    target = index / name
    {"truncate": truncate, "garble": garble, "delete": os.unlink}[damage](target)

    kb = open_kb(corpus, index, encoder)
    assert kb.report.action == "built" and kb.report.embedded == 5 and len(kb.cards()) == 5
    warnings = [m for m in kb.messages if "corrupt or half-written" in m]
    assert len(warnings) == 1 and "rebuilt" in warnings[0]
    assert name in warnings[0] or "manifest" in warnings[0]
    assert load_index(index).faiss_index.ntotal == 10  # the rebuilt index verifies
    assert kb.search("squared residuals", k=1)[0].card.id == "what-is-mse"


def test_a_write_killed_between_renames_is_rebuilt(corpus, tmp_path, encoder):
    """A kill after cards.json was renamed into place but before the manifest: files disagree with it."""
    index = tmp_path / "index"
    open_kb(corpus, index, encoder)
    shutil.copy(index / "cards.json", tmp_path / "old-cards.json")
    (corpus / "c.md").write_text(C, encoding="utf-8")
    open_kb(corpus, index, encoder)  # a second write: new cards.json, vectors, manifest
    shutil.copy(tmp_path / "old-cards.json", index / "cards.json")  # as if the manifest were from another write
    leftover = index / ".vectors.npy.killed.tmp"
    leftover.write_bytes(b"\x93NUMPY half")
    old = time.time() - 3600
    os.utime(leftover, (old, old))

    kb = open_kb(corpus, index, encoder)
    assert any("cards.json does not match its checksum" in m and "rebuilt" in m for m in kb.messages)
    assert kb.report.embedded == 7 and len(kb.cards()) == 7
    assert not leftover.exists()  # the next write cleans up after the killed one
    assert load_index(index).faiss_index.ntotal == 14


def test_a_first_build_killed_before_the_manifest_is_rebuilt(corpus, tmp_path, encoder):
    index = tmp_path / "index"
    open_kb(corpus, index, encoder)
    (index / MANIFEST).rename(index / f".{MANIFEST}.killed.tmp")
    kb = open_kb(corpus, index, encoder)
    assert any("interrupted write" in m and "rebuilt" in m for m in kb.messages)
    assert kb.report.embedded == 5


def test_a_leftover_temp_file_alone_does_not_force_a_rebuild(corpus, tmp_path, encoder):
    """The files still match the manifest, so the index is whole: load it, clean up on the next write."""
    index = tmp_path / "index"
    open_kb(corpus, index, encoder)
    leftover = index / ".cards.json.killed.tmp"
    leftover.write_text('{"cards": [', encoding="utf-8")
    old = time.time() - 3600
    os.utime(leftover, (old, old))
    kb = open_kb(corpus, index, encoder)
    assert kb.report.action == "loaded" and kb.messages == []
    (corpus / "c.md").write_text(C, encoding="utf-8")
    updated = open_kb(corpus, index, encoder)
    assert updated.report.embedded == 2 and not leftover.exists()


def test_an_old_format_version_is_rebuilt(corpus, tmp_path, encoder):
    index = tmp_path / "index"
    open_kb(corpus, index, encoder)
    manifest = json.loads((index / MANIFEST).read_text())
    manifest["format_version"] = FORMAT_VERSION + 99
    (index / MANIFEST).write_text(json.dumps(manifest))
    kb = open_kb(corpus, index, encoder)
    assert any(f"expected {FORMAT_VERSION}" in m for m in kb.messages)
    assert kb.report.embedded == 5


def test_atomic_write_keeps_the_old_file_when_a_write_fails(tmp_path):
    target = tmp_path / "cards.json"
    target.write_text("old and complete")

    def half_then_crash(path):
        path.write_text("new but half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        _atomic_write(target, half_then_crash)
    assert target.read_text() == "old and complete"
    assert list(tmp_path.iterdir()) == [target]
    _atomic_write(target, lambda p: p.write_text("new and complete"))
    assert target.read_text() == "new and complete" and list(tmp_path.iterdir()) == [target]


def test_an_unwritable_index_folder_keeps_the_index_in_memory(corpus, tmp_path, encoder):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the index folder should be")
    kb = open_kb(corpus, blocker, encoder)
    assert len(kb.cards()) == 5 and kb.search("outliers", k=1)
    assert any("cannot write the index" in m and "in memory" in m for m in kb.messages)
    assert blocker.read_text() == "a file where the index folder should be"


def test_writers_and_readers_wait_for_a_writer(corpus, tmp_path, encoder):
    """Two builds writing one folder at once queue on its lock instead of mixing their files."""
    import threading

    from kb.retrieval.index import _write_lock, save_index

    data = open_kb(corpus, tmp_path / "index", encoder).data
    shared = tmp_path / "shared"
    shared.mkdir()
    with _write_lock(shared):
        writer = threading.Thread(target=save_index, args=(shared, data))
        writer.start()
        writer.join(timeout=1.0)
        assert writer.is_alive()  # blocked: a save takes milliseconds when nothing holds the lock
        assert not (shared / MANIFEST).exists()
    writer.join(timeout=60)
    assert not writer.is_alive()
    assert len(load_index(shared).cards) == 5
    # and a reader waits for a writer, so it never pairs new files with an old manifest
    loaded = []
    with _write_lock(shared):
        reader = threading.Thread(target=lambda: loaded.append(load_index(shared)))
        reader.start()
        reader.join(timeout=1.0)
        assert reader.is_alive() and loaded == []
    reader.join(timeout=60)
    assert len(loaded) == 1 and len(loaded[0].cards) == 5


def test_an_index_from_another_parser_version_re_reads_every_note(corpus, tmp_path, encoder):
    """Cards cached by an older parser are not trusted: notes are parsed again, unchanged cards keep their vectors."""
    from kb.notes.corpus import PARSER_VERSION
    from kb.retrieval.index import file_sha256

    index = tmp_path / "index"
    open_kb(corpus, index, encoder)

    def tamper(parser_version):
        stored = json.loads((index / "cards.json").read_text())
        stored["cards"][0]["question"] = "What is MSE, as an old parser read it?"
        (index / "cards.json").write_text(json.dumps(stored))
        manifest = json.loads((index / MANIFEST).read_text())
        manifest["files"]["cards.json"] = file_sha256(index / "cards.json")
        manifest["parser"] = parser_version
        (index / MANIFEST).write_text(json.dumps(manifest))

    tamper(PARSER_VERSION)  # same parser: the stored cards are trusted as they are
    same = open_kb(corpus, index, encoder)
    assert same.report.action == "loaded" and same.cards()[0].question == "What is MSE, as an old parser read it?"

    tamper(PARSER_VERSION - 1)
    kb = open_kb(corpus, index, encoder)
    assert kb.report.action == "updated" and kb.report.notes_changed == ["a.md", "b.md"]
    assert kb.cards()[0].question == "What is MSE?"
    # only the card whose text the old parser got wrong is embedded again
    assert kb.report.embedded == 1 and kb.report.reused == 4 and kb.counting.texts[0] == "What is MSE?"
    assert json.loads((index / MANIFEST).read_text())["parser"] == PARSER_VERSION


def test_a_new_note_repeating_a_question_does_not_rename_the_existing_card(make_kb):
    """Progress hangs on card ids: an existing card keeps its id when an earlier-sorting note repeats its question."""
    note = "## Fam\n\n### Q: What is entropy?\n\nExpected surprise.\n"
    kb = make_kb({"zeta.md": note})
    assert [c.id for c in kb.cards()] == ["what-is-entropy"]
    (kb.config.corpus / "alpha.md").write_text("## Other\n\n### Q: What is entropy?\n\nA measure of uncertainty.\n", encoding="utf-8")
    assert kb.refresh_if_changed(force_check=True)
    ids = {c.note: c.id for c in kb.cards()}
    assert ids["zeta.md"] == "what-is-entropy"
    assert ids["alpha.md"] != "what-is-entropy" and ids["alpha.md"].endswith("what-is-entropy")
