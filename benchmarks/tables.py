"""Docs tables generated from benchmarks/results/*.json, so the docs carry figures, not their history.

    python -m benchmarks.tables          # rewrite every generated table in docs/*.md
    python -m benchmarks.tables --check  # exit 1 when a table differs from its results file (a test runs this)

A generated table sits between `<!-- table:NAME -->` and `<!-- /table:NAME -->` in a docs page; the text
between the markers is replaced by TABLES[NAME](results). Edit the renderer here, never the table.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs"


def _read(name: str) -> dict:
    path = RESULTS / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _f(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def chat_edge() -> str:
    """The chat's outcomes on the edge files (benchmarks/evaluate_chat.py), today's rule beside them."""
    figures = _read("chat_edge.json").get("figures", {})
    lines = [
        "| corpus | split | vocab | on-topic answered right: now / today | on-topic closest | near-miss answered as covered: now / today "
        "| near-miss closest | far abstained | search R@1 / R@5 | p50 search / chat ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(figures, key=lambda k: (k.split("/")[1] != "test", k)):
        corpus, split, vocab = key.split("/")
        entry = figures[key]
        now, today = entry["now"], entry["today"]
        on, on_today = now.get("on_topic", {}), today.get("on_topic", {})
        near, near_today = now.get("near_miss", {}), today.get("near_miss", {})
        lines.append(
            f"| {corpus} | {split} | {vocab} | {_f(on.get('answer_right'))} / {_f(on_today.get('answer_right'))} | {_f(on.get('closest'))} "
            f"| {_f(near.get('answer'))} / {_f(near_today.get('answer'))} | {_f(near.get('closest'))} | {_f(now.get('far', {}).get('abstain'))} "
            f"| {_f(entry['R@1'])} / {_f(entry['R@5'])} | {entry['search_p50_ms']} / {entry['chat_p50_ms']} |"
        )
    return "\n".join(lines)


def calibrate_chat() -> str:
    """Leave-one-corpus-out figures of the coverage judge on dev lines (benchmarks/calibrate_chat.py)."""
    data = _read("calibrate_chat.json")
    lines = [
        "| corpus left out | vocab | covered: answered right (top card right) | covered: closest | uncovered: answered | uncovered: closest | far: abstained "
        "| best bar with ≤ 5 % uncovered answered: covered answered right |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for corpus, by_vocab in data.get("left_out", {}).items():
        for vocab in ("ml", "none"):
            entry = by_vocab.get(vocab)
            if not entry:
                continue
            covered, uncovered, far = entry.get("covered", {}), entry.get("uncovered", {}), entry.get("far", {})
            lines.append(
                f"| {corpus} | {vocab} | {_f(covered.get('answer_right'))} ({_f(covered.get('top_right'))}) | {_f(covered.get('closest'))} "
                f"| {_f(uncovered.get('answer'))} | {_f(uncovered.get('closest'))} | {_f(far.get('abstain'))} "
                f"| {_f(entry.get('frontier', {}).get('covered_answered_right'))} |"
            )
    signals = [(corpus, v["signal_auc"]) for corpus, v in data.get("left_out", {}).items() if "signal_auc" in v]
    if signals:
        names = list(signals[0][1])
        lines += ["", "| signal AUC, covered-and-right vs uncovered (vocab none) | " + " | ".join(c for c, _ in signals) + " |",
                  "|---|" + "---|" * len(signals)]
        lines += [f"| {name} | " + " | ".join(_f(aucs.get(name)) for _, aucs in signals) + " |" for name in names]
    return "\n".join(lines)


def evaluate() -> str:
    """Search and chat on every corpus's frozen test files (python -m benchmarks.evaluate)."""
    figures = _read("evaluate.json").get("figures", {})
    lines = [
        "| corpus | vocab | hybrid R@1 / R@5 | plain BM25 | plain dense | uncovered not answered as covered (alone / mid-conversation) "
        "| answered once covered | on-topic answered right |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, entry in figures.items():
        parts = key.split("/")
        if len(parts) != 3 or parts[1] != "test" or "search" not in entry:
            continue
        corpus, _, vocab = parts
        s = entry["search"]
        abstain, once, on = entry.get("abstain", {}), entry.get("once_covered", {}), entry.get("on_topic", {})
        lines.append(
            f"| {corpus} | {vocab} | {_f(s['hybrid']['R@1'])} / {_f(s['hybrid']['R@5'])} | {_f(s['bm25']['R@1'])} / {_f(s['bm25']['R@5'])} "
            f"| {_f(s['dense']['R@1'])} / {_f(s['dense']['R@5'])} | "
            + (f"{_f(abstain.get('abstained'))} / {_f(abstain.get('abstained_mid_conversation'))}" if abstain else "(no uncovered set)")
            + f" | {_f(once.get('answered_right')) if once else ''} | {_f(on.get('answered_right')) if on else ''} |"
        )
    return "\n".join(lines)


def _ms(value) -> str:
    return "–" if value is None else f"{value:.0f}"


def _both(none: dict, ml: dict, name: str) -> str:
    """One figure with the vocabulary off and on: `none / ml`."""
    return f"{_f(none.get(name))} / {_f(ml.get(name))}"


def _grading(kind: str) -> str:
    """evaluate_grading.json's files of one kind (test or dev: dev2-dev4 and legacy-dev count as dev), a row each."""
    figures = _read("evaluate_grading.json").get("figures", {})
    groups: dict[tuple[str, str, str], dict[str, dict]] = {}
    for key, entry in figures.items():
        parts = key.split("/")
        if len(parts) not in (3, 4) or parts[1].removeprefix("legacy-").rstrip("0123456789") != kind:
            continue
        corpus, split, vocab = parts[:3]
        groups.setdefault((corpus, split, parts[3] if len(parts) == 4 else ""), {})[vocab] = entry
    corpora = list(dict.fromkeys(corpus for corpus, _, _ in groups))
    lines = [
        "| corpus | file | triples | pairwise, none / ml | plain cosine | wrong < 50, none / ml | strong flagged, none / ml "
        "| other-card answers caught (< 15, named) | ms per grade p50 (warm; plain cosine), none |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for corpus, split, note in sorted(groups, key=lambda g: (g[1].startswith("legacy-"), corpora.index(g[0]), g[1], g[2])):
        by_vocab = groups[(corpus, split, note)]
        none, ml = by_vocab.get("none", {}), by_vocab.get("ml", {})
        either = none or ml
        name = f"{corpus} ({note.split('__')[0]})" if note else corpus
        lines.append(
            f"| {name} | {split} | {either.get('triples', '–')} | {_both(none, ml, 'pairwise')} | {_f(either.get('pairwise_cosine'))} "
            f"| {_both(none, ml, 'wrong_below_50')} | {_both(none, ml, 'strong_flagged')} | {either.get('other_card') or '–'} "
            f"| {_ms(none.get('grade_ms_p50'))} ({_ms(none.get('grade_ms_p50_warm'))}; {_ms(none.get('cosine_ms_p50'))}) |"
        )
    return "\n".join(lines)


def grading_test() -> str:
    """The grader on the frozen test files, vocabulary off and on, beside plain cosine (python -m benchmarks.evaluate_grading --split test)."""
    return _grading("test")


def grading_dev() -> str:
    """The grader on the dev files it is tuned on (python -m benchmarks.evaluate_grading)."""
    return _grading("dev")


def grading_review() -> str:
    """First sight and a second review on the review set, test rows first (python -m benchmarks.evaluate_review [--split test])."""
    figures = _read("evaluate_review.json").get("figures", {})
    lines = [
        "| corpus | split | vocab | cards | first sight: pairwise (plain cosine) | wrong < 50 | strong ≥ 60 | strong flagged | unsure "
        "| confident: wrong class, pairwise | second review: pairwise | repeated < 50 | corrected ≥ 60 | ms p50, second review |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = [key for key in figures if len(key.split("/")) == 3]
    corpora = list(dict.fromkeys(key.split("/")[0] for key in keys))
    for key in sorted(keys, key=lambda k: (k.split("/")[1] != "test", k.split("/")[1], corpora.index(k.split("/")[0]), k.split("/")[2] != "none")):
        corpus, split, vocab = key.split("/")
        first, second = figures[key].get("first_sight", {}), figures[key].get("second_review", {})
        lines.append(
            f"| {corpus.replace('__', '/')} | {split} | {vocab} | {first.get('cards', '–')} | {_f(first.get('pairwise'))} ({_f(first.get('pairwise_cosine'))}) "
            f"| {_f(first.get('wrong_below_50'))} | {_f(first.get('strong_at_60'))} | {_f(first.get('strong_flagged'))} | {_f(first.get('unsure'))} "
            f"| {_f(first.get('confident_wrong'))}, {_f(first.get('confident_pairwise'))} | {_f(second.get('pairwise'))} "
            f"| {_f(second.get('repeated_below_50'))} | {_f(second.get('corrected_at_60'))} | {_ms(second.get('grade_ms_p50'))} |"
        )
    return "\n".join(lines)


def _x(value) -> str:
    return "–" if value is None else f"{value:.1f}x"


def _unit(value, unit: str) -> str:
    return "–" if value is None else f"{value:.1f} {unit}"


def _f3(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def _cards(n) -> str:
    return f"{n // 1000}k" if isinstance(n, int) and n >= 1000 and n % 1000 == 0 else str(n)


def _s(value) -> str:
    """Seconds to three significant digits (0.004 s, 2.31 s, 40.4 s, 727 s)."""
    return "–" if value is None else (f"{value:.0f} s" if value >= 100 else f"{value:.3g} s")


def load() -> str:
    """Opening an up-to-date index in a cold process, now and at the baseline commit, same run (python benchmarks/bench_load.py)."""
    data = _read("load.json")
    baseline = (data.get("baseline_commit") or "")[:7] or "baseline"
    lines = [
        f"| cards | index on disk | load, kb at {baseline} | load, current kb | speed-up | peak RSS, {baseline} → current | load average (1 min) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in data.get("rows", []):
        before, after = row.get("before", {}), row.get("after", {})
        lines.append(
            f"| {_cards(row.get('cards'))} | {_unit(row.get('index_mb'), 'MB')} | {_s(before.get('load_s'))} | {_s(after.get('load_s'))} "
            f"| {_x(row.get('speedup'))} | {before.get('peak_rss_mb', '–')} → {after.get('peak_rss_mb', '–')} MB "
            f"| {row.get('load_avg_1min', '–')} |"
        )
    return "\n".join(lines)


REBUILD_PART = "lexical rebuild, current tokeniser (what a note change costs)"


def load_parts() -> str:
    """Where a cold load's time goes, part by part, and what re-tokenising costs (python benchmarks/bench_load.py)."""
    rows = _read("load.json").get("rows", [])
    parts = list(dict.fromkeys(part for row in rows for part in row.get("parts_s", {}) if part != REBUILD_PART))
    lines = ["| part of a load | " + " | ".join(f"{_cards(row.get('cards'))} cards" for row in rows) + " |", "|---|" + "---|" * len(rows)]
    for part in parts:
        lines.append(f"| {part} | " + " | ".join(_s(row.get("parts_s", {}).get(part)) for row in rows) + " |")
    rebuild = [row.get("lexical_rebuild_s", {}).get("after", row.get("parts_s", {}).get(REBUILD_PART)) for row in rows]
    lines.append("| *not in a load:* lexical rebuild, current tokeniser (what a note change costs) | " + " | ".join(_s(v) for v in rebuild) + " |")
    return "\n".join(lines)


def load_test() -> str:
    """The real app under simulated users, each run beside one user alone in the same run (python benchmarks/load_test.py)."""
    runs = _read("load_test.json").get("runs", {})
    lines = [
        "| queue concurrency | users, seconds | one user alone: req/s, p50 / p95 ms | all users: req/s | p50 / p95 / p99 ms | search p50 / p95 "
        "| chat p50 / p95 | interview p50 / p95 | errors / requests | acknowledged answers in SQLite | load average at start (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def pair(entry: dict) -> str:
        return f"{entry.get('p50_ms', '–')} / {entry.get('p95_ms', '–')}"

    for run in runs.values():
        alone, crowd, db = run.get("baseline_one_user", {}).get("all", {}), run.get("load", {}), run.get("database", {})
        every = crowd.get("all", {})
        start = run.get("load_avg_at_start") or [None]
        acknowledged, missing = db.get("acknowledged_answers"), db.get("missing_from_db")
        stored = "–" if acknowledged is None or missing is None else acknowledged - missing
        lines.append(
            f"| {run.get('concurrency', '–')} | {run.get('users', '–')}, {_ms(run.get('duration_s'))} | {alone.get('per_s', '–')}, {pair(alone)} "
            f"| {every.get('per_s', '–')} | {pair(every)} / {every.get('p99_ms', '–')} | {pair(crowd.get('search', {}))} | {pair(crowd.get('chat', {}))} "
            f"| {pair(crowd.get('interview', {}))} | {every.get('errors', '–')} / {every.get('requests', '–')} "
            f"| {stored} of {'–' if acknowledged is None else acknowledged}, integrity {db.get('integrity_check', '–')} "
            f"| {'–' if start[0] is None else round(start[0], 1)} |"
        )
    return "\n".join(lines)


def hnsw() -> str:
    """HNSW against exact search on the real 10k-card embeddings, per efSearch (python benchmarks/bench_scale.py --cards 10000)."""
    run = _read("scale.json").get("runs", {}).get("10000", {})
    lines = ["| efSearch | HNSW ms per query | row recall@10 | card recall@10 |", "|---|---|---|---|"]
    for row in run.get("faiss", {}).get("hnsw", []):
        ms, rows, cards = row.get("ms_per_query"), row.get("row_recall_at_10"), row.get("card_recall_at_10")
        lines.append(f"| {row.get('ef_search', '–')} | {_f3(ms)} | {_f3(rows)} | {_f3(cards)} |")
    return "\n".join(lines)


TABLES: dict[str, Callable[[], str]] = {
    "chat_edge": chat_edge, "calibrate_chat": calibrate_chat, "evaluate": evaluate,
    "grading_test": grading_test, "grading_dev": grading_dev, "grading_review": grading_review,
    "load": load, "load_parts": load_parts, "load_test": load_test, "hnsw": hnsw,
}
BLOCK = re.compile(r"(<!-- table:(?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- /table:(?P=name) -->)", re.S)


def render(text: str) -> str:
    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in TABLES:
            raise SystemExit(f"unknown generated table {name!r}; known: {', '.join(TABLES)}")
        return f"{match.group(1)}{TABLES[name]()}\n{match.group(4)}"

    return BLOCK.sub(replace, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="Only report tables that differ from their results files.")
    args = parser.parse_args()
    stale = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        fresh = render(text)
        if fresh != text:
            stale.append(page.relative_to(ROOT).as_posix())
            if not args.check:
                page.write_text(fresh, encoding="utf-8")
    if args.check and stale:
        print("generated tables out of date in: " + ", ".join(stale) + " (run python -m benchmarks.tables)")
        sys.exit(1)
    print(("rewrote " if stale else "up to date: ") + (", ".join(stale) if stale else "every generated table"))


if __name__ == "__main__":
    main()
