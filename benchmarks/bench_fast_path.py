"""The ONNX Runtime query path against the torch (sentence-transformers) path, same run, same machine.

    python benchmarks/bench_fast_path.py             # everything; table on stdout, JSON in results/fast_path.json
    python benchmarks/bench_fast_path.py --rounds 1  # a quicker, noisier pass

Sections (each side by side with the torch path, KB_ONNX=0, measured in the same run):
  query    one `kb.search` (hybrid) in-process over the shipped corpus, the 276 queries of
           queries.jsonl x rounds, the two paths taking turns by blocks; also the bare encode of the
           text search embeds (the query after typo repair and glossary expansion).
  quality  R@1 / MRR@10 on the dev and test splits: ONNX fp32, torch, and ONNX dynamic int8
           (documents and queries both through int8), plus the int8 query encode time.
  cli      `python -m kb search "..."` as a fresh process over an up-to-date index: wall time.
  app      `python app.py`: page served, first search answered, first semantic answer (seconds
           after launch), and the serving process's peak RSS once it has answered semantically.
  build    embedding throughput of a full rebuild of the shipped + external notes (cards/s), model
           already loaded, so it is the embedding and index work alone.
The ONNX export is made once, into the work folder's index, before anything is timed.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_startup import measure_app  # noqa: E402
from eval_search import evaluate, load_queries  # noqa: E402

from kb import Config, KnowledgeBase  # noqa: E402
from kb.embed import SentenceTransformerEncoder, load_encoder  # noqa: E402
from kb.retrieval.search import dense_query_text  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "fast_path.json"
EXTERNAL = ROOT.parent / "shared" / "external-corpora"
CLI_QUERY = "why does PPO clip the probability ratio"


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def percentiles(values: list[float]) -> dict:
    return {"p50_ms": round(float(np.percentile(values, 50)), 2), "p95_ms": round(float(np.percentile(values, 95)), 2), "n": len(values)}


def open_kb(corpus: Path, index: Path, encoder, force: bool = False) -> KnowledgeBase:
    return KnowledgeBase.load(config=Config(corpus=corpus, index=index, data=index.parent / "data", cache=index), encoder_factory=lambda: encoder, force=force)


# ---- query: in-process, paired ----------------------------------------------------------------------
def bench_query(kbs: dict[str, KnowledgeBase], queries: list[str], rounds: int) -> dict:
    search = {name: [] for name in kbs}
    encode = {name: [] for name in kbs}
    for kb in kbs.values():  # warm each path up
        for query in queries[:10]:
            kb.search(query)
    # Each path runs a whole block of queries in turn: alternating query by query in one process
    # slows ONNX Runtime down (~20 %), because torch's worker threads keep spinning after each call.
    for _ in range(rounds):
        for name, kb in kbs.items():
            for query in queries:
                text = dense_query_text(query, kb.lexical)
                kb.clear_query_cache()  # time the encode, not the remembered vector
                started = time.perf_counter()
                kb.search(query)
                middle = time.perf_counter()
                kb.encoder.encode_query(text)
                search[name].append((middle - started) * 1000)
                encode[name].append((time.perf_counter() - middle) * 1000)
    out = {name: {"search": percentiles(search[name]), "encode_of_the_searched_text": percentiles(encode[name])} for name in kbs}
    ratios = [t / o for t, o in zip(search["torch"], search["onnx"], strict=True)]
    out["search_speedup_torch_over_onnx_median_of_pairs"] = round(statistics.median(ratios), 2)
    return out


# ---- quality: fp32, torch, int8 ---------------------------------------------------------------------
def quantized_encoder(onnx_encoder, work: Path):
    """A copy of the verified export with dynamically quantized (int8) weights."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from kb.embed.onnx import ONNX_FILE, OnnxEncoder

    folder = work / "int8-export"
    shutil.copytree(onnx_encoder.folder, folder, dirs_exist_ok=True)
    (folder / ONNX_FILE).unlink()
    import onnx

    # The fused graph has contrib ops shape inference cannot type; their outputs are float.
    quantize_dynamic(str(Path(onnx_encoder.folder) / ONNX_FILE), str(folder / ONNX_FILE), weight_type=QuantType.QInt8,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    for name in ("", "bm25s"):  # the quantizer turns logging up to DEBUG
        logging.getLogger(name).setLevel(logging.WARNING)
    encoder = OnnxEncoder(folder, model_id=onnx_encoder.model_id, meta=onnx_encoder.meta)
    encoder.backend = "onnxruntime-int8"
    return encoder


def bench_quality(kbs: dict[str, KnowledgeBase], queries: list[dict]) -> dict:
    out = {}
    for name, kb in kbs.items():
        report, _ = evaluate(kb, queries)
        out[name] = {method: {split: report[method][split] for split in ("dev", "test")} for method in ("hybrid", "dense")}
    return out


def top1_agreement(a: KnowledgeBase, b: KnowledgeBase, queries: list[str]) -> float:
    same = sum(a.search(q, k=1, mode="dense")[0].card.id == b.search(q, k=1, mode="dense")[0].card.id for q in queries)
    return round(same / len(queries), 4)


# ---- cli and app: fresh processes ---------------------------------------------------------------------
def bench_cli(env_by_path: dict[str, dict], rounds: int) -> dict:
    times = {name: [] for name in env_by_path}
    for _ in range(rounds):
        for name, env in env_by_path.items():
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "kb", "search", CLI_QUERY, "-k", "5"], cwd=ROOT, env=env, check=True, capture_output=True)
            times[name].append(time.perf_counter() - started)
    return {name: {"median_s": round(statistics.median(t), 2), "runs": [round(x, 2) for x in t]} for name, t in times.items()}


def bench_app(env_by_path: dict[str, dict], rounds: int) -> dict:
    runs = {name: [] for name in env_by_path}
    for _ in range(rounds):
        for name, env in env_by_path.items():
            r = measure_app(env, CLI_QUERY)
            runs[name].append({"page_s": round(r["page"], 2), "first_answer_s": _rounded(r["answer"]), "first_semantic_s": _rounded(r["semantic"]),
                               "peak_rss_mb": r["peak_rss_mb"], "torch_loaded": r["torch_loaded"]})
    out = {}
    for name, rows in runs.items():
        keys = ("page_s", "first_answer_s", "first_semantic_s", "peak_rss_mb")
        summary = {key: statistics.median([r[key] for r in rows if r[key] is not None]) for key in keys}
        out[name] = {"median": summary, "torch_loaded": rows[0]["torch_loaded"], "runs": rows}
    return out


def _rounded(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


# ---- build throughput ----------------------------------------------------------------------------------
def bench_build(encoders: dict, corpus: Path, work: Path) -> dict:
    out = {}
    for name, encoder in encoders.items():
        index = work / f"build-{name}"
        started = time.perf_counter()
        kb = open_kb(corpus, index, encoder, force=True)
        seconds = time.perf_counter() - started
        out[name] = {"cards": len(kb.cards()), "seconds": round(seconds, 2), "cards_per_s": round(len(kb.cards()) / seconds, 1)}
    out["speedup_onnx_over_torch"] = round(out["onnx"]["cards_per_s"] / out["torch"]["cards_per_s"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kb-bench-fast-"))
    result: dict = {"machine": {"cpus": len(os.sched_getaffinity(0)), "load_average_1min": {"start": load_average()}}, "rounds": args.rounds}
    try:
        shutil.copytree(ROOT / "corpus", work / "corpus")
        env = {k: v for k, v in os.environ.items() if k not in ("KB_CACHE", "KB_ONNX")}
        env.update(KB_CORPUS=str(work / "corpus"), KB_INDEX=str(work / "index"), KB_DATA=str(work / "data"), GRADIO_ANALYTICS_ENABLED="False")
        subprocess.run([sys.executable, "-m", "kb", "build"], cwd=ROOT, env=env, check=True, capture_output=True)  # exports into work/index
        onnx = load_encoder(cache=work / "index")
        assert onnx.backend == "onnxruntime", onnx.notes
        torch_encoder = SentenceTransformerEncoder()
        kbs = {"onnx": open_kb(work / "corpus", work / "index", onnx), "torch": open_kb(work / "corpus", work / "index-torch", torch_encoder)}
        rows = load_queries()
        texts = [r["query"] for r in rows]

        print("query ...", flush=True)
        result["query"] = bench_query(kbs, texts, args.rounds)
        result["machine"]["load_average_1min"]["after_query"] = load_average()

        print("quality ...", flush=True)
        int8 = quantized_encoder(onnx, work)
        kbs["onnx-int8"] = open_kb(work / "corpus", work / "index-int8", int8)
        result["quality"] = bench_quality(kbs, rows)
        result["quality"]["int8_dense_top1_agreement_with_fp32"] = top1_agreement(kbs["onnx"], kbs["onnx-int8"], texts)
        int8_encode = []
        for _ in range(args.rounds):
            for query in texts:
                text = dense_query_text(query, kbs["onnx"].lexical)
                started = time.perf_counter()
                int8.encode_query(text)
                int8_encode.append((time.perf_counter() - started) * 1000)
        result["quality"]["int8_encode_of_the_searched_text"] = percentiles(int8_encode)

        print("build ...", flush=True)
        build_corpus = work / "build-corpus"
        shutil.copytree(ROOT / "corpus", build_corpus)
        for note in sorted(EXTERNAL.glob("*.md")):
            shutil.copy(note, build_corpus / note.name)
        result["build"] = bench_build({"onnx": onnx, "torch": torch_encoder}, build_corpus, work)
        del kbs, torch_encoder

        print("cli ...", flush=True)
        env_by_path = {"onnx": env, "torch": {**env, "KB_ONNX": "0"}}
        result["cli"] = bench_cli(env_by_path, max(3, args.rounds))
        print("app ...", flush=True)
        result["app"] = bench_app(env_by_path, args.rounds)
        result["machine"]["load_average_1min"]["end"] = load_average()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print_summary(result)
    print(f"wrote {RESULTS.relative_to(ROOT)}")


def print_summary(r: dict) -> None:
    q = r["query"]
    print(f"\nload average (1 min): {r['machine']['load_average_1min']}")
    print("one query in-process, kb.search hybrid (p50 / p95 ms):")
    for name in ("onnx", "torch"):
        print(f"  {name:<6} search {q[name]['search']['p50_ms']:6.2f} / {q[name]['search']['p95_ms']:6.2f}   "
              f"encode alone {q[name]['encode_of_the_searched_text']['p50_ms']:6.2f}")
    print(f"  torch/onnx, median of per-query pairs: {q['search_speedup_torch_over_onnx_median_of_pairs']}x")
    print("retrieval quality, hybrid R@1 / MRR@10 (dev | test):")
    for name, report in r["quality"].items():
        if isinstance(report, dict) and "hybrid" in report:
            h = report["hybrid"]
            print(f"  {name:<10} {h['dev']['R@1']:.3f} / {h['dev']['MRR@10']:.3f} | {h['test']['R@1']:.3f} / {h['test']['MRR@10']:.3f}   "
                  f"dense dev R@1 {report['dense']['dev']['R@1']:.3f}")
    print(f"  int8 dense top-1 agreement with fp32: {r['quality']['int8_dense_top1_agreement_with_fp32']}, "
          f"int8 encode p50 {r['quality']['int8_encode_of_the_searched_text']['p50_ms']} ms")
    b = r["build"]
    print(f"build (model loaded): onnx {b['onnx']['cards_per_s']} cards/s, torch {b['torch']['cards_per_s']} cards/s "
          f"({b['speedup_onnx_over_torch']}x), {b['onnx']['cards']} cards")
    print(f"`kb search` fresh process (median s): onnx {r['cli']['onnx']['median_s']}, torch {r['cli']['torch']['median_s']}")
    for name in ("onnx", "torch"):
        m = r["app"][name]["median"]
        print(f"app {name:<6} page {m['page_s']:.2f} s, first answer {m['first_answer_s']:.2f} s, semantic {m['first_semantic_s']:.2f} s, "
              f"peak RSS {m['peak_rss_mb']:.0f} MB, torch loaded: {r['app'][name]['torch_loaded']}")


if __name__ == "__main__":
    main()
