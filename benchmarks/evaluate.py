"""Every quality figure on every corpus, with the domain vocabulary on and off, beside plain baselines.

    python -m benchmarks.evaluate                 # table on stdout, JSON in benchmarks/results/evaluate.json
    python -m benchmarks.evaluate --split test    # only the frozen held-out files (default: dev and test)

Corpora (benchmarks/eval/README.md says how the data was written):
  shipped   corpus/ (the note kb ships with)
  external  the two public notes in ../shared/external-corpora/, loaded together
  added     the licensed collection in benchmarks/corpora/rasbt-faq/ (SOURCES.md), a held-out check of generality
  obsidian-sr, logseq
            notes in the Obsidian Spaced Repetition and Logseq syntaxes (benchmarks/corpora/, SOURCES.md):
            cards found against their hand-written expected lists (benchmarks/corpora/expected/), and search
Figures, per corpus, split and vocabulary (`ml`, the default, and `none`):
  search    R@1 / R@5 / MRR@10 of kb's hybrid search, beside plain BM25 and plain dense retrieval
            measured in the same run (benchmarks/eval/search/<corpus>.<split>.jsonl)
  abstain   share of uncovered near-domain questions the chat does not answer as covered (closest or
            abstain; chat/uncovered.<corpus>.*)
  covered   share of those questions answered from the right card once the covering corpus is added
  on-topic  share of covered questions answered from an expected card (chat/covered.<corpus>.*),
            and of follow-ups answered from the card the follow-up asks about
The *.test.jsonl files and the test halves of the chat files are frozen held-out data: the commit
that froze them is named in docs/search.md. Never tune on them.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.eval_search import Baselines, metrics, ranked_ids  # noqa: E402
from kb import Config, KnowledgeBase  # noqa: E402
from kb.notes.corpus import clean_question  # noqa: E402

EVAL = ROOT / "benchmarks" / "eval"
RESULTS = ROOT / "benchmarks" / "results" / "evaluate.json"
EXTERNAL = ROOT.parent / "shared" / "external-corpora"
SEARCH_METHODS = ("bm25", "dense", "hybrid")
VOCABS = ("ml", "none")


CORPORA = ROOT / "benchmarks" / "corpora"
# Fixtures in the flashcard syntaxes, copied with their folders (a Logseq graph needs its logseq/config.edn).
# Their expected card lists (benchmarks/corpora/expected/) were written by hand before the parser read them.
FLASHCARD_CORPORA = ("obsidian-sr", "logseq")


def corpus_sources() -> dict[str, list[tuple[Path, str]]]:
    """Each corpus as (file, path inside the corpus folder) pairs."""

    def flat(paths):
        return [(p, p.name) for p in paths]

    def tree(folder: Path):
        return [(p, p.relative_to(folder).as_posix()) for p in sorted(folder.rglob("*")) if p.is_file()]

    sources = {
        "shipped": flat(sorted((ROOT / "corpus").rglob("*.md"))),
        "external": flat(sorted(EXTERNAL.glob("*.md"))),
        "added": flat(sorted((CORPORA / "rasbt-faq").glob("*.md"))),
    }
    for name in FLASHCARD_CORPORA:
        sources[name] = tree(CORPORA / name) if (CORPORA / name).is_dir() else []
    return sources


def cards_found(kb: KnowledgeBase, corpus: str) -> dict | None:
    """Expected cards (hand-written list) found with the right family, and cards kb made that the list lacks."""
    path = CORPORA / "expected" / f"{corpus}.json"
    if not path.exists():
        return None
    expected = json.loads(path.read_text(encoding="utf-8"))["cards"]
    for e in expected:  # the lists keep questions as written ($...$ and all); a card's question is plain text
        e["question"] = clean_question(e["question"])
    made = {}
    for card in kb.cards():
        made.setdefault((card.note.removeprefix(corpus + "/"), card.question), []).append(card.family)
    found = sum(1 for e in expected if (e["note"], e["question"]) in made)
    right_family = sum(1 for e in expected if e["family"] in made.get((e["note"], e["question"]), []))
    listed = {(e["note"], e["question"]) for e in expected}
    extra = sorted(f"{note}: {q}" for note, q in made if (note, q) not in listed)
    return {"expected": len(expected), "found": found, "right_family": right_family, "extra": len(extra), "extra_cards": extra[:20]}


def split_arguments(doc: str, results: Path) -> argparse.Namespace:
    """--split (dev by default: tune on dev, run test only to report), --work and --out: what every
    per-split evaluator takes."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--work", type=Path, default=None, help="Keep corpora and indexes here (default: a temp folder).")
    parser.add_argument("--out", type=Path, default=results)
    return parser.parse_args()


def write_split_results(out: Path, split: str, report: dict, seconds: float) -> None:
    """A per-split evaluator's figures (keys `<corpus>/<split>/...`), keeping the other split's entries:
    a dev run never drops the test figures."""
    kept = json.loads(out.read_text(encoding="utf-8")).get("figures", {}) if out.exists() else {}
    figures = {**{k: v for k, v in kept.items() if k.split("/")[1] != split}, **report}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"seconds": round(seconds, 1), "figures": figures}, indent=1), encoding="utf-8")
    print(f"wrote {out}")


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class Workspace:
    """One corpus folder and index per combination of corpora, built once and shared by both vocabularies."""

    def __init__(self, root: Path, sources: dict[str, list[Path]]):
        self.root, self.sources = root, sources
        self.cache = root / "model-cache"

    def open(self, names: tuple[str, ...], vocab: str) -> KnowledgeBase:
        key = "+".join(names)
        corpus = self.root / key / "corpus"
        if not corpus.exists():
            for name in names:
                target = corpus / name
                target.mkdir(parents=True, exist_ok=True)
                for path, inside in self.sources[name]:
                    (target / inside).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(path, target / inside)
        config = Config(corpus=corpus, index=self.root / key / "index", data=self.root / "data", cache=self.cache, vocab=vocab)
        return KnowledgeBase.load(config=config)


def search_figures(kb: KnowledgeBase, queries: list[dict]) -> dict:
    base = Baselines(kb)
    out = {}
    for method in SEARCH_METHODS:
        rows = [(ranked_ids(kb, base, q["query"], method), q["expected"]) for q in queries]
        out[method] = metrics(rows)
    p50 = cold_p50_ms(kb, lambda text: kb.search(text, k=5), [q["query"] for q in queries])
    out["hybrid"]["p50_ms"] = round(p50, 2) if p50 is not None else None
    return out


def cold_p50_ms(kb: KnowledgeBase, call, texts: list[str]) -> float | None:
    """The median milliseconds of call(text) over the texts, each with the query-vector cache emptied first
    (the encoder is timed, not the cache)."""
    latencies = []
    for text in texts:
        kb.clear_query_cache()
        started = time.perf_counter()
        call(text)
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    return latencies[len(latencies) // 2] if latencies else None


def answered_from(reply, expected: list[str]) -> bool:
    return reply.outcome == "answer" and bool(reply.citations) and reply.citations[0].id in expected


def chat_on_topic(kb: KnowledgeBase, rows: list[dict]) -> dict:
    first = follow = follow_ok = first_ok = 0
    for row in rows:
        reply = kb.ask(row["question"])
        first += 1
        first_ok += answered_from(reply, row["expected"])
        if row.get("follow_up"):
            second = kb.ask(row["follow_up"], topic=reply.topic)
            follow += 1
            follow_ok += answered_from(second, row["follow_up_expected"])
    return {"n": first, "answered_right": round(first_ok / first, 4) if first else None,
            "follow_ups": follow, "follow_up_right": round(follow_ok / follow, 4) if follow else None}


def chat_abstains(kb: KnowledgeBase, rows: list[dict]) -> dict:
    """Uncovered questions not answered as if covered (closest or abstain), alone and mid-conversation."""
    abstained = sum(kb.ask(row["question"]).outcome != "answer" for row in rows)
    # The same questions in the middle of a conversation about a card the notes do have.
    opener = kb.ask(kb.cards()[0].question)
    mid = sum(kb.ask(row["question"], topic=opener.topic).outcome != "answer" for row in rows)
    n = len(rows)
    return {"n": n, "abstained": round(abstained / n, 4) if n else None, "abstained_mid_conversation": round(mid / n, 4) if n else None}


def chat_once_covered(workspace: Workspace, corpus: str, rows: list[dict], vocab: str) -> dict:
    """Uncovered questions, asked again after the note that covers them is added."""
    by_other: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row.get("covered_by"):
            by_other[row["covered_by"]["corpus"]].append(row)
    right = total = 0
    for other, group in by_other.items():
        kb = workspace.open(tuple(sorted((corpus, other))), vocab)
        for row in group:
            total += 1
            right += answered_from(kb.ask(row["question"]), row["covered_by"]["expected"])
    return {"n": total, "answered_right": round(right / total, 4) if total else None}


def evaluate(splits: tuple[str, ...], workspace: Workspace, only: list[str] | None = None) -> dict:
    report: dict = {}
    for corpus in workspace.sources:
        if not workspace.sources[corpus] or (only and corpus not in only):
            continue
        for vocab in VOCABS:
            kb = workspace.open((corpus,), vocab)
            found = cards_found(kb, corpus)
            if found is not None and vocab == VOCABS[0]:
                report[f"{corpus}/cards"] = found
                print(f"{corpus:9} cards: {found['found']}/{found['expected']} expected cards found, {found['right_family']} with the right family, "
                      f"{found['extra']} not on the list", flush=True)
            for split in splits:
                figures: dict = {}
                queries = read_jsonl(EVAL / "search" / f"{corpus}.{split}.jsonl")
                if queries:
                    figures["search"] = search_figures(kb, queries)
                covered = [r for r in read_jsonl(EVAL / "chat" / f"covered.{corpus}.jsonl") if r.get("split") == split]
                if covered:
                    figures["on_topic"] = chat_on_topic(kb, covered)
                uncovered = [r for r in read_jsonl(EVAL / "chat" / f"uncovered.{corpus}.jsonl") if r.get("split") == split]
                if uncovered:
                    figures["abstain"] = chat_abstains(kb, uncovered)
                    figures["once_covered"] = chat_once_covered(workspace, corpus, uncovered, vocab)
                report[f"{corpus}/{split}/{vocab}"] = figures
                print(f"{corpus:9} {split:5} vocab={vocab:5} {one_line(figures)}", flush=True)
    return report


def one_line(figures: dict) -> str:
    parts = []
    search = figures.get("search")
    if search:
        h, b, d = search["hybrid"], search["bm25"], search["dense"]
        parts.append(f"hybrid R@1 {h['R@1']:.2f} R@5 {h['R@5']:.2f} MRR {h['MRR@10']:.2f} (bm25 {b['R@1']:.2f}/{b['R@5']:.2f}, "
                     f"dense {d['R@1']:.2f}/{d['R@5']:.2f}; n={h['n']}, p50 {h.get('p50_ms')} ms)")
    if "on_topic" in figures:
        parts.append(f"on-topic {figures['on_topic']['answered_right']}")
    if "abstain" in figures:
        parts.append(f"abstains {figures['abstain']['abstained']} (mid-conversation {figures['abstain']['abstained_mid_conversation']})")
    if "once_covered" in figures:
        parts.append(f"once covered {figures['once_covered']['answered_right']}")
    return " · ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=("dev", "test", "both"), default="both")
    parser.add_argument("--work", type=Path, default=None, help="Keep corpora and indexes here (default: a temp folder).")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--corpus", action="append", default=None, help="Only this corpus (repeatable); the other entries of --out are kept.")
    args = parser.parse_args()
    splits = ("dev", "test") if args.split == "both" else (args.split,)
    root = args.work or Path(tempfile.mkdtemp(prefix="kb-evaluate-"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report = evaluate(splits, Workspace(root, corpus_sources()), args.corpus)
    if args.corpus and args.out.exists():  # a partial run updates its corpora's entries only
        kept = json.loads(args.out.read_text(encoding="utf-8")).get("figures", {})
        report = {**{k: v for k, v in kept.items() if k.split("/")[0] not in args.corpus}, **report}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seconds": round(time.perf_counter() - started, 1), "figures": report}, indent=1), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
