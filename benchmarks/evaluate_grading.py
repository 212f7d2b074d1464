"""Grading quality on every corpus, with the domain vocabulary on and off, beside plain cosine.

    python -m benchmarks.evaluate_grading                # dev files (the default); JSON in benchmarks/results/evaluate_grading.json
    python -m benchmarks.evaluate_grading --split test   # only the frozen held-out files, to report
    python -m benchmarks.evaluate_grading --by-rule      # also each contradiction rule's flags on strong, partial and wrong answers

Data: benchmarks/eval/grading/<corpus>.<split>.jsonl, (strong, partial, wrong) answer triples, each
wrong answer labelled with how it goes wrong (wrong_kind); an `other_card` wrong answer is a good
answer to another card (fits_card). The shipped note's older triples (benchmarks/grading_triples.jsonl,
splits dev/test/test2, tuned on over several rounds) are reported as shipped/legacy-<split>.
Figures per corpus (the external one also per note), split and vocabulary:
  pairwise        share of strong>partial, strong>wrong, partial>wrong that hold (a tie is a miss),
                  for the grader and for plain cosine between the answer and the card's answer
  wrong_below_50  share of wrong answers scored under 50 (and per wrong_kind)
  strong_flagged  share of strong answers with any contradiction flagged (goal: at most 5 %)
  strong_elsewhere share of strong answers said to fit another card
  other_card      share of other-card answers under 15 that name the card they fit
  grade_ms_p50    grading time per answer (grade_ms_p50_warm: once the card's own embeddings are cached),
                  beside cosine_ms_p50, what plain cosine costs on the same answers in the same run
The test files were frozen in their own commit before any tuning (named in docs/grading.md).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.evaluate import VOCABS, Workspace, corpus_sources, read_jsonl  # noqa: E402

EVAL = ROOT / "benchmarks" / "eval" / "grading"
LEGACY = ROOT / "benchmarks" / "grading_triples.jsonl"
RESULTS = ROOT / "benchmarks" / "results" / "evaluate_grading.json"
KINDS = ("strong", "partial", "wrong")
PAIRS = (("strong", "partial"), ("strong", "wrong"), ("partial", "wrong"))


def triples_for(corpus: str, splits: tuple[str, ...]) -> dict[str, list[dict]]:
    """split -> triples; the shipped note also gets its older file as legacy-<split>."""
    names = [*splits, *(["dev2", "dev3", "dev4"] if "dev" in splits else [])]  # dev2-dev4: more dev triples, written later
    out = {split: read_jsonl(EVAL / f"{corpus}.{split}.jsonl") for split in names}
    if corpus == "shipped":
        for row in read_jsonl(LEGACY):
            if row["split"] in splits or (row["split"] == "test2" and "test" in splits):
                out.setdefault(f"legacy-{row['split']}", []).append(row)
    return {split: rows for split, rows in out.items() if rows}


def score_triples(kb, rows: list[dict]) -> list[dict]:
    """Each triple's grades and cosines, with what the checks said."""
    scored = []
    for row in rows:
        card = kb.card(row["card"])
        reference = kb.encoder.encode([card.answer_text])[0]
        out = {"id": row["id"], "card": card.id, "note": card.note, "wrong_kind": row.get("wrong_kind"), "fits_card": row.get("fits_card"), "ms": [],
               "cosine_ms": []}
        for kind in KINDS:
            started = time.perf_counter()
            grade = kb.grade(card.id, row[kind])
            out["ms"].append(1000 * (time.perf_counter() - started))
            out[kind] = grade.score
            out[f"{kind}_flags"] = [c.kind for c in grade.contradictions]
            out[f"{kind}_rules"] = [c.rule for c in grade.contradictions]
            out[f"{kind}_fits"] = grade.fits_card.id if grade.fits_card else None
            started = time.perf_counter()
            out[f"{kind}_cosine"] = float(kb.encoder.encode([row[kind]])[0] @ reference)
            out["cosine_ms"].append(1000 * (time.perf_counter() - started))
        scored.append(out)
    return scored


def pairwise(scored: list[dict], suffix: str = "") -> float:
    hits = sum(row[a + suffix] > row[b + suffix] for row in scored for a, b in PAIRS)
    return round(hits / max(1, 3 * len(scored)), 4)


def figures(scored: list[dict]) -> dict:
    n = max(1, len(scored))
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for row in scored:
        by_kind[row["wrong_kind"] or "unlabelled"].append(row)
    others = by_kind.get("other_card", [])
    return {
        "triples": len(scored),
        "pairwise": pairwise(scored),
        "pairwise_cosine": pairwise(scored, "_cosine"),
        "wrong_below_50": round(sum(r["wrong"] < 50 for r in scored) / n, 3),
        "wrong_below_50_by_kind": {k: f"{sum(r['wrong'] < 50 for r in rows)}/{len(rows)}" for k, rows in sorted(by_kind.items())},
        "strong_flagged": round(sum(bool(r["strong_flags"]) for r in scored) / n, 3),
        "strong_elsewhere": round(sum(bool(r["strong_fits"]) for r in scored) / n, 3),
        "partial_flagged": round(sum(bool(r["partial_flags"]) for r in scored) / n, 3),
        "other_card": f"{sum(r['wrong'] < 15 and r['wrong_fits'] is not None for r in others)}/{len(others)}" if others else None,
        "mean": {k: round(statistics.mean(r[k] for r in scored), 1) for k in KINDS},
        "grade_ms_p50": round(statistics.median(ms for r in scored for ms in r["ms"]), 1),
        # the strong answer is graded first and fills the card's caches (key points and claims embedded once)
        "grade_ms_p50_warm": round(statistics.median(ms for r in scored for ms in r["ms"][1:]), 1),
        # the baseline grader's cost, same run: one encode of the answer, compared with the card's answer
        "cosine_ms_p50": round(statistics.median(ms for r in scored for ms in r["cosine_ms"]), 1),
        "by_rule": by_rule(scored),
    }


def by_rule(scored: list[dict]) -> dict:
    """Per contradiction rule: how many strong, partial and wrong answers it flagged (a rule that flags
    strong answers as often as wrong ones does not pay)."""
    rules: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    for row in scored:
        for kind in KINDS:
            for rule in set(row.get(f"{kind}_rules", [])):
                rules[rule][kind] += 1
    return {rule: counts for rule, counts in sorted(rules.items())}


def evaluate(splits: tuple[str, ...], workspace: Workspace, verbose: bool) -> dict:
    report: dict = {}
    for corpus in workspace.sources:
        sets = triples_for(corpus, splits)
        if not sets:
            continue
        for vocab in VOCABS:
            kb = workspace.open((corpus,), vocab)
            kb.grade(sets[next(iter(sets))][0]["card"], "warm up")  # the first grade loads the model
            for split, rows in sets.items():
                scored = score_triples(kb, rows)
                notes = sorted({r["note"] for r in scored}) if corpus == "external" else []  # the two public notes, each on its own
                groups = {"all": scored, **{note: [r for r in scored if r["note"] == note] for note in notes}}
                for group, members in groups.items():
                    key = f"{corpus}/{split}/{vocab}" + ("" if group == "all" else f"/{Path(group).stem}")
                    report[key] = figures(members)
                    print(f"{key:<70} {one_line(report[key])}", flush=True)
                if verbose:
                    for r in scored:
                        print(f"   {r['id']:<8} {r['strong']:>3} {r['partial']:>3} {r['wrong']:>3} {r['wrong_kind'] or '':<18} "
                              f"flags s={r['strong_flags']} p={r['partial_flags']} w={r['wrong_flags']} fits={r['wrong_fits']}/{r['strong_fits']}")
    return report


def one_line(f: dict) -> str:
    return (f"pairwise {f['pairwise']:.2f} (cosine {f['pairwise_cosine']:.2f}) · wrong<50 {f['wrong_below_50']:.2f} · "
            f"strong flagged {f['strong_flagged']:.2f} · strong elsewhere {f['strong_elsewhere']:.2f} · other-card {f['other_card']} · "
            f"n={f['triples']} · {f['grade_ms_p50']} ms ({f['grade_ms_p50_warm']} warm; cosine {f['cosine_ms_p50']} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=("dev", "test", "both"), default="dev")
    parser.add_argument("--by-rule", action="store_true", help="print each contradiction rule's flags on strong, partial and wrong answers")
    parser.add_argument("--work", type=Path, default=None, help="Keep corpora and indexes here (default: a temp folder).")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--verbose", action="store_true", help="print every triple's scores and flags")
    args = parser.parse_args()
    splits = ("dev", "test") if args.split == "both" else (args.split,)
    root = args.work or Path(tempfile.mkdtemp(prefix="kb-evaluate-grading-"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report = evaluate(splits, Workspace(root, corpus_sources()), args.verbose)
    if args.by_rule:
        for key, figures_of in report.items():
            print(f"{key:<70} " + " · ".join(f"{rule}: s{c['strong']}/p{c['partial']}/w{c['wrong']}" for rule, c in figures_of["by_rule"].items()))
    if args.out.exists():  # a run of some splits keeps the entries of the others (a dev run never overwrites test figures)
        kept = json.loads(args.out.read_text(encoding="utf-8")).get("figures", {})
        report = {**{k: v for k, v in kept.items() if k.split("/")[1].removeprefix("legacy-").rstrip("0123456789") not in splits}, **report}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seconds": round(time.perf_counter() - started, 1), "figures": report}, indent=1), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
