"""Grading quality: pairwise ranking accuracy on (strong, partial, wrong) answer triples.

For every triple the grader should rank strong > partial, strong > wrong and partial > wrong.
The baseline, measured in the same run with the same model, is plain cosine similarity between
the answer and the card's answer text. Reports the dev split (tuned on) and the held-out test split.

    python benchmarks/eval_grading.py [--triples benchmarks/grading_triples.jsonl] [--out benchmarks/results/grading.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAIRS = (("strong", "partial"), ("strong", "wrong"), ("partial", "wrong"))


def pairwise_accuracy(scores: list[dict]) -> dict:
    """Share of the three orderings that hold (ties count as wrong), overall and per pair."""
    per_pair = {f"{a}>{b}": 0 for a, b in PAIRS}
    for row in scores:
        for a, b in PAIRS:
            per_pair[f"{a}>{b}"] += row[a] > row[b]
    n = max(1, len(scores))
    return {"accuracy": round(sum(per_pair.values()) / (3 * n), 4), **{k: round(v / n, 4) for k, v in per_pair.items()}, "triples": len(scores)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triples", type=Path, default=ROOT / "benchmarks" / "grading_triples.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "grading.json")
    parser.add_argument("--index", type=Path, default=None, help="index folder (default: a temporary one)")
    parser.add_argument("--verbose", action="store_true", help="print every triple's scores")
    args = parser.parse_args()

    from kb import Config, KnowledgeBase
    from kb.grade import Grader

    index = args.index or Path(tempfile.mkdtemp(prefix="kb-eval-grading-")) / "index"
    kb = KnowledgeBase.load(config=Config(corpus=ROOT / "corpus", index=index))
    grader = Grader(kb.encoder)
    triples = [json.loads(line) for line in args.triples.read_text(encoding="utf-8").splitlines() if line.strip()]

    rows = {"grader": {}, "cosine": {}}
    timings = []
    for triple in triples:
        card = kb.card(triple["card"])
        reference = kb.encoder.encode([card.answer_text])[0]
        g, c = {}, {}
        for kind in ("strong", "partial", "wrong"):
            started = time.perf_counter()
            g[kind] = grader.grade(card, triple[kind]).score
            timings.append(time.perf_counter() - started)
            c[kind] = float(kb.encoder.encode([triple[kind]])[0] @ reference)
        rows["grader"].setdefault(triple["split"], []).append(g)
        rows["cosine"].setdefault(triple["split"], []).append(c)
        if args.verbose:
            print(f"{triple['id']} {triple['split']:<4} grader {g['strong']:>3} {g['partial']:>3} {g['wrong']:>3}   cosine {c['strong']:.2f} {c['partial']:.2f} {c['wrong']:.2f}  {triple['card']}")

    result = {
        "triples_file": str(args.triples.relative_to(ROOT)) if args.triples.is_relative_to(ROOT) else str(args.triples),
        "model": kb.config.model,
        "splits": {},
        "grade_ms_p50": round(1000 * sorted(timings)[len(timings) // 2], 1),
    }
    for split in sorted(rows["grader"]):
        result["splits"][split] = {
            "grader": pairwise_accuracy(rows["grader"][split]),
            "cosine_baseline": pairwise_accuracy(rows["cosine"][split]),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for split, numbers in result["splits"].items():
        print(f"{split:<5} grader {numbers['grader']['accuracy']:.3f}   cosine {numbers['cosine_baseline']['accuracy']:.3f}   ({numbers['grader']['triples']} triples)")
    print(f"grade p50 {result['grade_ms_p50']} ms; wrote {args.out}")


if __name__ == "__main__":
    main()
