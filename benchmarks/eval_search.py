"""Search quality on benchmarks/queries.jsonl, plus the abstention calibration for the chat.

    python benchmarks/eval_search.py            # table on stdout, JSON in benchmarks/results/search.json

Methods compared in one run, per split (dev = tuned on, test = held out) and per query style:
  bm25        plain BM25 over the same card text: no typo repair, no glossary
  dense       plain dense: the raw query against the card vectors
  rrf         plain reciprocal-rank fusion (k=60) of bm25 and dense: the baseline
  kb-lexical  kb.search(mode="lexical"): BM25 with typo repair and glossary concept tokens
  kb-dense    kb.search(mode="dense"): dense on the repaired, glossary-expanded query
  hybrid      kb.search(mode="hybrid"): what the product uses
Metrics: Recall@1, Recall@5 (any expected card in the top k) and MRR@10.

Calibration: the top hit's dense score and fused score for on-topic dev queries vs the off-topic
questions in benchmarks/offtopic.txt (also split dev/test by a hash), the best threshold on dev,
and the abstention accuracy of kb.search.ABSTAIN_THRESHOLD on the held-out parts.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import Config, KnowledgeBase  # noqa: E402
from kb.retrieval.lexical import LexicalIndex, PhraseMatcher  # noqa: E402
from kb.retrieval.search import ABSTAIN_THRESHOLD, confidence_signal, dense_scores, is_confident  # noqa: E402

QUERIES = ROOT / "benchmarks" / "queries.jsonl"
OFFTOPIC = ROOT / "benchmarks" / "offtopic.txt"
RESULTS = ROOT / "benchmarks" / "results" / "search.json"
RRF_K = 60
METHODS = ("bm25", "dense", "rrf", "kb-lexical", "kb-dense", "hybrid")


def load_queries(path: Path = QUERIES) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def offtopic_split(text: str) -> str:
    """Deterministic dev/test split of the off-topic questions (about 40% test)."""
    return "test" if int(hashlib.sha256(text.encode()).hexdigest(), 16) % 10 < 4 else "dev"


def load_offtopic(path: Path = OFFTOPIC) -> list[dict]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [{"query": q, "split": offtopic_split(q)} for q in lines if q and not q.startswith("#")]


class Baselines:
    """Plain signals for the baselines: BM25 without typo repair or glossary, dense on the raw query."""

    def __init__(self, kb: KnowledgeBase):
        texts = [f"{c.question}\n{c.question}\n{c.family}\n{c.answer_text}" for c in kb.cards()]  # as kb indexes them
        self.bm25 = LexicalIndex(texts, synonyms=PhraseMatcher([]))
        self.kb = kb

    def bm25_scores(self, query: str) -> np.ndarray:
        return self.bm25.scores(query, expand=False)

    def dense_scores(self, query: str) -> np.ndarray:
        return dense_scores(self.kb.data.vectors, self.kb.encoder.encode_query(query))


def top_ids(kb: KnowledgeBase, scores: np.ndarray, k: int, positive_only: bool = False) -> list[str]:
    order = np.argsort(-scores, kind="stable")[:k]
    return [kb.cards()[i].id for i in order if not positive_only or scores[i] > 0]


def ranked_ids(kb: KnowledgeBase, base: Baselines, query: str, method: str, k: int = 10) -> list[str]:
    if method == "hybrid":
        return [h.card.id for h in kb.search(query, k=k)]
    if method == "kb-dense":
        return [h.card.id for h in kb.search(query, k=k, mode="dense")]
    if method == "kb-lexical":
        return [h.card.id for h in kb.search(query, k=k, mode="lexical") if h.lexical > 0]
    if method == "bm25":
        return top_ids(kb, base.bm25_scores(query), k, positive_only=True)
    if method == "dense":
        return top_ids(kb, base.dense_scores(query), k)
    if method == "rrf":
        fused: dict[str, float] = defaultdict(float)
        for ranking in (top_ids(kb, base.dense_scores(query), len(kb.cards())), top_ids(kb, base.bm25_scores(query), len(kb.cards()), positive_only=True)):
            for r, card_id in enumerate(ranking):
                fused[card_id] += 1.0 / (RRF_K + r + 1)
        return sorted(fused, key=lambda c: -fused[c])[:k]
    raise ValueError(method)


def metrics(rows: list[tuple[list[str], list[str]]]) -> dict:
    """rows: (ranked ids, expected ids) -> R@1, R@5, MRR@10."""
    if not rows:
        return {"n": 0}
    r1 = r5 = mrr = 0.0
    for ranked, expected in rows:
        positions = [i for i, card_id in enumerate(ranked[:10]) if card_id in expected]
        first = positions[0] if positions else None
        r1 += first == 0
        r5 += first is not None and first < 5
        mrr += 1.0 / (first + 1) if first is not None else 0.0
    n = len(rows)
    return {"n": n, "R@1": round(r1 / n, 4), "R@5": round(r5 / n, 4), "MRR@10": round(mrr / n, 4)}


def evaluate(kb: KnowledgeBase, queries: list[dict]) -> tuple[dict, list[dict]]:
    base = Baselines(kb)
    per_query = []
    for q in queries:
        row = {**q}
        for method in METHODS:
            row[method] = ranked_ids(kb, base, q["query"], method)
        per_query.append(row)
    report: dict = {}
    for method in METHODS:
        groups: dict[str, list] = defaultdict(list)
        for row in per_query:
            pair = (row[method], row["expected"])
            groups[row["split"]].append(pair)
            groups[f"{row['split']}/{row['style']}"].append(pair)
        report[method] = {name: metrics(rows) for name, rows in sorted(groups.items())}
    return report, per_query


def best_threshold(on: list[float], off: list[float]) -> tuple[float, float]:
    """Threshold maximising balanced accuracy (on-topic kept, off-topic refused); midpoint between neighbours."""
    values = sorted(set(on) | set(off))
    candidates = [(a + b) / 2 for a, b in itertools.pairwise(values)] or values
    best = (0.0, 0.0)
    for t in candidates:
        acc = (np.mean([s >= t for s in on]) + np.mean([s < t for s in off])) / 2
        if acc > best[1]:
            best = (t, acc)
    return round(float(best[0]), 4), round(float(best[1]), 4)


def describe(values: list[float]) -> dict:
    a = np.asarray(values)
    return {k: round(float(v), 4) for k, v in zip(("min", "p10", "median", "p90", "max"), np.percentile(a, [0, 10, 50, 90, 100]), strict=True)}


def calibrate(kb: KnowledgeBase, queries: list[dict], offtopic: list[dict]) -> dict:
    top = {}
    for item in queries + offtopic:
        hits = kb.search(item["query"], k=5)
        top[item["query"]] = {"dense": hits[0].dense, "fused": confidence_signal(hits), "confident": is_confident(hits)}
    out: dict = {"threshold": ABSTAIN_THRESHOLD, "signal": "fused (kb.search.confidence_signal)", "signals": {}}
    for signal in ("dense", "fused"):
        on_dev = [top[q["query"]][signal] for q in queries if q["split"] == "dev"]
        off_dev = [top[q["query"]][signal] for q in offtopic if q["split"] == "dev"]
        out["signals"][signal] = {
            "on_topic_dev": describe(on_dev),
            "off_topic_dev": describe(off_dev),
            "best_dev_threshold_and_balanced_accuracy": best_threshold(on_dev, off_dev),
        }
    for split in ("dev", "test"):
        on = [top[q["query"]]["confident"] for q in queries if q["split"] == split]
        off = [not top[q["query"]]["confident"] for q in offtopic if q["split"] == split]
        out[split] = {
            "on_topic_answered": round(float(np.mean(on)), 4),
            "off_topic_refused": round(float(np.mean(off)), 4),
            "balanced_accuracy": round(float((np.mean(on) + np.mean(off)) / 2), 4),
            "n_on": len(on),
            "n_off": len(off),
        }
    out["refused_on_topic"] = [q["query"] for q in queries if not top[q["query"]]["confident"]]
    out["answered_off_topic"] = [q["query"] for q in offtopic if top[q["query"]]["confident"]]
    out["closest_off_topic"] = sorted(([round(top[q["query"]]["fused"], 4), q["query"]] for q in offtopic), reverse=True)[:5]
    out["weakest_on_topic"] = sorted([round(top[q["query"]]["fused"], 4), q["query"]] for q in queries)[:5]
    return out


def latency(kb: KnowledgeBase, queries: list[dict], rounds: int = 3) -> dict:
    """Whole hybrid search vs its two parts, measured in the same loop (the encoder is the baseline cost)."""
    search, encode, lexical = [], [], []
    for _ in range(rounds):
        for q in queries:
            kb.clear_query_cache()  # time the encode, not the remembered vector
            start = time.perf_counter()
            kb.search(q["query"], k=5)
            middle = time.perf_counter()
            kb.encoder.encode_query(q["query"])
            end = time.perf_counter()
            kb.lexical.scores(q["query"])
            search.append((middle - start) * 1000)
            encode.append((end - middle) * 1000)
            lexical.append((time.perf_counter() - end) * 1000)
    p = lambda xs, q: round(float(np.percentile(xs, q)), 2)  # noqa: E731
    return {"search_ms_p50": p(search, 50), "search_ms_p95": p(search, 95), "encode_query_ms_p50": p(encode, 50), "lexical_ms_p50": p(lexical, 50)}


def print_table(report: dict) -> None:
    groups = sorted({g for m in report.values() for g in m}, key=lambda g: (g.split("/")[0] != "dev", "/" in g, g))
    header = f"{'group':<16}{'n':>4}  " + "  ".join(f"{m:>14}" for m in METHODS)
    print(header)
    print(f"{'':<20}  " + "  ".join(f"{'R@1  R@5  MRR':>14}" for _ in METHODS))
    for g in groups:
        n = report[METHODS[0]][g]["n"]
        cells = "  ".join(f"{report[m][g]['R@1']:.2f} {report[m][g]['R@5']:.2f} {report[m][g]['MRR@10']:.2f}".rjust(14) for m in METHODS)
        print(f"{g:<16}{n:>4}  {cells}")


class CachedQueries:
    """The real encoder, remembering query vectors: each method asks for the same queries."""

    def __init__(self, encoder):
        self.encoder, self.cache = encoder, {}
        self.model_id, self.dim = encoder.model_id, encoder.dim

    def encode(self, texts, **kwargs):
        return self.encoder.encode(texts, **kwargs)

    def encode_query(self, text: str):
        if text not in self.cache:
            self.cache[text] = self.encoder.encode_query(text)
        return self.cache[text]


def open_kb(tmp: Path, cached: bool = True) -> KnowledgeBase:
    from kb.embed import load_encoder

    encoder = CachedQueries(load_encoder()) if cached else load_encoder()
    config = Config(corpus=ROOT / "corpus", index=tmp / "index", data=tmp / "data")
    return KnowledgeBase.load(config=config, encoder_factory=lambda: encoder)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kb-eval-"))
    try:
        kb = open_kb(tmp)
        queries, offtopic = load_queries(), load_offtopic()
        report, per_query = evaluate(kb, queries)
        calibration = calibrate(kb, queries, offtopic)
        kb._encoder = kb.encoder.encoder  # time the real, uncached encoder
        speed = latency(kb, queries[:60]) if "--no-latency" not in sys.argv else {}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(report)
    print()
    for signal, info in calibration["signals"].items():
        print(f"top-hit {signal:<6} on-topic dev {info['on_topic_dev']}  off-topic dev {info['off_topic_dev']}  "
              f"best dev threshold/bal.acc {info['best_dev_threshold_and_balanced_accuracy']}")
    for split in ("dev", "test"):
        c = calibration[split]
        print(f"abstention ({split}, threshold {ABSTAIN_THRESHOLD}): on-topic answered {c['on_topic_answered']:.2f} (n={c['n_on']}), "
              f"off-topic refused {c['off_topic_refused']:.2f} (n={c['n_off']}), balanced {c['balanced_accuracy']:.2f}")
    print(f"latency over {len(queries[:60])} queries x3: {speed}")
    misses = [{"query": r["query"], "split": r["split"], "style": r["style"], "expected": r["expected"], "got": r["hybrid"][:3]}
              for r in per_query if r["hybrid"][:1] and r["hybrid"][0] not in r["expected"]]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"metrics": report, "calibration": calibration, "latency": speed, "hybrid_misses_at_1": misses}, indent=2) + "\n",
                       encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
