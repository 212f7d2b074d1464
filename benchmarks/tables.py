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
        "| corpus left out | vocab | covered: answered right (top card right) | covered: closest | uncovered: answered | uncovered: closest | far: abstained |",
        "|---|---|---|---|---|---|---|",
    ]
    for corpus, by_vocab in data.get("left_out", {}).items():
        for vocab in ("ml", "none"):
            entry = by_vocab.get(vocab)
            if not entry:
                continue
            covered, uncovered, far = entry.get("covered", {}), entry.get("uncovered", {}), entry.get("far", {})
            lines.append(
                f"| {corpus} | {vocab} | {_f(covered.get('answer_right'))} ({_f(covered.get('top_right'))}) | {_f(covered.get('closest'))} "
                f"| {_f(uncovered.get('answer'))} | {_f(uncovered.get('closest'))} | {_f(far.get('abstain'))} |"
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


TABLES: dict[str, Callable[[], str]] = {"chat_edge": chat_edge, "calibrate_chat": calibrate_chat, "evaluate": evaluate}
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
