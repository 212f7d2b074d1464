"""Scale benchmark: build, update and search a synthetic corpus of N cards; exact vs approximate FAISS.

    python benchmarks/bench_scale.py --cards 10000                    # ~10 min on 2 busy cores
    nohup python benchmarks/bench_scale.py --cards 100000 --out benchmarks/results/scale.json &

Reports, all measured in the same run:
  * build throughput (cards/s) beside the raw encode throughput of the same encoder on a sample of the
    same cards (the ratio shows what parsing, hashing, FAISS and writing cost on top of the model);
  * an incremental rebuild after editing one card of one note: how many cards were re-embedded;
  * search latency p50/p95/p99 over real queries (benchmarks/queries.jsonl), query encode included;
  * peak RSS of the process and the index size on disk;
  * FAISS: exact IndexFlatIP vs HNSW at several efSearch values: per-query time, build time, and
    recall@10 of HNSW against exact search, on real query embeddings, at the row level and at the
    card level (through kb.search.dense_scores, which rescores the FAISS candidates exactly).
The corpus lives in a tmp folder (or --workdir) and is deleted afterwards unless --keep.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

K = 10
EF_SEARCH_VALUES = (16, 32, 64, 128, 256)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gb": round(mem_kb / 1024 / 1024, 1), "python": platform.python_version(),
            "load_avg_at_start": os.getloadavg()}


def percentiles(values_ms: list[float]) -> dict:
    a = np.asarray(values_ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p95_ms": round(float(np.percentile(a, 95)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2), "n": len(values_ms)}


def real_queries() -> list[str]:
    path = ROOT / "benchmarks" / "queries.jsonl"
    queries = [json.loads(line)["query"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return queries


def dir_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1_048_576


def build_path(encoder, cards) -> tuple[object, str]:
    """The encoder the build will really use for these cards: BuildEncoder sends a large job to torch
    bf16 (when the CPU has it and it agrees with the query encoder), a small one to ONNX Runtime.
    The raw rate must be measured on that same path, or the ratio compares two backends."""
    chooser = getattr(encoder, "_bulk_encoder", None)  # private, but this is exactly the decision to mirror
    bulk = chooser([c.question for c in cards] + [c.search_text for c in cards]) if chooser else None
    if bulk is not None:
        return bulk, "torch bf16 autocast (bulk build path)"
    fast = getattr(encoder, "fast", encoder)
    return fast, str(getattr(fast, "backend", type(fast).__name__))


def raw_encode_rate(encoder, cards, sample: int) -> dict:
    """Cards/s of the bare encoder on `sample` cards' two texts; run twice, the second is reported (the first loads)."""
    chosen = cards[:sample]
    texts = [c.question for c in chosen] + [c.search_text for c in chosen]
    encoder.encode(texts[: min(len(texts), 256)], batch_size=32)
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        encoder.encode(texts, batch_size=32)
        seconds.append(time.perf_counter() - started)
    return {"sample_cards": len(chosen), "seconds": round(seconds[-1], 2), "cards_per_s": round(len(chosen) / seconds[-1], 1),
            "texts_per_s": round(len(texts) / seconds[-1], 1)}


def search_latency(kb, queries: list[str], rounds: int) -> dict:
    for q in queries[:20]:
        kb.search(q, k=K)
    times = []
    for _ in range(rounds):
        for q in queries:
            kb.clear_query_cache()  # time the encode, not the remembered vector
            started = time.perf_counter()
            kb.search(q, k=K)
            times.append((time.perf_counter() - started) * 1000)
    return percentiles(times)


def faiss_comparison(vectors: np.ndarray, query_vectors: np.ndarray, existing=None) -> dict:
    """Exact vs HNSW on these real vectors: timings and recall@10 (rows, and cards via dense_scores)."""
    import faiss

    from kb.retrieval.search import dense_scores

    flat_rows = np.ascontiguousarray(vectors.reshape(-1, vectors.shape[-1]), dtype=np.float32)
    out: dict = {"rows": int(flat_rows.shape[0])}
    exact = faiss.IndexFlatIP(flat_rows.shape[1])
    exact.add(flat_rows)
    started = time.perf_counter()
    _, exact_rows = exact.search(query_vectors, K)
    out["flat_ms_per_query"] = round((time.perf_counter() - started) * 1000 / len(query_vectors), 3)
    exact_cards = [set(np.argsort(-dense_scores(vectors, q))[:K].tolist()) for q in query_vectors]

    started = time.perf_counter()
    if isinstance(existing, faiss.IndexHNSWFlat) and existing.ntotal == flat_rows.shape[0]:
        hnsw = existing  # the index the app built (same M=32, efConstruction=80); its build time is in "build"
        out["hnsw_build_s"] = None
    else:
        hnsw = faiss.IndexHNSWFlat(flat_rows.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 80
        hnsw.add(flat_rows)
        out["hnsw_build_s"] = round(time.perf_counter() - started, 1)
    out["hnsw_extra_mb"] = round((hnsw.ntotal * 32 * 2 * 4) / 1_048_576, 1)  # graph links beyond the stored vectors
    out["hnsw"] = []
    for ef in EF_SEARCH_VALUES:
        hnsw.hnsw.efSearch = ef
        started = time.perf_counter()
        _, rows = hnsw.search(query_vectors, K)
        per_query = (time.perf_counter() - started) * 1000 / len(query_vectors)
        row_recall = np.mean([len(set(a) & set(b)) / K for a, b in zip(rows.tolist(), exact_rows.tolist(), strict=True)])
        card_recall = []
        started = time.perf_counter()
        for q, truth in zip(query_vectors, exact_cards, strict=True):
            scores = dense_scores(vectors, q, hnsw, candidates=max(200, 20 * K))
            card_recall.append(len(set(np.argsort(-scores)[:K].tolist()) & truth) / K)
        card_ms = (time.perf_counter() - started) * 1000 / len(query_vectors)
        out["hnsw"].append({"ef_search": ef, "ms_per_query": round(per_query, 3), "row_recall_at_10": round(float(row_recall), 4),
                            "card_recall_at_10": round(float(np.mean(card_recall)), 4), "dense_scores_ms": round(card_ms, 3)})
    started = time.perf_counter()
    for q in query_vectors:
        dense_scores(vectors, q)
    out["exact_dense_scores_ms"] = round((time.perf_counter() - started) * 1000 / len(query_vectors), 3)
    return out


NOISE_PER_DIM = 0.0247  # a copy of a real vector plus this noise has cosine ~0.9 with it (384 dims)


def write_semi_synthetic_index(config, encoder, embed_sample: int) -> dict:
    """When the machine cannot embed N cards in the time there is: embed the first `embed_sample`
    cards for real and give every other card a noisy copy of a real card's vectors (renormalised).
    Search latency, memory, index size, the incremental update and the FAISS timings are then real
    at full size; recall numbers on these vectors are only indicative (near-duplicate clusters)."""
    from kb.notes.corpus import load_corpus
    from kb.retrieval.index import IndexData, corpus_hashes, embed_cards, make_faiss_index, save_index

    out = {"mode": f"semi-synthetic: {embed_sample} cards embedded for real, the rest noisy copies (cos ~0.9)"}
    started = time.perf_counter()
    parsed = load_corpus(config.corpus, config.max_note_bytes)
    out["parse_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    real = embed_cards(parsed.cards[:embed_sample], lambda: encoder, {})[0]
    out["real_embed_s"] = round(time.perf_counter() - started, 1)
    rng = np.random.default_rng(0)
    n = len(parsed.cards)
    vectors = real[np.arange(n) % embed_sample].copy()
    vectors[embed_sample:] += rng.normal(0, NOISE_PER_DIM, size=vectors[embed_sample:].shape).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=-1, keepdims=True)
    started = time.perf_counter()
    faiss_index = make_faiss_index(vectors.reshape(-1, vectors.shape[-1]))
    out["faiss_build_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    save_index(config.index, IndexData(parsed.cards, vectors, faiss_index, parsed.problems, corpus_hashes(config.corpus, config.max_note_bytes), config.model))
    out["save_s"] = round(time.perf_counter() - started, 1)
    return out


def smaller_sizes(workdir: Path, config, encoder, sizes: list[int], queries: list[str], rounds: int) -> dict:
    """Search latency at smaller sizes without embedding again: keep the first notes of the corpus beside a
    copy of the big index; the update re-embeds nothing (every card's vectors are reused)."""
    from synthetic_corpus import CARDS_PER_NOTE

    from kb import Config, KnowledgeBase

    out = {}
    notes = sorted(config.corpus.glob("*.md"))
    for size in sizes:
        folder = workdir / f"subset-{size}"
        (folder / "corpus").mkdir(parents=True)
        for note in notes[: size // CARDS_PER_NOTE]:
            shutil.copy2(note, folder / "corpus" / note.name)
        shutil.copytree(config.index, folder / "index")
        kb = KnowledgeBase.load(config=Config(corpus=folder / "corpus", index=folder / "index", data=folder / "data"), encoder_factory=lambda: encoder,
                                log=lambda m: None)
        assert kb.report.embedded == 0 and len(kb.cards()) == size, (kb.report, len(kb.cards()))
        out[str(size)] = {**search_latency(kb, queries, rounds), "faiss_index": type(kb.data.faiss_index).__name__,
                          "index_mb": round(dir_size_mb(folder / "index"), 1)}
        print(f"search at {size}: {out[str(size)]}", flush=True)
        del kb
        shutil.rmtree(folder, ignore_errors=True)
    return out


FRESH_PROCESS = """
import json, sys, time
from kb import Config, KnowledgeBase
started = time.perf_counter()
from pathlib import Path
kb = KnowledgeBase.load(config=Config(corpus=Path(sys.argv[1]), index=Path(sys.argv[2]), data=Path(sys.argv[3])))
loaded = time.perf_counter() - started
for q in json.loads(sys.argv[4]):
    kb.search(q, k=10)
# VmHWM, not ru_maxrss: Linux carries the parent's ru_maxrss over fork and exec into the child.
hwm = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
print(json.dumps({"load_s": round(loaded, 1), "action": kb.report.action, "peak_rss_mb": round(hwm / 1024)}))
"""


def fresh_process(config, queries: list[str]) -> dict:
    """What the app itself needs: a new process opens the saved index and answers searches."""
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(config.corpus), str(config.index), str(config.data), json.dumps(queries[:50])],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        return {"error": done.stderr[-500:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def edit_one_card(corpus: Path) -> str:
    """Change the answer of one card in one note; returns the note's name."""
    note = sorted(corpus.glob("*.md"))[len(list(corpus.glob("*.md"))) // 2]
    text = note.read_text(encoding="utf-8")
    marker = "Also:"
    at = text.index(marker)
    note.write_text(text[:at] + "Edited for the incremental benchmark. " + text[at:], encoding="utf-8")
    return note.name


def run(cards: int, workdir: Path, query_rounds: int, raw_sample: int, answer_words: int | None = None, checkpoint=lambda result: None,
        also_at: tuple[int, ...] = (), embed_sample: int | None = None) -> dict:
    """All the measurements; `checkpoint(result)` is called after each stage (a long run keeps what it has)."""
    from synthetic_corpus import MAX_ANSWER_WORDS, write_corpus

    from kb import Config, KnowledgeBase
    from kb.embed import load_build_encoder
    from kb.notes.corpus import load_corpus
    from kb.retrieval.index import EXACT_SEARCH_MAX_ROWS

    result: dict = {"cards": cards, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
                    "exact_search_max_rows": EXACT_SEARCH_MAX_ROWS, "answer_words": answer_words or MAX_ANSWER_WORDS,
                    "env": {k: os.environ[k] for k in ("KB_BF16", "KB_ONNX", "KB_ONNX_THREADS") if k in os.environ}}
    corpus, index = workdir / "corpus", workdir / "index"
    started = time.perf_counter()
    write_corpus(corpus, cards, seed=1, answer_words=answer_words or MAX_ANSWER_WORDS)
    result["corpus_write_s"] = round(time.perf_counter() - started, 1)
    result["corpus_mb"] = round(dir_size_mb(corpus), 1)

    started = time.perf_counter()
    encoder = load_build_encoder()
    result["encoder_load_s"] = round(time.perf_counter() - started, 1)
    sample_cards = load_corpus(corpus).cards
    raw_encoder, path = build_path(encoder, sample_cards)
    result["raw_encode"] = raw_encode_rate(raw_encoder, sample_cards, min(raw_sample, cards))
    result["raw_encode"]["path"] = path
    del sample_cards
    print(f"raw encode: {result['raw_encode']}", flush=True)
    checkpoint(result)

    config = Config(corpus=corpus, index=index, data=workdir / "data")
    if embed_sample and embed_sample < cards:
        result["build"] = write_semi_synthetic_index(config, encoder, embed_sample)
        started = time.perf_counter()
        kb = KnowledgeBase.load(config=config, encoder_factory=lambda: encoder, log=lambda m: None)
        result["build"]["load_s"] = round(time.perf_counter() - started, 1)
        assert kb.report.action == "loaded", kb.report
    else:
        started = time.perf_counter()
        kb = KnowledgeBase.load(config=config, encoder_factory=lambda: encoder, log=lambda m: None)
        build_s = time.perf_counter() - started
        result["build"] = {"seconds": round(build_s, 1), "cards_per_s": round(cards / build_s, 1),
                           "ratio_to_raw_encode": round((cards / build_s) / result["raw_encode"]["cards_per_s"], 3)}
    result["encoder_notes"] = list(getattr(encoder, "notes", []))
    assert len(kb.cards()) == cards, f"expected {cards} cards, got {len(kb.cards())}"
    result["build"].update({"peak_rss_mb_after": round(peak_rss_mb()), "faiss_index": type(kb.data.faiss_index).__name__})
    result["index_mb"] = round(dir_size_mb(index), 1)
    print(f"build: {result['build']}; index {result['index_mb']} MB", flush=True)
    checkpoint(result)

    result["fresh_process"] = fresh_process(config, real_queries())
    print(f"fresh process: {result['fresh_process']}", flush=True)
    checkpoint(result)

    note = edit_one_card(corpus)
    started = time.perf_counter()
    kb2 = KnowledgeBase.load(config=config, encoder_factory=lambda: encoder, log=lambda m: None)
    result["incremental"] = {"edited_note": note, "seconds": round(time.perf_counter() - started, 1), "re_embedded_cards": kb2.report.embedded,
                             "reused_cards": kb2.report.reused, "notes_changed": kb2.report.notes_changed, "action": kb2.report.action}
    print(f"incremental: {result['incremental']}", flush=True)
    checkpoint(result)
    del kb
    kb = kb2

    queries = real_queries()
    result["search"] = search_latency(kb, queries, query_rounds)
    result["search"]["faiss_index"] = type(kb.data.faiss_index).__name__
    print(f"search: {result['search']}", flush=True)
    checkpoint(result)

    if also_at:
        result["search_at"] = smaller_sizes(workdir, config, encoder, [n for n in also_at if n < cards], queries, query_rounds)
        checkpoint(result)

    query_vectors = np.stack([encoder.encode_query(q) for q in queries]).astype(np.float32)
    result["faiss"] = faiss_comparison(kb.data.vectors, query_vectors, existing=kb.data.faiss_index)
    print(f"faiss: {json.dumps(result['faiss'])}", flush=True)
    result["peak_rss_mb"] = round(peak_rss_mb())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Scale benchmark over a synthetic corpus (see the module docstring).")
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=None, help="Write the results JSON here (default: print only).")
    parser.add_argument("--workdir", type=Path, default=None, help="Where to put the corpus and index (default: a tmp folder).")
    parser.add_argument("--keep", action="store_true", help="Keep the workdir afterwards.")
    parser.add_argument("--query-rounds", type=int, default=3)
    parser.add_argument("--raw-sample", type=int, default=1000, help="Cards in the raw encode sample.")
    parser.add_argument("--embed-sample", type=int, default=None,
                        help="Embed only this many cards for real; the rest get noisy copies (see write_semi_synthetic_index).")
    parser.add_argument("--also-at", type=int, nargs="*", default=[], help="Also measure search at these smaller sizes (no re-embedding).")
    parser.add_argument("--answer-words", type=int, default=None, help="Cut synthetic answers at this many words (default 80; fewer = a cheaper build).")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"kb-scale-{args.cards}-"))

    def save(result: dict) -> None:
        if not args.out:
            return
        previous = json.loads(args.out.read_text()) if args.out.exists() else {}
        previous = previous if isinstance(previous, dict) and "runs" in previous else {"runs": {}}
        previous["runs"][str(args.cards)] = result
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(previous, indent=1) + "\n")

    try:
        result = run(args.cards, workdir, args.query_rounds, args.raw_sample, args.answer_words, checkpoint=lambda r: save({**r, "complete": False}),
                     also_at=tuple(args.also_at), embed_sample=args.embed_sample)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    try:
        result["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    result["complete"] = True
    print(json.dumps(result, indent=1))
    save(result)


if __name__ == "__main__":
    main()
