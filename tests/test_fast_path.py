"""The ONNX Runtime fast path end to end: where the export lives, what the manifest records,
that searches through ONNX and through torch give the same results, and that `python -m kb
search` in a fresh process never imports torch."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from kb import Config, KnowledgeBase
from kb.config import DEFAULT_MODEL
from kb.embed import locate_model
from kb.embed.onnx import ONNX_FILE, OnnxEncoder, model_digest
from kb.fileio import file_sha256
from kb.retrieval.search import dense_query_text
from tests.support import ROOT, SHIPPED_CORPUS, copy_shipped_corpus, free_port, kb_env, load_kb

HEAVY_MODULES = ("torch", "transformers", "sentence_transformers")

# Runs `python -m kb ...` exactly (runpy), then reports which heavy modules that process imported.
KB_MAIN_THEN_REPORT = """
import json, runpy, sys
heavy = json.loads(sys.argv[2])
sys.argv = ["kb"] + json.loads(sys.argv[1])
code = 0
try:
    runpy.run_module("kb", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code or 0
sys.stdout.flush()
print("\\nMODULES " + json.dumps({"exit": code, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def run_kb(args: list[str], env: dict) -> tuple[dict, str]:
    done = subprocess.run([sys.executable, "-c", KB_MAIN_THEN_REPORT, json.dumps(args), json.dumps(HEAVY_MODULES)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    output, _, report = done.stdout.rpartition("MODULES ")
    return json.loads(report), output


def dev_queries() -> list[str]:
    rows = [json.loads(line) for line in (ROOT / "benchmarks" / "queries.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row["query"] for row in rows if row["split"] == "dev"]


@pytest.fixture(scope="module")
def default_place(tmp_path_factory):
    """`kb build` with no KB_CACHE: the export goes into the index folder. One real export."""
    base = tmp_path_factory.mktemp("default-place")
    env = kb_env(keep_cache=False, KB_CORPUS=str(copy_shipped_corpus(base)), KB_INDEX=str(base / "index"), KB_DATA=str(base / "data"))
    report, output = run_kb(["build"], env)
    assert report["exit"] == 0, output
    return base / "index", env, output


@pytest.mark.slow
def test_build_exports_into_the_index_folder_and_records_it_in_the_manifest(default_place):
    index, _, output = default_place
    record = json.loads((index / "manifest.json").read_text(encoding="utf-8"))["encoder"]
    export = index / record["onnx_export"]
    assert export.parent == index / "onnx" and (export / ONNX_FILE).is_file()
    assert record["model"] == DEFAULT_MODEL and record["query_backend"] == "onnxruntime"
    assert record["model_digest"] == model_digest(locate_model(DEFAULT_MODEL))
    assert record["onnx_sha256"] == file_sha256(export / ONNX_FILE)
    assert record["verified_min_cosine"] >= 0.9999
    assert record["document_backends"] == ["onnxruntime"]
    assert f"query encoder: onnxruntime, fused graph, export {export}" in output  # the build says what serves queries


@pytest.mark.slow
def test_kb_search_in_a_fresh_process_never_imports_torch(default_place, shipped_kb):
    _, env, _ = default_place
    report, output = run_kb(["search", "why does PPO clip the probability ratio", "-k", "5", "--json"], env)
    assert report["exit"] == 0, output
    assert report["loaded"] == [], f"the query path imported {report['loaded']}"
    got = [hit["id"] for hit in json.loads(output)["hits"]]
    assert got == [h.card.id for h in shipped_kb.search("why does PPO clip the probability ratio", k=5)]


@pytest.fixture(scope="module")
def torch_kb(tmp_path_factory, reference):
    """The shipped corpus indexed and queried by sentence-transformers on torch (KB_ONNX=0's path)."""
    kb = load_kb(copy_shipped_corpus(tmp_path_factory.mktemp("torch-path")), reference)
    assert kb.data.encoder["query_backend"] == "sentence-transformers"
    return kb


@pytest.mark.slow
def test_search_results_are_identical_through_onnx_and_torch_on_the_dev_queries(shipped_kb, torch_kb):
    assert isinstance(shipped_kb.encoder.fast if hasattr(shipped_kb.encoder, "fast") else shipped_kb.encoder, OnnxEncoder)
    queries = dev_queries()
    assert len(queries) >= 150
    for mode in ("hybrid", "dense"):
        differing = []
        for query in queries:
            onnx_hits, torch_hits = shipped_kb.search(query, k=10, mode=mode), torch_kb.search(query, k=10, mode=mode)
            if [h.card.id for h in onnx_hits] != [h.card.id for h in torch_hits]:
                differing.append(query)
            assert np.allclose([h.score for h in onnx_hits], [h.score for h in torch_hits], atol=1e-4), query
        assert differing == [], f"{mode}: different top-10 for {differing}"


@pytest.mark.slow
def test_changed_model_files_make_a_new_export_and_re_embed_every_card(tmp_path):
    """Same model name, new weights (a re-trained local model): the old export and vectors are stale."""
    model = tmp_path / "my-model"
    shutil.copytree(locate_model(DEFAULT_MODEL), model)
    shutil.copytree(SHIPPED_CORPUS, tmp_path / "corpus")
    config = Config(corpus=tmp_path / "corpus", index=tmp_path / "index", data=tmp_path / "data", model=str(model), cache=None)
    first = KnowledgeBase.load(config=config)
    old_export = tmp_path / "index" / first.data.encoder["onnx_export"]
    assert first.report.embedded == len(first.cards()) and old_export.is_dir()

    config_file = model / "config_sentence_transformers.json"  # any byte of the model's files counts
    config_file.write_text(config_file.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    messages: list[str] = []
    second = KnowledgeBase.load(config=config, log=messages.append)
    assert any("files of model" in m and "re-embedding every card" in m for m in messages), messages
    assert second.report.embedded == len(second.cards()) == len(first.cards())
    assert [c.id for c in second.cards()] == [c.id for c in first.cards()]
    new_export = tmp_path / "index" / second.data.encoder["onnx_export"]
    assert new_export != old_export and (new_export / ONNX_FILE).is_file()
    assert second.data.encoder["model_digest"] == model_digest(model) != first.data.encoder["model_digest"]

    third = KnowledgeBase.load(config=config)  # nothing changed since: nothing re-embedded
    assert third.report.action == "loaded" and third.report.embedded == 0


def test_remembered_query_vectors_are_the_encoders_and_bounded(shipped_kb, monkeypatch):
    from kb import knowledge

    monkeypatch.setattr(knowledge, "QUERY_VECTOR_CACHE", 3)
    shipped_kb.clear_query_cache()
    first = shipped_kb.search("pinball loss for quantiles", k=5)
    again = shipped_kb.search("pinball loss for quantiles", k=5)
    assert [(h.card.id, h.score) for h in again] == [(h.card.id, h.score) for h in first]
    for query in ("focal loss", "dice loss", "triplet margin", "ppo clipping"):
        shipped_kb.search(query, k=1)
    remembered = shipped_kb._query_vectors
    assert list(remembered) == [dense_query_text(q, shipped_kb.lexical) for q in ("dice loss", "triplet margin", "ppo clipping")]
    for text, vector in remembered.items():
        assert np.allclose(vector, shipped_kb.encoder.encode_query(text), atol=1e-6)
        assert not vector.flags.writeable  # shared between callers: nobody may change it in place


def app_search(base: str, query: str) -> str | None:
    """One call of the app's `search` endpoint through Gradio's HTTP API; the result HTML."""
    request = urllib.request.Request(f"{base}/gradio_api/call/search", data=json.dumps({"data": [query, "All families"]}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{base}/gradio_api/call/search/{event_id}", timeout=60) as response:
        stream = response.read().decode("utf-8", "replace")
    for block in stream.split("\n\n"):
        if block.startswith("event: complete"):
            return json.loads(block.split("data:", 1)[1].strip())[0]
    return None


@pytest.mark.slow
def test_the_web_app_answers_semantically_without_loading_torch(default_place, shipped_kb):
    _, env, _ = default_place
    port = free_port()
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base, deadline, html = f"http://127.0.0.1:{port}", time.monotonic() + 120, None
    try:
        while time.monotonic() < deadline and server.poll() is None:
            try:
                html = app_search(base, "why does PPO clip the probability ratio")
            except OSError:
                html = None  # not serving yet
            if html and "kb-hit" in html and "still loading" not in html:
                break
            time.sleep(0.2)
        assert html and "still loading" not in html, f"no semantic answer within 120 s: {html!r}"
        maps = Path(f"/proc/{server.pid}/maps").read_text()
        assert "libtorch" not in maps and "onnxruntime" in maps
    finally:
        server.terminate()
        server.wait(10)
    best = shipped_kb.search("why does PPO clip the probability ratio", k=1)[0].card.id
    assert best in html


def test_texts_of_very_different_lengths_are_batched_apart_with_the_same_vectors(shipped_kb):
    from kb.embed.onnx import length_batches

    # Longest first: a 100-token answer, two sentences of it, a few words.
    assert length_batches([0, 1, 2, 3], [100, 60, 45, 8], 32) == [[0, 1], [2], [3]]
    assert length_batches([0, 1, 2], [10, 9, 8], 2) == [[0, 1], [2]]  # the batch size still holds
    card = shipped_kb.card("how-does-ppo-work-why-the-clip")
    texts = [card.answer_text, "Clip the ratio.", card.question]
    together = shipped_kb.encoder.encode(texts)
    alone = np.stack([shipped_kb.encoder.encode([t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-5)
