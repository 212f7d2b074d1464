"""Check the hand-written evaluation files in benchmarks/eval/.

    python benchmarks/eval/check_eval.py [--index-root DIR] [--external DIR]

For each corpus it asks kb for the card ids (`kb cards --corpus DIR --index ROOT/idx-NAME
--json`; the first run builds an index, about a minute per corpus on 2 cores), then checks that
every line of every file parses as JSON with the expected keys, that every expected id exists in
the corpus it refers to, and the counts: at least 40 search queries per file with the five styles
roughly balanced, no card used as expected more than twice in a search file, dev and test query
wordings disjoint, no query or question equal to a card's question, and at least 40 uncovered and
30 covered chat questions, split half dev / half test.

It only reads the eval files and the notes; it imports nothing from kb (kb is run as a command).
Exit status 0 when everything passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "benchmarks" / "eval"
EXTERNAL = ROOT.parent / "shared" / "external-corpora"  # other people's notes, beside the repository
EXTERNAL_NOTES = ("alexeygrigorev__data-science-interviews__theory.md", "SalvatoreRa__tutorial__FAQ.md")
STYLES = {"keyword", "natural", "answer", "synonym", "typo"}
problems: list[str] = []


def problem(msg: str) -> None:
    problems.append(msg)


def corpus_dirs(tmp: Path, external: Path) -> dict[str, Path]:
    ext = tmp / "external"
    ext.mkdir()
    for note in EXTERNAL_NOTES:  # the two notes only, loaded together as one corpus
        shutil.copyfile(external / note, ext / note)
    return {
        "shipped": ROOT / "corpus",
        "external": ext,
        "added": ROOT / "benchmarks" / "corpora" / "rasbt-faq",
    }


def corpus_cards(name: str, corpus: Path, index_root: Path) -> dict[str, str]:
    """id -> question, from `kb cards --json`."""
    cmd = ["kb", "cards", "--corpus", str(corpus), "--index", str(index_root / f"idx-{name}"), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return {card["id"]: card["question"] for card in json.loads(out)}


def normalized(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def check_not_verbatim(card_questions: set[str]) -> None:
    """No query, question or follow-up may be a card's question (case and punctuation ignored)."""
    for path in sorted(EVAL.glob("*/*.jsonl")):
        for row in read_jsonl(path):
            for key in ("query", "question", "follow_up"):
                if isinstance(row.get(key), str) and normalized(row[key]) in card_questions:
                    problem(f"{path.name}:{row['_line']}: {key} is a card question verbatim: {row[key]!r}")


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problem(f"{path.name}:{n}: not JSON ({exc})")
            continue
        if not isinstance(row, dict):
            problem(f"{path.name}:{n}: not a JSON object")
            continue
        row["_line"] = n
        rows.append(row)
    return rows


def check_ids(where: str, ids, known: set[str]) -> None:
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        problem(f"{where}: expected must be a non-empty list of ids")
        return
    if len(set(ids)) != len(ids):
        problem(f"{where}: duplicate id in expected")
    for i in ids:
        if i not in known:
            problem(f"{where}: unknown card id {i!r}")


def check_search(ids: dict[str, set[str]]) -> list[str]:
    report = []
    for corpus in ("shipped", "external", "added"):
        wordings = {}
        cards_by_split = {}
        for split in ("dev", "test"):
            path = EVAL / "search" / f"{corpus}.{split}.jsonl"
            rows = read_jsonl(path)
            styles = collections.Counter()
            uses = collections.Counter()
            for row in rows:
                where = f"{path.name}:{row['_line']}"
                if set(row) - {"_line"} != {"query", "expected", "style"}:
                    problem(f"{where}: keys must be query, expected, style")
                if not isinstance(row.get("query"), str) or not row["query"].strip():
                    problem(f"{where}: empty query")
                if row.get("style") not in STYLES:
                    problem(f"{where}: bad style {row.get('style')!r}")
                styles[row.get("style")] += 1
                check_ids(where, row.get("expected"), ids[corpus])
                uses.update(row.get("expected") or [])
            if len(rows) < 40:
                problem(f"{path.name}: {len(rows)} queries, want at least 40")
            if styles and max(styles.values()) - min(styles.get(s, 0) for s in STYLES) > 4:
                problem(f"{path.name}: styles not balanced: {dict(styles)}")
            for card, n in uses.items():
                if n > 2:
                    problem(f"{path.name}: card {card} is expected by {n} queries (max 2)")
            wordings[split] = {r.get("query", "").strip().lower() for r in rows}
            cards_by_split[split] = set(uses)
            report.append(f"{path.relative_to(ROOT)}: {len(rows)} queries, {len(uses)} distinct cards, styles {dict(sorted(styles.items()))}")
        same = wordings["dev"] & wordings["test"]
        if same:
            problem(f"search/{corpus}: dev and test share query wordings: {sorted(same)}")
        shared = cards_by_split["dev"] & cards_by_split["test"]
        report.append(f"  {corpus}: {len(shared)} cards appear in both dev and test expected lists")
    return report


def check_splits(path: Path, rows: list[dict], minimum: int) -> str:
    splits = collections.Counter(r.get("split") for r in rows)
    if set(splits) - {"dev", "test"}:
        problem(f"{path.name}: bad split values {dict(splits)}")
    if len(rows) < minimum:
        problem(f"{path.name}: {len(rows)} questions, want at least {minimum}")
    if abs(splits["dev"] - splits["test"]) > 1:
        problem(f"{path.name}: dev/test not half and half: {dict(splits)}")
    questions = [r.get("question", "").strip().lower() for r in rows]
    if len(set(questions)) != len(questions):
        problem(f"{path.name}: repeated question")
    return f"{path.relative_to(ROOT)}: {len(rows)} questions, {dict(sorted(splits.items()))}"


def check_chat(ids: dict[str, set[str]]) -> list[str]:
    report = []
    for corpus in ("shipped", "added"):
        path = EVAL / "chat" / f"uncovered.{corpus}.jsonl"
        rows = read_jsonl(path)
        covered = 0
        for row in rows:
            where = f"{path.name}:{row['_line']}"
            if set(row) - {"_line"} != {"question", "split", "covered_by"}:
                problem(f"{where}: keys must be question, split, covered_by")
            cb = row.get("covered_by")
            if cb is None:
                continue
            if not isinstance(cb, dict) or set(cb) != {"corpus", "expected"}:
                problem(f"{where}: covered_by must be null or {{corpus, expected}}")
                continue
            if cb["corpus"] == corpus or cb["corpus"] not in ids:
                problem(f"{where}: covered_by.corpus must be another corpus, got {cb['corpus']!r}")
                continue
            check_ids(where, cb["expected"], ids[cb["corpus"]])
            covered += 1
        report.append(check_splits(path, rows, 40) + f", {covered} covered by another corpus, {len(rows) - covered} null")
    for corpus in ("shipped", "external", "added"):
        path = EVAL / "chat" / f"covered.{corpus}.jsonl"
        rows = read_jsonl(path)
        follow = 0
        for row in rows:
            where = f"{path.name}:{row['_line']}"
            keys = set(row) - {"_line"}
            if "follow_up" in row:
                follow += 1
                if keys != {"question", "follow_up", "split", "expected", "follow_up_expected"}:
                    problem(f"{where}: follow-up lines need question, follow_up, split, expected, follow_up_expected")
                check_ids(where + " (follow_up)", row.get("follow_up_expected"), ids[corpus])
            elif keys != {"question", "split", "expected"}:
                problem(f"{where}: keys must be question, split, expected")
            check_ids(where, row.get("expected"), ids[corpus])
        report.append(check_splits(path, rows, 30) + f", {follow} two-turn")
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index-root", type=Path, default=Path(tempfile.gettempdir()), help="folder for the idx-NAME index caches")
    ap.add_argument("--external", type=Path, default=EXTERNAL, help="folder holding the two external notes")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dirs = corpus_dirs(Path(tmp), args.external)
        cards = {name: corpus_cards(name, d, args.index_root) for name, d in dirs.items()}
    ids = {name: set(c) for name, c in cards.items()}
    print("cards:", {name: len(v) for name, v in ids.items()})
    check_not_verbatim({normalized(q) for c in cards.values() for q in c.values()})
    for line in check_search(ids) + check_chat(ids):
        print(line)
    for p in problems:
        print("PROBLEM:", p)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
