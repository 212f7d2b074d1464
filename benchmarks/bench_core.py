"""Core speed and memory: build, rebuild, one query, peak RSS; each number beside a baseline from the same run.

    python benchmarks/bench_core.py            # 3 rounds of the cold runs, 30 rounds of the query loop
    python benchmarks/bench_core.py --rounds 1 --query-rounds 5   # quick look

What is measured (medians over rounds; the machine is shared, so read differences under ~20 % as noise):
  * query:   one `kb.search` in-process, end to end (clean, lexical, encode, fuse, rank), against the
             model alone encoding the same query (`kb.encoder.encode_query`). Target: <= 1.2x. Also
             the model on the text search really encodes (typos repaired, synonyms appended), which
             separates the cost of a longer encoder input from the rest of the search.
  * build:   `python -m kb build` of the shipped note in a fresh process, model load included (target
             < 10 s), against a fresh process that only loads the encoder and embeds the same texts.
  * rebuild: `kb build` again with nothing changed (must re-embed 0 cards) and after editing one
             card's answer (must re-embed 1).
  * memory:  peak RSS of the build process and of a search process (load index + one query), against
             a process that only loads the encoder and encodes one query.
Results go to benchmarks/results/core.json and are printed as a table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "core.json"
NOTE = "losses-in-deep-learning.md"
QUERIES = [  # written for this benchmark: short, long, typo'd, keyword
    "why does PPO clip the ratio",
    "loss that is robust to outliers but smooth near zero",
    "kl divergence forward vs reverse mode seeking",
    "contrastive loss with many negatives",
    "how do diffusion models get trained",
    "reward model free preference optimisation",
    "focal loss",
    "what does the entropy bonus do in policy gradient methods and why does it help exploration",
]


# ---------------------------------------------------------------- children (fresh processes)
def child(mode: str, args: list[str]) -> None:
    """Run one measured job in this fresh process and write its peak RSS and timings to $BENCH_OUT."""
    sys.path.insert(0, str(ROOT))
    out: dict = {}
    started = time.perf_counter()
    try:
        if mode == "cli":  # exactly what `python -m kb ...` does
            from kb.cli import main

            try:
                main(args, standalone_mode=False)
            except SystemExit:
                pass
        elif mode == "embed-only":  # the model alone: load it and embed what a build embeds
            from kb.embed import load_encoder
            from kb.notes.corpus import load_corpus

            cards = load_corpus(Path(args[0])).cards
            t = time.perf_counter()
            encoder = load_encoder()
            out["load_s"] = time.perf_counter() - t
            t = time.perf_counter()
            encoder.encode([c.question for c in cards] + [c.search_text for c in cards], batch_size=32)
            out["encode_s"] = time.perf_counter() - t
            out["texts"] = 2 * len(cards)
        elif mode == "search":  # open the built index and answer one query
            from kb import Config, KnowledgeBase

            kb = KnowledgeBase.load(config=Config(corpus=Path(args[0]), index=Path(args[1])))
            kb.search(QUERIES[0], k=5)
        elif mode == "encode-query":  # the model alone, one query
            from kb.embed import load_encoder

            load_encoder().encode_query(QUERIES[0])
        else:
            raise SystemExit(f"unknown child mode {mode}")
    finally:
        out["in_process_s"] = time.perf_counter() - started
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        Path(os.environ["BENCH_OUT"]).write_text(json.dumps(out))


def run_child(mode: str, *args, env: dict | None = None) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out_path = handle.name
    full_env = {**os.environ, **(env or {}), "BENCH_OUT": out_path, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", mode, *map(str, args)], capture_output=True, text=True, env=full_env)
    wall = time.perf_counter() - t
    try:
        result = json.loads(Path(out_path).read_text())
    except (OSError, ValueError):
        raise SystemExit(f"child {mode} failed ({proc.returncode}):\n{proc.stderr[-2000:]}") from None
    finally:
        Path(out_path).unlink(missing_ok=True)
    result.update(wall_s=wall, stdout=proc.stdout, stderr=proc.stderr, returncode=proc.returncode)
    return result


def embedded_count(stdout: str) -> int:
    match = re.search(r"re-embedded (\d+)", stdout)
    if not match:
        raise SystemExit(f"unexpected kb build output: {stdout!r}")
    return int(match.group(1))


def median(values):
    return statistics.median(values) if values else float("nan")


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# ---------------------------------------------------------------- the measurements
def measure_cold(work: Path, rounds: int) -> dict:
    corpus = work / "corpus"
    # One ONNX export, shared by every child (as KB_CACHE shares it between indexes): a fresh index
    # then measures the build, not the once-per-model export, which is timed on its own here.
    os.environ["KB_CACHE"] = str(work / "model-cache")
    first_export = run_child("embed-only", corpus)
    builds, baselines, nothing, one_edit, startups = [], [], [], [], []
    for r in range(rounds):
        index = work / f"index-{r}"
        startup = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        startups.append(time.perf_counter() - startup)
        baselines.append(run_child("embed-only", corpus))
        build = run_child("cli", "build", "--corpus", corpus, "--index", index)
        if build["returncode"] not in (0, None) or embedded_count(build["stdout"]) == 0:
            raise SystemExit(f"kb build failed: {build['stderr'][-2000:]}")
        build["embedded"] = embedded_count(build["stdout"])
        builds.append(build)
        again = run_child("cli", "build", "--corpus", corpus, "--index", index)
        again["embedded"] = embedded_count(again["stdout"])
        nothing.append(again)
    # one edited answer: only that card is embedded again
    note = corpus / NOTE
    original = note.read_text(encoding="utf-8")
    edited = original.replace("Huber clips gradient.", "Huber clips the gradient of large TD errors.", 1)
    assert edited != original, "the edit target is missing from the shipped note"
    note.write_text(edited, encoding="utf-8")
    try:
        edit = run_child("cli", "build", "--corpus", corpus, "--index", work / "index-0")
        edit["embedded"] = embedded_count(edit["stdout"])
        one_edit.append(edit)
    finally:
        note.write_text(original, encoding="utf-8")
    searches = [run_child("search", corpus, work / "index-0") for _ in range(rounds)]
    query_only = [run_child("encode-query") for _ in range(rounds)]
    return {
        "python_startup_s": median(startups),
        "first_model_load_with_onnx_export_s": first_export["load_s"],
        "build": {
            "wall_s": median([b["wall_s"] for b in builds]),
            "cards_embedded": builds[0]["embedded"],
            "peak_rss_mb": median([b["peak_rss_mb"] for b in builds]),
            "target_s": 10.0,
        },
        "build_baseline_model_alone": {
            "wall_s": median([b["wall_s"] for b in baselines]),
            "model_load_s": median([b["load_s"] for b in baselines]),
            "encode_s": median([b["encode_s"] for b in baselines]),
            "texts": baselines[0]["texts"],
            "peak_rss_mb": median([b["peak_rss_mb"] for b in baselines]),
        },
        "rebuild_nothing_changed": {
            "wall_s": median([n["wall_s"] for n in nothing]),
            "cards_embedded": max(n["embedded"] for n in nothing),
            "peak_rss_mb": median([n["peak_rss_mb"] for n in nothing]),
        },
        "rebuild_one_answer_edited": {"wall_s": one_edit[0]["wall_s"], "cards_embedded": one_edit[0]["embedded"]},
        "search_process": {
            "wall_s": median([s["wall_s"] for s in searches]),
            "peak_rss_mb": median([s["peak_rss_mb"] for s in searches]),
        },
        "search_baseline_model_alone": {
            "wall_s": median([q["wall_s"] for q in query_only]),
            "peak_rss_mb": median([q["peak_rss_mb"] for q in query_only]),
        },
    }


def measure_query(work: Path, rounds: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from kb import Config, KnowledgeBase
    from kb.knowledge import clean_query

    kb = KnowledgeBase.load(config=Config(corpus=work / "corpus", index=work / "index-0", cache=work / "model-cache"))
    encoder = kb.encoder
    for q in QUERIES:  # warm up caches and lazy imports
        kb.search(q, k=5)
        encoder.encode_query(clean_query(q))
    try:  # what search really hands the encoder (typos repaired, synonyms appended), if it rewrites queries
        from kb.retrieval.search import dense_query_text

        rewrite = lambda q: dense_query_text(clean_query(q), kb.lexical)  # noqa: E731
    except ImportError:
        rewrite = clean_query
    end_to_end, model_alone, model_rewritten, lexical = [], [], [], []
    for _ in range(rounds):
        for q in QUERIES:
            t = time.perf_counter()
            encoder.encode_query(clean_query(q))
            model_alone.append(time.perf_counter() - t)
            rewritten = rewrite(q)
            t = time.perf_counter()
            encoder.encode_query(rewritten)
            model_rewritten.append(time.perf_counter() - t)
            getattr(kb, "clear_query_cache", lambda: None)()  # time the encode, not the remembered vector
            t = time.perf_counter()
            kb.search(q, k=5)
            end_to_end.append(time.perf_counter() - t)
            t = time.perf_counter()
            kb.search(q, k=5, mode="lexical")
            lexical.append(time.perf_counter() - t)
    ms = lambda values, q=0.5: round(1000 * percentile(values, q), 3)  # noqa: E731
    return {
        "encoder": f"{type(encoder).__name__} ({getattr(encoder, 'backend', '?')})",
        "queries": len(QUERIES),
        "rounds": rounds,
        "end_to_end_ms": {"p50": ms(end_to_end), "p90": ms(end_to_end, 0.9)},
        "model_alone_ms": {"p50": ms(model_alone), "p90": ms(model_alone, 0.9)},
        "model_on_rewritten_query_ms": {"p50": ms(model_rewritten), "p90": ms(model_rewritten, 0.9)},
        "lexical_only_ms": {"p50": ms(lexical), "p90": ms(lexical, 0.9)},
        "ratio_p50": round(percentile(end_to_end, 0.5) / percentile(model_alone, 0.5), 3),
        "ratio_p50_vs_rewritten": round(percentile(end_to_end, 0.5) / percentile(model_rewritten, 0.5), 3),
        "target_ratio": 1.2,
    }


def table(results: dict) -> str:
    c, q = results["cold"], results["query"]
    rows = [
        ("one query, in-process, p50", f"{q['end_to_end_ms']['p50']:.2f} ms", f"model alone {q['model_alone_ms']['p50']:.2f} ms",
         f"{q['ratio_p50']:.2f}x (target <= 1.2x)"),
        ("one query, p90", f"{q['end_to_end_ms']['p90']:.2f} ms", f"model alone {q['model_alone_ms']['p90']:.2f} ms", ""),
        ("  model on the rewritten query", f"{q['model_on_rewritten_query_ms']['p50']:.2f} ms", "what search encodes",
         f"{q['ratio_p50_vs_rewritten']:.2f}x of it end to end"),
        ("  lexical-only search", f"{q['lexical_only_ms']['p50']:.2f} ms", "", ""),
        ("kb build, fresh process", f"{c['build']['wall_s']:.2f} s", f"model alone {c['build_baseline_model_alone']['wall_s']:.2f} s",
         f"target < 10 s; {c['build']['cards_embedded']} cards"),
        ("  first load: the one ONNX export", f"{c['first_model_load_with_onnx_export_s']:.2f} s", "once per model and cache folder", ""),
        ("  model load / encode (baseline)", f"{c['build_baseline_model_alone']['model_load_s']:.2f} s / {c['build_baseline_model_alone']['encode_s']:.2f} s",
         f"python startup {c['python_startup_s']:.2f} s", f"{c['build_baseline_model_alone']['texts']} texts"),
        ("kb build, nothing changed", f"{c['rebuild_nothing_changed']['wall_s']:.2f} s", "",
         f"re-embedded {c['rebuild_nothing_changed']['cards_embedded']} cards"),
        ("kb build, one answer edited", f"{c['rebuild_one_answer_edited']['wall_s']:.2f} s", "",
         f"re-embedded {c['rebuild_one_answer_edited']['cards_embedded']} card(s)"),
        ("peak RSS, build", f"{c['build']['peak_rss_mb']:.0f} MB", f"model alone {c['build_baseline_model_alone']['peak_rss_mb']:.0f} MB", ""),
        ("peak RSS, search process", f"{c['search_process']['peak_rss_mb']:.0f} MB", f"model alone {c['search_baseline_model_alone']['peak_rss_mb']:.0f} MB",
         f"wall {c['search_process']['wall_s']:.2f} s vs {c['search_baseline_model_alone']['wall_s']:.2f} s"),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="fresh-process runs of each cold measurement")
    parser.add_argument("--query-rounds", type=int, default=30, help="passes over the query set in-process")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parsed, rest = parser.parse_known_args()
    if parsed.child:
        child(parsed.child, rest)
        return
    with tempfile.TemporaryDirectory(prefix="kb-bench-core-") as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "corpus", work / "corpus")
        cold = measure_cold(work, parsed.rounds)
        query = measure_query(work, parsed.query_rounds)
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "rounds": parsed.rounds,
        "query": query,
        "cold": cold,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(table(results))
    print(f"\nencoder: {query['encoder']}; written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
