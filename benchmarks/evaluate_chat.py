"""The chat's three outcomes on the edge files, every corpus, vocabulary on and off, beside today's rule.

    python -m benchmarks.evaluate_chat                # dev lines (the default: tune on these)
    python -m benchmarks.evaluate_chat --split test   # the frozen test lines, only to report

Files: benchmarks/eval/chat/edge.<corpus>.jsonl (corpora shipped, external, added, george), written by a
helper who had not read the chat's code, frozen before tuning. Each line is one of
  on_topic   a question the notes answer, in fresh words (`expected`: the cards that answer it)
  near_miss  a question on a neighbouring subject the notes do not answer
  far        a question far from every card
Figures per corpus, split and vocabulary (`ml`, the default, and `none`):
  outcomes        the share of each kind that gets answer / closest / abstain
  answer_right    on-topic questions answered from an expected card
  search          R@1 / R@5 of kb's hybrid search on the on-topic questions
  p50 ms          one search, and one chat reply (warm, query vectors not cached)
`today` is the rule before the three outcomes (one floor on the top card's scores: answer or abstain),
measured in the same run. A run of one split keeps the other split's entries in the results file.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.calibrate_chat import CORPORA, sources  # noqa: E402
from benchmarks.eval_search import metrics  # noqa: E402
from benchmarks.evaluate import EVAL, VOCABS, Workspace, cold_p50_ms, read_jsonl, split_arguments, write_split_results  # noqa: E402
from kb import KnowledgeBase  # noqa: E402
from kb.coach.chat import SEARCH_K, about_unfamiliar_name, named_hit  # noqa: E402
from kb.retrieval.search import is_confident  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "chat_edge.json"
KINDS = ("on_topic", "near_miss", "far")


def today(kb: KnowledgeBase, question: str) -> tuple[str, str | None]:
    """The rule before the three outcomes, for one question: answer when the top card clears the
    corpus's floor (a stricter one when the question names something the notes never mention), or
    when the question names one card; abstain otherwise. Returns (outcome, card id)."""
    hits = kb.search(question, k=SEARCH_K)
    unfamiliar = kb.retriever.unfamiliar_terms(question)
    if hits and is_confident(hits, kb.retriever.coverage_floor()) and (not unfamiliar or about_unfamiliar_name(kb.retriever, hits, question, unfamiliar)):
        return "answer", hits[0].card.id
    named = None if unfamiliar or not hits else named_hit(kb.retriever, question, hits)
    return ("answer", named.card.id) if named is not None else ("abstain", None)


def now(kb: KnowledgeBase, question: str) -> tuple[str, str | None]:
    reply = kb.ask(question)
    return reply.outcome, reply.card.id if reply.card is not None else None


def rates(kb: KnowledgeBase, rows: list[dict], rule) -> dict:
    out: dict = {}
    for kind in KINDS:
        group = [r for r in rows if r["kind"] == kind]
        if not group:
            continue
        results = [rule(kb, r["question"]) for r in group]
        entry = {"n": len(group), **{o: round(sum(res[0] == o for res in results) / len(group), 3) for o in ("answer", "closest", "abstain")}}
        if kind == "on_topic":
            entry["answer_right"] = round(sum(res[0] == "answer" and res[1] in r["expected"] for res, r in zip(results, group, strict=True)) / len(group), 3)
        out[kind] = entry
    return out


def search_and_latency(kb: KnowledgeBase, rows: list[dict]) -> dict:
    on_topic = [r for r in rows if r["kind"] == "on_topic"]
    found = metrics([([h.card.id for h in kb.search(r["question"], k=5)], r["expected"]) for r in on_topic])
    questions = [r["question"] for r in rows]
    search_ms = cold_p50_ms(kb, lambda text: kb.search(text, k=5), questions)
    chat_ms = cold_p50_ms(kb, kb.ask, questions)
    return {"R@1": round(found["R@1"], 3), "R@5": round(found["R@5"], 3), "search_p50_ms": round(search_ms or 0.0, 1),
            "chat_p50_ms": round(chat_ms or 0.0, 1)}


def evaluate(workspace: Workspace, split: str) -> dict:
    report = {}
    for corpus in CORPORA:
        rows = [r for r in read_jsonl(EVAL / "chat" / f"edge.{corpus}.jsonl") if r["split"] == split]
        if not rows:
            continue
        for vocab in VOCABS:
            kb = workspace.open((corpus,), vocab)
            kb.ask("warm up")  # loads the encoder and the per-index caches outside the timings
            entry = {"now": rates(kb, rows, now), "today": rates(kb, rows, today), **search_and_latency(kb, rows)}
            report[f"{corpus}/{split}/{vocab}"] = entry
            print(one_line(f"{corpus}/{split}/{vocab}", entry), flush=True)
    return report


def one_line(key: str, entry: dict) -> str:
    def brief(rule: dict) -> str:
        on, near, far = rule.get("on_topic", {}), rule.get("near_miss", {}), rule.get("far", {})
        return (f"on-topic answered right {on.get('answer_right')} (closest {on.get('closest')}, abstain {on.get('abstain')}) · "
                f"near-miss answered {near.get('answer')} (closest {near.get('closest')}) · far abstain {far.get('abstain')}")

    return (f"{key:22} now: {brief(entry['now'])}\n{'':22} today: {brief(entry['today'])}\n"
            f"{'':22} search R@1 {entry['R@1']} R@5 {entry['R@5']} · p50 search {entry['search_p50_ms']} ms, chat {entry['chat_p50_ms']} ms")


def main() -> None:
    args = split_arguments(__doc__, RESULTS)
    started = time.perf_counter()
    report = evaluate(Workspace(args.work or Path(tempfile.mkdtemp(prefix="kb-evaluate-chat-")), sources()), args.split)
    write_split_results(args.out, args.split, report, time.perf_counter() - started)


if __name__ == "__main__":
    main()
