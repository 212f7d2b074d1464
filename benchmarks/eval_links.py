"""See-also link quality on benchmarks/link_pairs.jsonl (expert pairs written by hand, dev/test split).

    python benchmarks/eval_links.py                  # table on stdout, JSON in benchmarks/results/links.json
    python benchmarks/eval_links.py --cache DIR      # reuse index folders between runs

Two corpora: the shipped note alone, and the shipped note plus ../shared/external-corpora (copied to a
temporary folder, never into the project). A pair counts as found at k when B is in A's top-k links
or A is in B's (either direction). Pairs whose cards are not in a corpus are skipped there.
Methods, measured in the same run on the same index:
  plain   the k nearest cards by question+answer vector (all-MiniLM-L6-v2), any family: the baseline
  links   kb.related(card, k): explicit + concept-home + semantic, with reasons
Also reported: links per card, the share of links with a reason, and the reasons' sources.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import Config, KnowledgeBase  # noqa: E402

PAIRS = ROOT / "benchmarks" / "link_pairs.jsonl"
RESULTS = ROOT / "benchmarks" / "results" / "links.json"
EXTERNAL = ROOT.parent / "shared" / "external-corpora"
K = 5


def load_pairs(path: Path = PAIRS) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def open_corpus(base: Path, with_external: bool, encoder_factory) -> KnowledgeBase:
    corpus = base / "corpus"
    if not corpus.exists():
        corpus.mkdir(parents=True)
        for note in (ROOT / "corpus").rglob("*.md"):
            shutil.copy(note, corpus / note.name)
        if with_external:
            for note in EXTERNAL.glob("*__*.md"):
                shutil.copy(note, corpus / note.name)
    return KnowledgeBase.load(config=Config(corpus=corpus, index=base / "index", data=base / "data"), encoder_factory=encoder_factory)


def recall(kb: KnowledgeBase, pairs: list[dict], method: str, k: int = K) -> tuple[float, int, list[dict]]:
    def top(card_id: str) -> list[str]:
        if method == "plain":
            return kb.similar(card_id, k)
        return [link.id for link in kb.related(card_id, k)]

    usable = [p for p in pairs if kb.has_card(p["a"]) and kb.has_card(p["b"])]
    missed = [p for p in usable if p["b"] not in top(p["a"]) and p["a"] not in top(p["b"])]
    return (1 - len(missed) / len(usable) if usable else float("nan")), len(usable), missed


def link_stats(kb: KnowledgeBase, k: int = 6) -> dict:
    counts, with_reason, sources = [], 0, Counter()
    started = time.perf_counter()
    for card in kb.cards():
        links = kb.related(card.id, k)
        counts.append(len(links))
        for link in links:
            with_reason += bool(link.reason.strip())
            for part in link.reason.split(" · "):
                sources[part.split(" ")[0]] += 1
    seconds = time.perf_counter() - started
    total = sum(counts)
    from kb.links.related import LinkGraph
    from kb.ui.topic_map_tab import map_html

    started = time.perf_counter()
    LinkGraph(kb.cards(), kb.data.vectors)  # glossary + wiki-links + tf-idf: the one-time cost per index
    graph_seconds = time.perf_counter() - started
    started = time.perf_counter()
    graph = kb.topic_graph(3)
    html = map_html(graph)
    map_seconds = time.perf_counter() - started
    return {
        "cards": len(kb.cards()),
        "links_per_card_min": min(counts),
        "links_per_card_max": max(counts),
        "share_with_reason": round(with_reason / total, 4) if total else 0.0,
        "reason_words": dict(sources.most_common()),
        "ms_per_card": round(1000 * seconds / len(kb.cards()), 2),
        "link_graph_build_s": round(graph_seconds, 2),
        "topic_map_s": round(map_seconds, 2),
        "topic_map_edges": len(graph.edges),
        "topic_map_kb": round(len(html) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="Folder for the corpora copies and indexes (kept).")
    args = parser.parse_args()
    from kb.embed import load_encoder

    encoder = load_encoder()
    pairs = load_pairs()
    tmp = None
    root = args.cache
    if root is None:
        tmp = tempfile.TemporaryDirectory(prefix="kb-eval-links-")
        root = Path(tmp.name)
    results: dict = {"k": K, "pairs": {s: sum(p["split"] == s for p in pairs) for s in ("dev", "test")}, "corpora": {}}
    try:
        for name, with_external in (("shipped", False), ("shipped+external", True)):
            if with_external and not EXTERNAL.is_dir():
                print(f"skipping {name}: {EXTERNAL} is absent")
                continue
            kb = open_corpus(root / name.replace("+", "_"), with_external, lambda: encoder)
            row: dict = {"stats": link_stats(kb)}
            for split in ("dev", "test", "all"):
                chosen = [p for p in pairs if split == "all" or p["split"] == split]
                for method in ("plain", "links"):
                    value, n, missed = recall(kb, chosen, method)
                    row[f"{split}_{method}_recall@{K}"] = round(value, 4)
                    row[f"{split}_pairs"] = n
                    if method == "links" and split != "all":
                        row[f"{split}_links_missed"] = [f"{p['a']} <-> {p['b']}" for p in missed]
            results["corpora"][name] = row
    finally:
        if tmp is not None:
            tmp.cleanup()

    print(f"recall@{K} of expert pairs (either direction); baseline = plain MiniLM neighbours, same run")
    print(f"{'corpus':<18} {'split':<5} {'pairs':>5} {'plain':>7} {'links':>7}")
    for name, row in results["corpora"].items():
        for split in ("dev", "test", "all"):
            print(f"{name:<18} {split:<5} {row[f'{split}_pairs']:>5} {row[f'{split}_plain_recall@{K}']:>7.3f} {row[f'{split}_links_recall@{K}']:>7.3f}")
        print(f"{'':<18} stats {json.dumps(row['stats'])}")
        for split in ("dev", "test"):
            for miss in row[f"{split}_links_missed"]:
                print(f"{'':<18} missed ({split}): {miss}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
