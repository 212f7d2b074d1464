"""Grading quality: pairwise ranking accuracy on (strong, partial, wrong) answer triples.

For every triple the grader should rank strong > partial, strong > wrong and partial > wrong.
The baseline, measured in the same run with the same model, is plain cosine similarity between
the answer and the card's answer text. Reports the dev split (tuned on) and the held-out splits
(test, and test2: written later and never tuned on), each with the grader's score distribution per
class (mean and quartiles) and how often the score's suggested rating fits the class (a wrong answer
should get Again, < 50; a strong one Good or Easy, >= 72).

    python benchmarks/eval_grading.py [--split dev|test|all] [--triples benchmarks/grading_triples.jsonl] [--out benchmarks/results/grading.json]

The dev split is the default; `--split test` (test and test2) only to report. A run of some splits keeps
the other splits' entries in the results file.
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


def distribution(scores: list[dict]) -> dict:
    """Per class: mean and quartiles of the grader's 0-100 score, and the share in the rating it should get."""
    out = {}
    for kind in ("strong", "partial", "wrong"):
        values = sorted(row[kind] for row in scores)
        if not values:
            continue
        q1, median, q3 = (values[min(len(values) - 1, int(round(f * (len(values) - 1))))] for f in (0.25, 0.5, 0.75))
        out[kind] = {"mean": round(sum(values) / len(values), 1), "q1": q1, "median": median, "q3": q3}
    out["wrong_below_50"] = round(sum(row["wrong"] < 50 for row in scores) / max(1, len(scores)), 3)
    out["partial_50_to_89"] = round(sum(50 <= row["partial"] < 90 for row in scores) / max(1, len(scores)), 3)
    out["strong_72_or_more"] = round(sum(row["strong"] >= 72 for row in scores) / max(1, len(scores)), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triples", type=Path, default=ROOT / "benchmarks" / "grading_triples.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "grading.json")
    parser.add_argument("--index", type=Path, default=None, help="index folder (default: a temporary one)")
    parser.add_argument("--verbose", action="store_true", help="print every triple's scores")
    parser.add_argument("--split", choices=("dev", "test", "all"), default="dev", help="dev (default), test (test and test2), or all")
    args = parser.parse_args()

    from kb import Config, KnowledgeBase

    index = args.index or Path(tempfile.mkdtemp(prefix="kb-eval-grading-")) / "index"
    kb = KnowledgeBase.load(config=Config(corpus=ROOT / "corpus", index=index))
    grader = kb.grader()  # the knowledge base's own: its vocabulary, and its cards for answers to another question
    triples = [json.loads(line) for line in args.triples.read_text(encoding="utf-8").splitlines() if line.strip()]
    triples = [t for t in triples if args.split == "all" or t["split"].rstrip("0123456789") == args.split]

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
            print(f"{triple['id']} {triple['split']:<4} grader {g['strong']:>3} {g['partial']:>3} {g['wrong']:>3}   "
                  f"cosine {c['strong']:.2f} {c['partial']:.2f} {c['wrong']:.2f}  {triple['card']}")

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
            "grader_scores": distribution(rows["grader"][split]),
        }
    if args.out.exists():  # keep the splits this run did not grade
        kept = json.loads(args.out.read_text(encoding="utf-8")).get("splits", {})
        result["splits"] = {**{k: v for k, v in kept.items() if k not in result["splits"]}, **result["splits"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for split, numbers in result["splits"].items():
        g, c, d = numbers["grader"], numbers["cosine_baseline"], numbers["grader_scores"]
        print(f"{split:<5} grader {g['accuracy']:.3f}   cosine {c['accuracy']:.3f}   ({g['triples']} triples)   "
              f"partial>wrong {g['partial>wrong']:.2f} vs {c['partial>wrong']:.2f}")
        print("      scores " + "   ".join(f"{k} {d[k]['mean']:.0f} ({d[k]['q1']}/{d[k]['median']}/{d[k]['q3']})" for k in ("strong", "partial", "wrong"))
              + f"   wrong<50 {d['wrong_below_50']:.2f}  strong>=72 {d['strong_72_or_more']:.2f}")
    print(f"grade p50 {result['grade_ms_p50']} ms; wrote {args.out}")


if __name__ == "__main__":
    main()
