"""Grading at first sight and at a second review, when the user's earlier answers are labelled.

    python -m benchmarks.evaluate_review                 # dev files (the default); JSON in benchmarks/results/evaluate_review.json
    python -m benchmarks.evaluate_review --split test    # the frozen test files, only to report

Data: benchmarks/eval/grading/review.<corpus>.<split>.jsonl, one card per line with two strong
answers, one partial, two wrong ones (the second repeats the first's misconception in other words)
and `corrected` (the first wrong answer's wording with its error fixed). Written by a helper who had
not read the grader (the test files frozen in their own commit, named in docs/grading.md).

First sight (no history), vocabulary off and `ml`, beside plain cosine in the same run:
  pairwise         strong > partial > wrong over the 8 pairs of each card (a tie is a miss)
  wrong_below_50   share of wrong answers under 50;  strong_flagged: strong answers with a contradiction
  strong_at_60     share of strong answers scoring 60 or more
  unsure           share of answers the grader says it cannot tell ("confident": false)
  confident_wrong  share of confident grades whose class disagrees with the label (strong < 50 or wrong >= 50)
  confident_pairwise  pairwise over the pairs whose two grades are both confident
  by_rule          per contradiction rule, the strong, partial and wrong answers it flagged
Second review (strong 1 marked right and wrong 1 marked wrong by the user, as `kb.progress(p).mark` stores them):
  pairwise of strong 2 > partial > wrong 2; repeated_below_50 (wrong 2 < 50); corrected_at_60 (corrected >= 60);
  grade_ms_p50 with the history lookup included.
A dev-only run keeps the test entries already in the results file.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.evaluate import VOCABS, Workspace, corpus_sources, read_jsonl, split_arguments, write_split_results  # noqa: E402
from kb.coach.progress import ProgressStore  # noqa: E402

EVAL = ROOT / "benchmarks" / "eval" / "grading"
RESULTS = ROOT / "benchmarks" / "results" / "evaluate_review.json"
FIRST = ("strong1", "strong2", "partial", "wrong1", "wrong2")
PAIRS = ([(s, "partial") for s in ("strong1", "strong2")] + [(s, w) for s in ("strong1", "strong2") for w in ("wrong1", "wrong2")]
         + [("partial", w) for w in ("wrong1", "wrong2")])
SECOND_PAIRS = (("strong2", "partial"), ("strong2", "wrong2"), ("partial", "wrong2"))


def answers(row: dict) -> dict[str, str]:
    return {"strong1": row["strong"][0], "strong2": row["strong"][1], "partial": row["partial"], "wrong1": row["wrong"][0],
            "wrong2": row["wrong"][1], "corrected": row["corrected"]}


def first_sight(kb, rows: list[dict]) -> dict:
    out = []
    for row in rows:
        card = kb.card(row["card"])
        reference = kb.encoder.encode([card.answer_text])[0]
        said = answers(row)
        grades = {k: kb.grade(card.id, said[k]) for k in FIRST}
        cosine = {k: float(kb.encoder.encode([said[k]])[0] @ reference) for k in FIRST}
        out.append({"id": row["id"], "grades": {k: (g.score, g.confident, bool(g.contradictions)) for k, g in grades.items()}, "cosine": cosine,
                    "rules": {k: sorted({c.rule for c in g.contradictions}) for k, g in grades.items()}})
    n = max(1, len(out))
    pairs = [(r, a, b) for r in out for a, b in PAIRS]
    hits = sum(r["grades"][a][0] > r["grades"][b][0] for r, a, b in pairs)
    cos_hits = sum(r["cosine"][a] > r["cosine"][b] for r, a, b in pairs)
    sure = [(r, a, b) for r, a, b in pairs if r["grades"][a][1] and r["grades"][b][1]]
    confident = [(k, r["grades"][k][0]) for r in out for k in FIRST if r["grades"][k][1] and k != "partial"]
    disagree = sum((k.startswith("strong") and s < 50) or (k.startswith("wrong") and s >= 50) for k, s in confident)
    return {
        "cards": len(out),
        "pairwise": round(hits / max(1, len(pairs)), 3),
        "pairwise_cosine": round(cos_hits / max(1, len(pairs)), 3),
        "wrong_below_50": round(sum(r["grades"][k][0] < 50 for r in out for k in ("wrong1", "wrong2")) / (2 * n), 3),
        "strong_flagged": round(sum(r["grades"][k][2] for r in out for k in ("strong1", "strong2")) / (2 * n), 3),
        "strong_at_60": round(sum(r["grades"][k][0] >= 60 for r in out for k in ("strong1", "strong2")) / (2 * n), 3),
        "unsure": round(sum(not r["grades"][k][1] for r in out for k in FIRST) / (len(FIRST) * n), 3),
        "confident_wrong": round(disagree / max(1, len(confident)), 3),
        "confident_pairwise": round(sum(r["grades"][a][0] > r["grades"][b][0] for r, a, b in sure) / max(1, len(sure)), 3),
        "by_rule": by_rule(out),
    }


def by_rule(out: list[dict]) -> dict[str, dict[str, int]]:
    """Per contradiction rule: the strong, partial and wrong first-sight answers it flagged."""
    counts: dict[str, dict[str, int]] = {}
    for row in out:
        for answer, rules in row["rules"].items():
            kind = answer.rstrip("12")
            for rule in rules:
                counts.setdefault(rule, {"strong": 0, "partial": 0, "wrong": 0})[kind] += 1
    return dict(sorted(counts.items()))


def second_review(kb, rows: list[dict], store: ProgressStore, profile: str) -> dict:
    out, ms = [], []
    for row in rows:
        said = answers(row)
        me = kb.progress(profile, store=store)
        me.mark(row["card"], said["strong1"], "right")
        me.mark(row["card"], said["wrong1"], "wrong")
        scores = {}
        for k in ("strong2", "partial", "wrong2", "corrected"):
            started = time.perf_counter()
            scores[k] = kb.grade(row["card"], said[k], profile=profile, store=store).score
            ms.append(1000 * (time.perf_counter() - started))
        out.append(scores)
    n = max(1, len(out))
    return {
        "pairwise": round(sum(s[a] > s[b] for s in out for a, b in SECOND_PAIRS) / (3 * n), 3),
        "repeated_below_50": round(sum(s["wrong2"] < 50 for s in out) / n, 3),
        "corrected_at_60": round(sum(s["corrected"] >= 60 for s in out) / n, 3),
        "grade_ms_p50": round(statistics.median(ms), 1) if ms else None,
    }


def review_corpora(split: str) -> list[str]:
    return sorted(p.name.split(".")[1] for p in EVAL.glob(f"review.*.{split}.jsonl"))


def sources() -> dict:
    """The standard corpora, and any other folder of benchmarks/corpora/ a review file names."""
    found = corpus_sources()
    folder = ROOT / "benchmarks" / "corpora"
    for split in ("dev", "test"):
        for name in review_corpora(split):
            if name not in found and (folder / name).is_dir():
                found[name] = [(p, p.relative_to(folder / name).as_posix()) for p in sorted((folder / name).rglob("*")) if p.is_file()]
    return found


def evaluate(split: str, workspace: Workspace, data: Path) -> dict:
    report = {}
    for corpus in review_corpora(split):
        rows = read_jsonl(EVAL / f"review.{corpus}.{split}.jsonl")
        for vocab in VOCABS:
            kb = workspace.open((corpus,), vocab)
            kb.grade(rows[0]["card"], "warm up")
            with ProgressStore(data / f"{corpus}-{split}-{vocab}.sqlite3") as store:
                figures = {"first_sight": first_sight(kb, rows), "second_review": second_review(kb, rows, store, "eval")}
            key = f"{corpus}/{split}/{vocab}"
            report[key] = figures
            f, s = figures["first_sight"], figures["second_review"]
            print(f"{key:<40} first sight: pairwise {f['pairwise']:.2f} (cosine {f['pairwise_cosine']:.2f}) wrong<50 {f['wrong_below_50']:.2f} "
                  f"strong flagged {f['strong_flagged']:.2f} strong>=60 {f['strong_at_60']:.2f} unsure {f['unsure']:.2f} "
                  f"confident: wrong {f['confident_wrong']:.2f} pairwise {f['confident_pairwise']:.2f} · second review: pairwise {s['pairwise']:.2f} "
                  f"repeated<50 {s['repeated_below_50']:.2f} corrected>=60 {s['corrected_at_60']:.2f} {s['grade_ms_p50']} ms (n={f['cards']})", flush=True)
    return report


def main() -> None:
    args = split_arguments(__doc__, RESULTS)
    root = args.work or Path(tempfile.mkdtemp(prefix="kb-evaluate-review-"))
    (root / "data").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report = evaluate(args.split, Workspace(root, sources()), root / "data")
    write_split_results(args.out, args.split, report, time.perf_counter() - started)


if __name__ == "__main__":
    main()
